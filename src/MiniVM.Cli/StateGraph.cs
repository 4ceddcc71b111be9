using MiniVM.Block;
using MiniVM.Block.Irow;

namespace MiniVM.Cli;

/// <summary>
/// One node of the picture of an image's states: a backing layer, a snapshot (iROW keeps deleted ones as "_del"
/// records while a child needs them), or the current state.
/// </summary>
internal sealed class StateNode
{
    public required string Name { get; init; }
    public string? Id { get; init; }
    public DateTimeOffset? Date { get; init; }
    public long VmStateSize { get; init; }
    /// <summary>Bytes of guest data this state holds itself; null when the format does not keep it per state (qcow2 snapshots).</summary>
    public long? OwnedBytes { get; set; }
    public bool IsCurrent { get; init; }
    public bool IsDeleted { get; init; }
    /// <summary>A whole image of the backing chain (format in <see cref="Format"/>), not a state inside one.</summary>
    public bool IsLayer { get; init; }
    public string? Format { get; init; }
    /// <summary>The <see cref="MapOwners"/> numbers whose cells are this node's data (for colours and the explorer's highlight).</summary>
    public List<int> Owners { get; } = [];
    public List<StateNode> Children { get; } = [];
    /// <summary>
    /// The map cells holding clusters this state owns, as sorted cell numbers, when the format says per state (iROW's
    /// btmp bits); these include clusters a later state has since rewritten, which the current view no longer reads.
    /// </summary>
    public List<int>? OwnedCells { get; set; }
    public int Depth { get; set; }
}

/// <summary>
/// The states of an image and its backing chain as one tree: the bottom layer is the root, each layer above hangs
/// below the one it reads through, and the top layer's snapshots (iROW: every record of the meta file, irow.md §2.3,
/// with its father; other formats: their snapshot list, a tree when the format records parents) hang below the last
/// backing layer, with the current state marked.
/// </summary>
internal static class StateGraph
{
    public static List<StateNode> Of(IBlockDriver top, MapOwners owners, AllocationMap map, bool allowUnsafePaths)
    {
        var layers = ImageAccess.Layers(top);
        var roots = new List<StateNode>();
        List<StateNode> hangHere = roots;
        for (int depth = layers.Count - 1; depth >= 1; depth--)
        {
            var layer = layers[depth];
            var node = new StateNode
            {
                Name = Path.GetFileName(layer.FileName), IsLayer = true, Format = layer.FormatName, OwnedBytes = map.BytesAtDepth(depth),
            };
            node.Owners.AddRange(map.OwnersAtDepth(depth));
            hangHere.Add(node);
            hangHere = node.Children;
        }
        var topLayer = layers[0];
        if (topLayer.FormatName == "irow") AddIrowStates(hangHere, topLayer, owners, map, allowUnsafePaths);
        else if (topLayer is ISnapshotStore store) AddSnapshots(hangHere, store, map);
        else
        {
            var node = new StateNode
            {
                Name = Path.GetFileName(topLayer.FileName), IsLayer = true, IsCurrent = true, Format = topLayer.FormatName,
                OwnedBytes = map.BytesAtDepth(0),
            };
            node.Owners.AddRange(map.OwnersAtDepth(0));
            hangHere.Add(node);
        }
        SetDepths(roots);
        return roots;
    }

    /// <summary>Every record, deleted ones too; what a state owns is the count of its btmp bits (irow.md §2.5: one bit per cluster its irvd holds).</summary>
    private static void AddIrowStates(List<StateNode> into, IBlockDriver layer, MapOwners owners, AllocationMap map, bool allowUnsafePaths)
    {
        var tree = IrowMetaFile.Read(layer.FileName);
        long cluster = layer is IImageInfo { ClusterSize: > 0 } info ? info.ClusterSize : 1;
        long clusters = (layer.Size + cluster - 1) / cluster;
        var nodes = new StateNode[tree.Records.Count];
        for (int i = 0; i < nodes.Length; i++)
        {
            var r = tree.Records[i];
            bool current = i == tree.CurrentIndex;
            string irvd = ImagePaths.ResolveStoredName(layer.FileName, r.IrvdFile, allowUnsafePaths, "irvd file");
            string btmp = ImagePaths.ResolveStoredName(layer.FileName, r.BtmpFile, allowUnsafePaths, "btmp file");
            nodes[i] = new StateNode
            {
                Name = current ? "current state" : r.Name, Id = current ? null : r.Id, Date = r.Date, VmStateSize = r.VmStateSize,
                IsCurrent = current, IsDeleted = r.IsDeleted,
            };
            (long owned, nodes[i].OwnedCells) = OwnedClusters(btmp, clusters, cluster, map.CellBytes);
            nodes[i].OwnedBytes = owned * cluster;
            nodes[i].Owners.Add(owners.IndexOf(0, irvd));
        }
        for (int i = 0; i < nodes.Length; i++)
        {
            int father = tree.Records[i].IsRoot ? -1 : tree.IndexOfBtmp(tree.Records[i].FatherBtmpFile);
            (father >= 0 && father != i ? nodes[father].Children : into).Add(nodes[i]);
        }
    }

    /// <summary>The set bits of a btmp file, and the map cells they fall in; only pages with a set bit are visited.</summary>
    private static (long Clusters, List<int> Cells) OwnedClusters(string btmp, long clusters, long cluster, long cellBytes)
    {
        var bitmap = new IrowBitmap(clusters);
        using (var handle = File.OpenHandle(btmp)) bitmap.LoadAll(handle, btmp);
        var cells = new List<int>();
        long count = 0;
        bitmap.ForEachNonZeroPage((first, bytes) =>
        {
            var span = bytes.Span;
            for (int i = 0; i < span.Length; i++)
            {
                if (span[i] == 0) continue;
                for (int b = 0; b < 8; b++)
                {
                    long c = first + i * 8L + b;
                    if ((span[i] & (1 << b)) == 0 || c >= clusters) continue;
                    count++;
                    int cell = (int)(c * cluster / cellBytes);
                    if (cells.Count == 0 || cells[^1] != cell) cells.Add(cell);
                }
            }
        });
        return (count, cells);
    }

    /// <summary>
    /// Formats whose snapshots share clusters by reference count (qcow2) keep no owner per snapshot: their snapshots
    /// show date and VM state, and the current state owns the top layer's data of the view.
    /// </summary>
    private static void AddSnapshots(List<StateNode> into, ISnapshotStore store, AllocationMap map)
    {
        var snapshots = store.ListSnapshots();
        var tree = SnapshotTree.Build(snapshots, null);
        var stack = new Stack<(SnapshotTree.Node Node, List<StateNode> Into)>();
        for (int i = tree.Roots.Count - 1; i >= 0; i--) stack.Push((tree.Roots[i], into));
        while (stack.Count > 0)
        {
            var (n, list) = stack.Pop();
            StateNode node;
            if (n.Snapshot is { } s)
                node = new StateNode { Name = s.Name, Id = s.Id, Date = s.Date, VmStateSize = s.VmStateSize };
            else
            {
                node = new StateNode { Name = "current state", IsCurrent = true, OwnedBytes = map.BytesAtDepth(0) };
                node.Owners.AddRange(map.OwnersAtDepth(0));
            }
            list.Add(node);
            for (int i = n.Children.Count - 1; i >= 0; i--) stack.Push((n.Children[i], node.Children));
        }
    }

    private static void SetDepths(List<StateNode> roots)
    {
        var stack = new Stack<(StateNode, int)>();
        foreach (var r in roots) stack.Push((r, 0));
        while (stack.Count > 0)
        {
            var (n, d) = stack.Pop();
            n.Depth = d;
            foreach (var c in n.Children) stack.Push((c, d + 1));
        }
    }

    /// <summary>Depth-first, children in order: the rows of the tree picture and the explorer's list.</summary>
    public static List<StateNode> Flatten(List<StateNode> roots)
    {
        var rows = new List<StateNode>();
        var stack = new Stack<StateNode>();
        for (int i = roots.Count - 1; i >= 0; i--) stack.Push(roots[i]);
        while (stack.Count > 0)
        {
            var n = stack.Pop();
            rows.Add(n);
            for (int i = n.Children.Count - 1; i >= 0; i--) stack.Push(n.Children[i]);
        }
        return rows;
    }
}
