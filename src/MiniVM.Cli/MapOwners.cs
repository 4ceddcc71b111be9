using MiniVM.Block;
using MiniVM.Block.Irow;

namespace MiniVM.Cli;

/// <summary>
/// Who holds a run of data, as the map picture's legend names it: for iROW the state (snapshot or current state)
/// whose irvd file holds the cluster (irow.md §5.4: the owner map resolves a cluster to the state that wrote it),
/// for every other layer of a backing chain the layer and its file. Owners are numbered in a stable order —
/// bottom layer first, and inside an iROW layer from the root state up to the current one — so the same clusters keep
/// their colour from one picture to the next while snapshots are taken. An iROW state's colour follows its record's
/// place in the meta file (the order states were made), not its depth in the chain, so two branches from the same
/// snapshot get different colours and a state keeps its colour when it stops being the current one.
/// </summary>
internal sealed class MapOwners
{
    private readonly List<string> _labels = [];
    private readonly List<int> _colours = [];
    private readonly Dictionary<(int Depth, string File), int> _index = [];
    /// <summary>The first colour number not yet given to a layer.</summary>
    private int _nextColour;

    public IReadOnlyList<string> Labels => _labels;

    /// <summary>The colour number (<see cref="MapPicture.OwnerColour"/>) of owner <paramref name="owner"/>.</summary>
    public int ColourOf(int owner) => _colours[owner];

    public static MapOwners Of(IBlockDriver top, bool allowUnsafePaths)
    {
        var owners = new MapOwners();
        var layers = ImageAccess.Layers(top);
        for (int depth = layers.Count - 1; depth >= 0; depth--)
        {
            var layer = layers[depth];
            string prefix = depth == 0 ? "" : $"backing {depth}: ";
            if (layer.FormatName == "irow") owners.AddIrowStates(layer, depth, prefix, allowUnsafePaths);
            else owners.Add(depth, layer.FileName, prefix + Path.GetFileName(layer.FileName));
        }
        return owners;
    }

    /// <summary>The owner number of data in <paramref name="file"/> at chain depth <paramref name="depth"/>; an unknown file gets a new one.</summary>
    public int IndexOf(int depth, string? file)
    {
        file ??= "";
        if (_index.TryGetValue((depth, file), out int i)) return i;
        string prefix = depth == 0 ? "" : $"backing {depth}: ";
        return Add(depth, file, prefix + (file.Length == 0 ? "(unnamed)" : Path.GetFileName(file)));
    }

    private int Add(int depth, string file, string label, int? colour = null)
    {
        if (_index.TryGetValue((depth, file), out int i)) return i;
        _labels.Add(label);
        _colours.Add(colour ?? _nextColour++);
        _index[(depth, file)] = _labels.Count - 1;
        return _labels.Count - 1;
    }

    /// <summary>
    /// The states the current view reads through, root first. The image is already open, so its meta file was valid a
    /// moment ago; reading it again here is only for the names (IrowImage exposes the owning irvd in block status).
    /// </summary>
    private void AddIrowStates(IBlockDriver layer, int depth, string prefix, bool allowUnsafePaths)
    {
        var tree = IrowMetaFile.Read(layer.FileName);
        var chain = tree.AncestorsOfCurrent();
        var onPath = new HashSet<int>(chain);
        // States off the current path own nothing this view reads; numbered first (the current state stays last) so
        // the snapshot-tree picture and the explorer page can name and colour every state as the map does.
        for (int i = 0; i < tree.Records.Count; i++)
        {
            if (i == tree.CurrentIndex || onPath.Contains(i)) continue;
            var r = tree.Records[i];
            string file = ImagePaths.ResolveStoredName(layer.FileName, r.IrvdFile, allowUnsafePaths, "irvd file");
            Add(depth, file, prefix + (r.IsDeleted ? $"{r.Name} (deleted, id {r.Id})" : $"{r.Name} (id {r.Id})"), _nextColour + i);
        }
        for (int k = chain.Count - 1; k >= -1; k--)
        {
            var r = k < 0 ? tree.Current : tree.Records[chain[k]];
            string irvd = ImagePaths.ResolveStoredName(layer.FileName, r.IrvdFile, allowUnsafePaths, "irvd file");
            string label = k < 0 ? "current state"
                : r.IsDeleted ? "deleted state (kept for its children)"
                : $"{r.Name} (id {r.Id})";
            Add(depth, irvd, prefix + label, _nextColour + (k < 0 ? tree.CurrentIndex : chain[k]));
        }
        _nextColour += tree.Records.Count;
    }
}
