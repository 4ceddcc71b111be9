namespace MiniVM.Block.Tests;

/// <summary>
/// What code outside the block layer may ask an image instead of its format's name: the snapshot tree
/// (<see cref="ISnapshotTree"/>), who owns each extent (<see cref="IExtentOwners"/>), and the format name itself.
/// </summary>
public class CapabilityTests
{
    private const int Cluster = 64 * 1024;

    public static TheoryData<string> Formats => new() { "raw", "qcow2", "irow", "add-cow", "fvd" };

    private static IBlockDriver Create(TempDir dir, string format, long size)
    {
        var options = new ImageCreateOptions();
        if (format == "add-cow")
        {
            ImageFormats.Default.Create("raw", dir.File("base.raw"), size, new ImageCreateOptions()).Dispose();
            (options.BackingFile, options.BackingFormat) = ("base.raw", "raw");
        }
        return ImageFormats.Default.Create(format, dir.File("disk." + format), size, options);
    }

    private static byte[] Fill(int length, byte value)
    {
        var b = new byte[length];
        Array.Fill(b, value);
        return b;
    }

    /// <summary>Every data extent of the image, walked with block status.</summary>
    private static List<Extent> DataExtents(IBlockDriver d)
    {
        var list = new List<Extent>();
        for (long off = 0; off < d.Size;)
        {
            var e = d.GetBlockStatus(off, d.Size - off);
            if (e.Kind == ExtentKind.Data) list.Add(e);
            off += e.Length;
        }
        return list;
    }

    [Theory, MemberData(nameof(Formats))]
    public void The_driver_names_its_registry_format(string format)
    {
        using var dir = new TempDir();
        string name, file;
        using (var d = Create(dir, format, 1 << 20)) (name, file) = (d.FormatName, d.FileName);
        Assert.Equal(format, name);
        Assert.Same(ImageFormats.Default.Get(name), ImageFormats.Default.Probe(file));
    }

    [Theory, MemberData(nameof(Formats))]
    public void Every_data_extent_names_a_file_one_of_the_owners_holds(string format)
    {
        using var dir = new TempDir();
        using var d = Create(dir, format, 1 << 20);
        d.Write(0, Fill(Cluster, 1));
        d.Write(5 * Cluster, Fill(2 * Cluster, 2));
        var owners = Assert.IsAssignableFrom<IExtentOwners>(d).ExtentOwners;
        var files = owners.Select(o => o.File).ToHashSet();
        var data = DataExtents(d);
        Assert.Contains(data, e => e.Offset == 0);
        Assert.Contains(data, e => e.Offset <= 5 * Cluster && e.Offset + e.Length > 5 * Cluster);
        foreach (var e in data) Assert.Contains(e.File!, files);
        Assert.All(owners, o => Assert.True(File.Exists(o.File), o.File));
        Assert.All(owners, o => Assert.False(string.IsNullOrWhiteSpace(o.Label)));
    }

    [Fact]
    public void Irow_owners_are_its_states_in_the_order_they_were_made_and_keep_their_place_across_branches()
    {
        using var dir = new TempDir();
        using var d = Create(dir, "irow", 1 << 20);
        var snapshots = Assert.IsAssignableFrom<ISnapshotStore>(d);
        var owners = Assert.IsAssignableFrom<IExtentOwners>(d);
        d.Write(0, Fill(Cluster, 1));
        var one = snapshots.CreateSnapshot("one");
        d.Write(Cluster, Fill(Cluster, 2));
        Assert.Equal(["one (id " + one.Id + ")", "current state"], owners.ExtentOwners.Select(o => o.Label));

        // Cluster 0 is owned by "one", cluster 1 by the current state.
        var list = owners.ExtentOwners;
        Assert.Equal(list[0].File, d.GetBlockStatus(0, Cluster).File);
        Assert.Equal(list[1].File, d.GetBlockStatus(Cluster, Cluster).File);

        var two = snapshots.CreateSnapshot("two");
        snapshots.RevertToSnapshot("one");
        d.Write(2 * Cluster, Fill(Cluster, 3));
        var after = owners.ExtentOwners;
        // "one" is still first with the same file; the branch's new current state comes after "two".
        Assert.Equal(list[0], after[0]);
        Assert.Equal(["one (id " + one.Id + ")", "two (id " + two.Id + ")"], after.Take(2).Select(o => o.Label));
        Assert.Equal("current state", after[^1].Label);
        Assert.Equal(after[0].File, d.GetBlockStatus(0, Cluster).File);
        Assert.Equal(after[^1].File, d.GetBlockStatus(2 * Cluster, Cluster).File);
        // Cluster 1 was written after "one" on the other branch: here it is unallocated again.
        Assert.Equal(ExtentKind.Unallocated, d.GetBlockStatus(Cluster, Cluster).Kind);
    }

    [Fact]
    public void Irow_snapshots_form_a_tree_with_the_current_state_below_the_snapshot_it_came_from()
    {
        using var dir = new TempDir();
        using var d = Create(dir, "irow", 1 << 20);
        var tree = Assert.IsAssignableFrom<ISnapshotTree>(d);
        Assert.Null(tree.CurrentParentId);
        var a = tree.CreateSnapshot("a");
        Assert.Equal(a.Id, tree.CurrentParentId);
        var b = tree.CreateSnapshot("b");
        tree.RevertToSnapshot("a");
        Assert.Equal(a.Id, tree.CurrentParentId);
        var c = tree.CreateSnapshot("c");
        var byName = tree.ListSnapshots().ToDictionary(s => s.Name);
        Assert.Null(byName["a"].ParentId);
        Assert.Equal(a.Id, byName["b"].ParentId);
        Assert.Equal(a.Id, byName["c"].ParentId); // a branch: b and c are siblings
        Assert.Equal(c.Id, tree.CurrentParentId);
        tree.RevertToSnapshot("b");
        Assert.Equal(b.Id, tree.CurrentParentId);
    }

    [Fact]
    public void Irow_history_keeps_a_deleted_father_and_names_the_clusters_each_state_holds_itself()
    {
        using var dir = new TempDir();
        using var d = Create(dir, "irow", 1 << 20);
        var history = Assert.IsAssignableFrom<IStateHistory>(d);
        d.Write(0, Fill(Cluster, 1));
        ((ISnapshotTree)d).CreateSnapshot("base");
        d.Write(Cluster, Fill(Cluster, 2));
        ((ISnapshotTree)d).CreateSnapshot("child");
        ((ISnapshotTree)d).RevertToSnapshot("base");
        ((ISnapshotTree)d).CreateSnapshot("sibling");
        ((ISnapshotTree)d).RevertToSnapshot("child");
        d.Write(0, Fill(Cluster, 3)); // cluster 0 rewritten: base still holds its own copy
        // Two children still read through it, so base is kept as a deleted record (irow.md §2.3), not merged.
        ((ISnapshotTree)d).DeleteSnapshot("base");

        var states = history.States;
        Assert.Equal(history.ExtentOwners.Count, states.Count);
        int baseAt = states.ToList().FindIndex(s => s.IsDeleted);
        int childAt = states.ToList().FindIndex(s => s.Name == "child");
        int currentAt = states.ToList().FindIndex(s => s.IsCurrent);
        Assert.True(baseAt >= 0 && childAt >= 0 && currentAt >= 0);
        Assert.Equal(-1, states[baseAt].Parent);
        Assert.Equal(baseAt, states[childAt].Parent);
        Assert.Equal(childAt, states[currentAt].Parent);
        Assert.Null(states[currentAt].Id);

        List<long> Owned(int state) { var l = new List<long>(); history.VisitOwnedClusters(state, l.Add); return l; }
        Assert.Equal([0L], Owned(baseAt));
        Assert.Equal([1L], Owned(childAt));
        Assert.Equal([0L], Owned(currentAt)); // not yet flushed to the btmp, still counted
    }

    [Fact]
    public void Qcow2_lists_its_snapshots_without_a_tree_because_the_format_records_no_parents()
    {
        using var dir = new TempDir();
        using var d = Create(dir, "qcow2", 1 << 20);
        var store = Assert.IsAssignableFrom<ISnapshotStore>(d);
        store.CreateSnapshot("a");
        store.CreateSnapshot("b");
        store.RevertToSnapshot("a");
        store.CreateSnapshot("c");
        // qcow2's snapshot table has no parent field (qcow2.txt "Snapshot table"), so nothing may claim one:
        // a tree drawn from it would be invented.
        Assert.IsNotAssignableFrom<ISnapshotTree>(d);
        Assert.Equal(["a", "b", "c"], store.ListSnapshots().Select(s => s.Name));
        Assert.All(store.ListSnapshots(), s => Assert.Null(s.ParentId));
    }
}
