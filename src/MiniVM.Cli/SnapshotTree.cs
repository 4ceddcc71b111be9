using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using MiniVM.Block;

namespace MiniVM.Cli;

/// <summary>
/// The snapshots of a format with a tree (iROW: every state has a father, irow.md §2.3) as `img info` draws it:
/// roots at the left, children below their parent in list order, and "(current)" under the snapshot the current
/// state was taken from or reverted to.
/// </summary>
internal sealed class SnapshotTree
{
    public sealed record Node(SnapshotInfo? Snapshot, List<Node> Children)
    {
        public bool IsCurrent => Snapshot is null;
        public string Label => Snapshot is null ? "(current)" : $"{Snapshot.Name} (id {Snapshot.Id})";
    }

    public IReadOnlyList<Node> Roots { get; }

    private SnapshotTree(List<Node> roots) => Roots = roots;

    /// <summary>
    /// Links every snapshot to its parent; a parent id that names no listed snapshot makes a root, so a damaged tree
    /// still prints every snapshot once.
    /// </summary>
    public static SnapshotTree Build(IReadOnlyList<SnapshotInfo> snapshots, string? currentParentId)
    {
        var nodes = new Dictionary<string, Node>(StringComparer.Ordinal);
        var order = new List<Node>();
        foreach (var s in snapshots)
        {
            var n = new Node(s, []);
            if (nodes.TryAdd(s.Id, n)) order.Add(n);
        }
        var roots = new List<Node>();
        foreach (var n in order)
        {
            var parentId = n.Snapshot!.ParentId;
            if (parentId is not null && parentId != n.Snapshot.Id && nodes.TryGetValue(parentId, out var p) && !IsBelow(p, n, nodes))
                p.Children.Add(n);
            else roots.Add(n);
        }
        var current = new Node(null, []);
        if (currentParentId is not null && nodes.TryGetValue(currentParentId, out var cp)) cp.Children.Add(current);
        else roots.Add(current);
        return new SnapshotTree(roots);
    }

    /// <summary>True when <paramref name="candidate"/> already hangs below <paramref name="node"/> (a parent cycle).</summary>
    private static bool IsBelow(Node candidate, Node node, Dictionary<string, Node> nodes)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var s = candidate.Snapshot; s is not null && seen.Add(s.Id);)
        {
            if (s.Id == node.Snapshot!.Id) return true;
            s = s.ParentId is not null && nodes.TryGetValue(s.ParentId, out var p) ? p.Snapshot : null;
        }
        return false;
    }

    /// <summary>Box-drawing lines, e.g. "base (id 1)", "└── s1 (id 2)", "    ├── s2 (id 3)".</summary>
    public void WriteHuman(TextWriter o)
    {
        // Iterative, so a 1024-deep chain of snapshots cannot exhaust the stack.
        var stack = new Stack<(Node Node, string Prefix, string Branch)>();
        for (int i = Roots.Count - 1; i >= 0; i--) stack.Push((Roots[i], "", ""));
        while (stack.Count > 0)
        {
            var (node, prefix, branch) = stack.Pop();
            o.WriteLine(prefix + branch + node.Label);
            string childPrefix = prefix + (branch == "" ? "" : branch == "└── " ? "    " : "│   ");
            for (int i = node.Children.Count - 1; i >= 0; i--)
                stack.Push((node.Children[i], childPrefix, i == node.Children.Count - 1 ? "└── " : "├── "));
        }
    }

    /// <summary>
    /// Nested objects: {"id", "name", "current": false, "children": [...]}, and {"name": "(current)", "current": true,
    /// "children": []}. Written as raw JSON because a deep tree nests further than the shared writer's depth limit.
    /// </summary>
    public void WriteJson(Utf8JsonWriter w, string propertyName)
    {
        using var stream = new MemoryStream();
        using (var t = new Utf8JsonWriter(stream, new JsonWriterOptions
               {
                   Indented = false, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, MaxDepth = 8 * 1024,
               }))
        {
            t.WriteStartArray();
            foreach (var r in Roots) WriteNode(t, r);
            t.WriteEndArray();
        }
        w.WritePropertyName(propertyName);
        w.WriteRawValue(Encoding.UTF8.GetString(stream.GetBuffer(), 0, (int)stream.Length), skipInputValidation: true);
    }

    private static void WriteNode(Utf8JsonWriter t, Node root)
    {
        // Iterative depth-first walk; a pending close is a null entry.
        var stack = new Stack<Node?>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            var n = stack.Pop();
            if (n is null)
            {
                t.WriteEndArray();
                t.WriteEndObject();
                continue;
            }
            t.WriteStartObject();
            if (n.Snapshot is not null) t.WriteString("id", n.Snapshot.Id);
            t.WriteString("name", n.Snapshot?.Name ?? "(current)");
            t.WriteBoolean("current", n.IsCurrent);
            t.WriteStartArray("children");
            stack.Push(null);
            for (int i = n.Children.Count - 1; i >= 0; i--) stack.Push(n.Children[i]);
        }
    }
}
