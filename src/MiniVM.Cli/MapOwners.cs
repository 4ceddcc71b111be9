using MiniVM.Block;

namespace MiniVM.Cli;

/// <summary>
/// Who holds a run of data, as the map picture's legend names it: each layer of a backing chain says who owns its data
/// (<see cref="IExtentOwners"/>: for iROW the state — snapshot or current state — whose irvd file holds the cluster,
/// irow.md §5.4; for the other formats the file that holds the data). Owners are numbered in a stable order — bottom
/// layer first, and inside a layer in the order the layer gives (the current state last) (iROW: the order its states were made) — so the same
/// clusters keep their colour from one picture to the next while snapshots are taken, two branches from the same
/// snapshot get different colours, and a state keeps its colour when it stops being the current one.
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

    public static MapOwners Of(IBlockDriver top)
    {
        var owners = new MapOwners();
        var layers = ImageAccess.Layers(top);
        for (int depth = layers.Count - 1; depth >= 0; depth--)
        {
            var layer = layers[depth];
            string prefix = depth == 0 ? "" : $"backing {depth}: ";
            var listed = layer is IExtentOwners o ? o.ExtentOwners : [new ExtentOwner(layer.FileName, Path.GetFileName(layer.FileName))];
            // The state writes go to is numbered last (the map calls its data "this state"); colours stay by the
            // layer's own order, so a state keeps its colour when it stops being the current one.
            int current = layer is IStateHistory h ? IndexOfCurrent(h.States) : -1;
            for (int i = 0; i < listed.Count; i++)
                if (i != current) owners.Add(depth, listed[i].File, prefix + listed[i].Label, owners._nextColour + i);
            if (current >= 0) owners.Add(depth, listed[current].File, prefix + listed[current].Label, owners._nextColour + current);
            owners._nextColour += listed.Count;
        }
        return owners;
    }

    private static int IndexOfCurrent(IReadOnlyList<ImageState> states)
    {
        for (int i = 0; i < states.Count; i++) if (states[i].IsCurrent) return i;
        return -1;
    }

    /// <summary>The owner number of data in <paramref name="file"/> at chain depth <paramref name="depth"/>; an unknown file gets a new one.</summary>
    public int IndexOf(int depth, string? file)
    {
        file ??= "";
        if (_index.TryGetValue((depth, file), out int i)) return i;
        string prefix = depth == 0 ? "" : $"backing {depth}: ";
        return Add(depth, file, prefix + (file.Length == 0 ? "(unnamed)" : Path.GetFileName(file)), _nextColour++);
    }

    /// <summary>A colour number no owner has, for a state whose data is not in the map (a qcow2 snapshot).</summary>
    public int NewColour() => _nextColour++;

    private int Add(int depth, string file, string label, int colour)
    {
        if (_index.TryGetValue((depth, file), out int i)) return i;
        _labels.Add(label);
        _colours.Add(colour);
        _index[(depth, file)] = _labels.Count - 1;
        return _labels.Count - 1;
    }
}
