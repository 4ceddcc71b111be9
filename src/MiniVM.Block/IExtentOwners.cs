namespace MiniVM.Block;

/// <summary>
/// Capability: who holds the data of this layer, so a map can name and colour every extent without knowing the format.
/// Each <see cref="ExtentKind.Data"/> extent of the layer's block status names one owner's <see cref="ExtentOwner.File"/>.
/// </summary>
public interface IExtentOwners
{
    /// <summary>
    /// Every owner the layer has, in an order that stays stable while the image changes (iROW: its states in the order
    /// they were made, so a state keeps its place when snapshots are taken, reverted to or branched from). Owners that
    /// hold nothing the current view reads (iROW states on other branches) are listed too.
    /// </summary>
    IReadOnlyList<ExtentOwner> ExtentOwners { get; }
}

/// <param name="File">The host file a data extent of this owner names (<see cref="Extent.File"/>).</param>
/// <param name="Label">What a user calls the owner: "current state", "base (id 1)", or the file's name.</param>
public sealed record ExtentOwner(string File, string Label);
