using MiniVM.Block;

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
    /// <summary>Bytes of guest data this state holds itself; null when the format does not say it per state.</summary>
    public long? OwnedBytes { get; set; }
    /// <summary>
    /// Of <see cref="OwnedBytes"/>, the host bytes no other state references (qcow2: refcount 1), what deleting the
    /// snapshot would free; null when the format does not tell it apart.
    /// </summary>
    public long? ExclusiveBytes { get; set; }
    /// <summary>The colour number (<see cref="MapPicture.OwnerColour"/>) of a state whose data is not one of the map's owners (a qcow2 snapshot).</summary>
    public int? OwnColour { get; set; }
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

    /// <summary>The colour number of this state's cells, null when it has none.</summary>
    public int? ColourIn(MapOwners owners) => Owners.Count > 0 ? owners.ColourOf(Owners[0]) : OwnColour;
}

/// <summary>
/// The states of an image and its backing chain as one tree: the bottom layer is the root, each layer above hangs
/// below the one it reads through, and the top layer's snapshots (<see cref="IStateHistory"/>, e.g. every record of an iROW meta file,
/// irow.md §2.3, with its father; other formats: their snapshot list, a tree when the format records parents) hang below the last
/// backing layer, with the current state marked.
/// </summary>
internal static class StateGraph
{
    public static List<StateNode> Of(IBlockDriver top, MapOwners owners, AllocationMap map)
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
        if (topLayer is IStateHistory history) AddStates(hangHere, history, owners, map);
        else if (topLayer is ISnapshotStore store) AddSnapshots(hangHere, store, owners, map);
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

    /// <summary>Every state the format keeps, deleted ones too, each with the clusters it holds itself.</summary>
    private static void AddStates(List<StateNode> into, IStateHistory layer, MapOwners owners, AllocationMap map)
    {
        var states = layer.States;
        var files = layer.ExtentOwners;
        long cluster = layer is IImageInfo { ClusterSize: > 0 } info ? info.ClusterSize : 1;
        var nodes = new StateNode[states.Count];
        for (int i = 0; i < nodes.Length; i++)
        {
            var s = states[i];
            nodes[i] = new StateNode
            {
                Name = s.Name, Id = s.Id, Date = s.Date, VmStateSize = s.VmStateSize, IsCurrent = s.IsCurrent, IsDeleted = s.IsDeleted,
            };
            var cells = new List<int>();
            long count = 0;
            layer.VisitOwnedClusters(i, c =>
            {
                count++;
                int cell = (int)(c * cluster / map.CellBytes);
                if (cells.Count == 0 || cells[^1] != cell) cells.Add(cell);
            });
            nodes[i].OwnedCells = cells;
            nodes[i].OwnedBytes = count * cluster;
            nodes[i].Owners.Add(owners.IndexOf(0, files[i].File));
        }
        for (int i = 0; i < nodes.Length; i++)
            (states[i].Parent >= 0 ? nodes[states[i].Parent].Children : into).Add(nodes[i]);
    }

    /// <summary>
    /// Formats whose snapshots share clusters by reference count (qcow2): their snapshots with date and VM state and,
    /// when the format can tell (<see cref="ISnapshotOwnership"/>), the clusters each holds that the current view no
    /// longer reads; the current state owns the top layer's data of the view.
    /// </summary>
    private static void AddSnapshots(List<StateNode> into, ISnapshotStore store, MapOwners owners, AllocationMap map)
    {
        var snapshots = store.ListSnapshots();
        var tree = SnapshotTree.Build(snapshots, null);
        long cluster = store is IImageInfo { ClusterSize: > 0 } info ? info.ClusterSize : 1;
        var stack = new Stack<(SnapshotTree.Node Node, List<StateNode> Into)>();
        for (int i = tree.Roots.Count - 1; i >= 0; i--) stack.Push((tree.Roots[i], into));
        while (stack.Count > 0)
        {
            var (n, list) = stack.Pop();
            StateNode node;
            if (n.Snapshot is { } s)
            {
                node = new StateNode { Name = s.Name, Id = s.Id, Date = s.Date, VmStateSize = s.VmStateSize };
                if (store is ISnapshotOwnership ownership)
                {
                    var cells = new List<int>();
                    var owned = ownership.VisitOwnedClusters(s.Id, c =>
                    {
                        long cell = c * cluster / map.CellBytes;
                        if (cell < map.CellCount && (cells.Count == 0 || cells[^1] != cell)) cells.Add((int)cell);
                    });
                    node.OwnedCells = cells;
                    node.OwnedBytes = owned.Clusters * cluster;
                    node.ExclusiveBytes = owned.ExclusiveBytes;
                    node.OwnColour = owners.NewColour();
                }
            }
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
