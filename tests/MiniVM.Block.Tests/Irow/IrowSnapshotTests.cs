using MiniVM.Block.Irow;

namespace MiniVM.Block.Tests.Irow;

public class IrowSnapshotTests
{
    private static IrowImage NewImage(TempDir dir, long size, int clusterBits = 16) =>
        IrowImage.Create(dir.File("d.irow"), size, new IrowCreateParameters(ClusterBits: clusterBits), new ImageOpenContext());

    private static byte[] Fill(int length, byte value)
    {
        var b = new byte[length];
        Array.Fill(b, value);
        return b;
    }

    private static byte[] ReadAll(IBlockDriver img)
    {
        var b = new byte[img.Size];
        img.Read(0, b);
        return b;
    }

    /// <summary>
    /// savevm under the name of the current state's parent (delete, then create): the parent holds the disk and the
    /// current state a little, so the little is copied into the parent's files (merge-up) and the parent's irvd
    /// becomes the current state's, instead of the whole disk being copied into the current state's irvd; with
    /// nothing in the current state, it takes the parent's files as they are. Every state reads as before, after a
    /// reopen too, and check finds nothing.
    /// </summary>
    [Fact]
    public void Replacing_the_current_states_parent_moves_only_what_the_current_state_holds()
    {
        using var dir = new TempDir();
        const int MiB = 1 << 20;
        var expected = new byte[16 * MiB];
        using (var img = NewImage(dir, 16 * MiB))
        {
            img.Write(0, Fill(8 * MiB, 0xA1));
            Fill(8 * MiB, 0xA1).CopyTo(expected, 0);
            img.CreateSnapshot("s");
            for (int round = 0; round < 3; round++)
            {
                string parentIrvd = img.Files.Single(f => f.EndsWith(".irvd") && HostFile.AllocatedBytes(f) >= 8 * MiB);
                if (round < 2)
                {
                    img.Write((1 + round) * MiB, Fill(64 * 1024, (byte)(0xB0 + round))); // round 2: the current state is empty
                    Fill(64 * 1024, (byte)(0xB0 + round)).CopyTo(expected, (1 + round) * MiB);
                }
                img.DeleteForReplace("s");
                Assert.Contains(parentIrvd, img.Files); // the parent's data stayed where it was
                Assert.Equal(expected, ReadAll(img));
                // savevm's VM state overwrites the old one in place: a shorter one must not keep the old one's tail.
                var vmState = Fill((3 - round) * 100_000 + 7, (byte)(0xD0 + round));
                img.CreateSnapshot("s", 1, s => s.Write(vmState));
                Assert.Equal("s", Assert.Single(img.ListSnapshots()).Name);
                using (var saved = img.OpenVmState("s"))
                {
                    var back = new MemoryStream();
                    saved.CopyTo(back);
                    Assert.Equal(vmState, back.ToArray());
                }
                Assert.Equal(5, img.Files.Count); // meta, the snapshot's btmp + irvd, the current state's
                Assert.True(img.Check().IsClean, string.Join("; ", img.Check().Messages));
            }
        }
        using var again = (IrowImage)ImageFormats.Default.Open(dir.File("d.irow"));
        Assert.Equal(expected, ReadAll(again));
        again.RevertToSnapshot("s");
        Assert.Equal(expected, ReadAll(again));
        Assert.True(again.Check().IsClean);
    }

    [Fact]
    public void A_revert_with_nothing_written_since_keeps_the_current_states_files_and_reads_the_target()
    {
        // loadvm right after savevm or loadvm: the current state is empty, so the revert is one meta commit.
        using var dir = new TempDir();
        const int MiB = 1 << 20;
        using (var img = NewImage(dir, 4 * MiB))
        {
            img.Write(0, Fill(MiB, 0xA1));
            img.CreateSnapshot("one");
            img.Write(0, Fill(MiB, 0xB2));
            img.CreateSnapshot("two");
            var files = img.Files.ToHashSet();
            img.RevertToSnapshot("one");
            Assert.Equal(files, img.Files.ToHashSet());
            Assert.Equal(Fill(MiB, 0xA1), ReadAll(img)[..MiB]);
            img.RevertToSnapshot("two");
            Assert.Equal(files, img.Files.ToHashSet());
            Assert.Equal(Fill(MiB, 0xB2), ReadAll(img)[..MiB]);
            img.Write(2 * MiB, Fill(MiB, 0xC3));
            img.RevertToSnapshot("one"); // the current state held data: it moves to new files
            Assert.Equal(Fill(MiB, 0xA1), ReadAll(img)[..MiB]);
            Assert.All(ReadAll(img)[(2 * MiB)..(3 * MiB)], b => Assert.Equal(0, b));
            img.DeleteSnapshot("two");
            Assert.True(img.Check().IsClean, string.Join("; ", img.Check().Messages));
        }
        using var again = (IrowImage)ImageFormats.Default.Open(dir.File("d.irow"));
        Assert.Equal(Fill(MiB, 0xA1), ReadAll(again)[..MiB]);
        Assert.Equal("one", Assert.Single(again.ListSnapshots()).Name);
        Assert.True(again.Check().IsClean);
    }

    [Fact]
    public void Round_trip_snapshot_write_revert_then_delete_shrinks_disk_usage()
    {
        using var dir = new TempDir();
        const int MiB = 1 << 20;
        using var img = NewImage(dir, 16 * MiB);
        img.Write(0, Fill(4 * MiB, 0xA1));
        img.CreateSnapshot("one");
        img.Write(0, Fill(4 * MiB, 0xB2));
        img.Write(8 * MiB, Fill(MiB, 0xB3));
        img.CreateSnapshot("two");
        img.Write(0, Fill(4 * MiB, 0xC4));
        img.Flush();
        Assert.Equal(Fill(4 * MiB, 0xC4), ReadAll(img)[..(4 * MiB)]);

        img.RevertToSnapshot("one");
        var all = ReadAll(img);
        Assert.Equal(Fill(4 * MiB, 0xA1), all[..(4 * MiB)]);
        Assert.All(all[(8 * MiB)..(9 * MiB)], b => Assert.Equal(0, b));

        img.RevertToSnapshot("two");
        all = ReadAll(img);
        Assert.Equal(Fill(4 * MiB, 0xB2), all[..(4 * MiB)]);
        Assert.Equal(Fill(MiB, 0xB3), all[(8 * MiB)..(9 * MiB)]);

        long before = img.DiskUsage;
        img.DeleteSnapshot("one"); // merged into "two": its 4 MiB are shadowed there, so they go away
        long afterOne = img.DiskUsage;
        Assert.True(afterOne <= before - 4 * MiB, $"usage {before} -> {afterOne}");
        Assert.Equal(Fill(4 * MiB, 0xB2), ReadAll(img)[..(4 * MiB)]);
        img.DeleteSnapshot("two"); // merged into the current state
        Assert.Empty(img.ListSnapshots());
        all = ReadAll(img);
        Assert.Equal(Fill(4 * MiB, 0xB2), all[..(4 * MiB)]);
        Assert.Equal(Fill(MiB, 0xB3), all[(8 * MiB)..(9 * MiB)]);
        Assert.Equal(3, img.Files.Count);
        Assert.True(img.Check().IsClean);
    }

    [Fact]
    public void Snapshot_tree_branches_keep_each_branch_content()
    {
        using var dir = new TempDir();
        using (var img = NewImage(dir, 1 << 20, 12))
        {
            img.Write(0, Fill(8192, 1));
            img.CreateSnapshot("a");
            img.Write(0, Fill(4096, 2));
            img.CreateSnapshot("b");           // a ── b
            img.RevertToSnapshot("a");
            img.Write(4096, Fill(4096, 3));
            img.CreateSnapshot("c");           // a ─┬─ b
                                               //    └─ c ── current
            var list = img.ListSnapshots();
            Assert.Equal(["a", "b", "c"], list.Select(s => s.Name).OrderBy(n => n));
            Assert.Equal(list.Single(s => s.Name == "a").Id, list.Single(s => s.Name == "b").ParentId);
            Assert.Equal(list.Single(s => s.Name == "a").Id, list.Single(s => s.Name == "c").ParentId);

            img.RevertToSnapshot("b");
            Assert.Equal([.. Fill(4096, 2), .. Fill(4096, 1)], ReadAll(img)[..8192]);
            img.DeleteSnapshot("a");           // two live children: stays as a deleted record
            Assert.Equal([.. Fill(4096, 2), .. Fill(4096, 1)], ReadAll(img)[..8192]);
            Assert.All(img.ListSnapshots(), s => Assert.Null(s.ParentId)); // the hidden "a" is no visible parent
            Assert.Equal(img.ListSnapshots().Single(s => s.Name == "b").Id, img.CurrentParentId);
        }
        using var again = (IrowImage)ImageFormats.Default.Open(dir.File("d.irow"));
        Assert.Equal(["b", "c"], again.ListSnapshots().Select(s => s.Name).OrderBy(n => n));
        again.RevertToSnapshot("c");
        Assert.Equal([.. Fill(4096, 1), .. Fill(4096, 3)], ReadAll(again)[..8192]);
        again.DeleteSnapshot("b");             // b was a leaf: freed; a now has one child (c) and merges into it
        Assert.Equal([.. Fill(4096, 1), .. Fill(4096, 3)], ReadAll(again)[..8192]);
        Assert.Single(again.ListSnapshots());
        Assert.Equal(0, again.ChainDepth - 1);
        Assert.True(again.Check().IsClean);
    }

    [Fact]
    public void Revert_hides_discarded_data_even_when_the_current_state_was_complete()
    {
        using var dir = new TempDir();
        using var img = NewImage(dir, 8 * 4096, 12);
        img.Write(0, Fill(8 * 4096, 5));
        img.CreateSnapshot("s");
        img.Write(0, Fill(8 * 4096, 6)); // every cluster now in the current state
        img.RevertToSnapshot("s");
        Assert.Equal(Fill(8 * 4096, 5), ReadAll(img));
        img.Write(100, [7]);             // partial write after revert copies up the snapshot's cluster
        var expect = Fill(8 * 4096, 5);
        expect[100] = 7;
        Assert.Equal(expect, ReadAll(img));
    }

    [Fact]
    public void Vm_state_round_trips_through_create_revert_and_reopen()
    {
        using var dir = new TempDir();
        var state = new byte[100_000];
        new Random(3).NextBytes(state);
        using (var img = NewImage(dir, 1 << 20))
        {
            img.Write(0, Fill(512, 1));
            var info = img.CreateSnapshot("vm", 123456789, s => s.Write(state));
            Assert.Equal(state.Length, info.VmStateSize);
            Assert.Equal(123456789, info.VmClockNanoseconds);
            img.Write(0, Fill(512, 2));
            img.RevertToSnapshot("vm");
        }
        using var again = (IrowImage)ImageFormats.Default.Open(dir.File("d.irow"));
        using var s = again.OpenVmState("vm");
        var back = new byte[state.Length + 10];
        int n = 0, r;
        while ((r = s.Read(back, n, back.Length - n)) > 0) n += r;
        Assert.Equal(state.Length, n);
        Assert.Equal(state, back[..n]);
        Assert.Throws<ImageFormatException>(() => again.OpenVmState("0"));
        // irow.md §2.5: the snapshot's btmp is its 2-byte bitmap (16 clusters) followed by the VM state.
        Assert.Contains(again.Files, f => f.EndsWith(".btmp", StringComparison.Ordinal) && new FileInfo(f).Length == 2 + state.Length);
    }

    [Fact]
    public void Deep_chain_reads_resolve_to_the_owning_layer()
    {
        using var dir = new TempDir();
        using var img = NewImage(dir, 64 * 4096, 12);
        for (int i = 0; i < 50; i++)
        {
            img.Write(i * 4096L, Fill(4096, (byte)(i + 1)));
            img.CreateSnapshot("s" + i);
        }
        Assert.Equal(50, img.ChainDepth);
        var counted = img.Check();
        Assert.Equal(50, counted.AllocatedClusters);
        Assert.Equal(64, counted.TotalClusters);
        var all = ReadAll(img);
        for (int i = 0; i < 64; i++)
            Assert.All(all[(i * 4096)..((i + 1) * 4096)], b => Assert.Equal(i < 50 ? i + 1 : 0, b));
        img.RevertToSnapshot("s10");
        all = ReadAll(img);
        for (int i = 0; i < 64; i++)
            Assert.All(all[(i * 4096)..((i + 1) * 4096)], b => Assert.Equal(i <= 10 ? i + 1 : 0, b));
        img.Write(63 * 4096, [1]);
        Assert.Equal(12, img.Check().AllocatedClusters);
    }

    [Fact]
    public void Savevm_with_an_existing_name_gets_a_fresh_id_after_delete()
    {
        using var dir = new TempDir();
        using var img = NewImage(dir, 1 << 20);
        img.CreateSnapshot("x");
        img.CreateSnapshot("y");
        Assert.Throws<ImageFormatException>(() => img.CreateSnapshot("x"));
        img.DeleteSnapshot("x");
        var again = img.CreateSnapshot("x");
        Assert.Equal(["x", "y"], img.ListSnapshots().Select(s => s.Name).OrderBy(n => n));
        Assert.NotEqual(img.ListSnapshots().Single(s => s.Name == "y").Id, again.Id);
    }

    [Fact]
    public void Deleting_the_current_state_or_a_missing_snapshot_is_an_error()
    {
        using var dir = new TempDir();
        using var img = NewImage(dir, 1 << 20);
        Assert.Contains("current state", Assert.Throws<ImageFormatException>(() => img.DeleteSnapshot("0")).Message);
        Assert.Contains("no snapshot", Assert.Throws<ImageFormatException>(() => img.DeleteSnapshot("nope")).Message);
        img.RevertToSnapshot("current state"); // no-op, as in the original
    }

    [Fact]
    public void Check_reports_and_repairs_leaked_files()
    {
        using var dir = new TempDir();
        using var img = NewImage(dir, 1 << 20);
        File.WriteAllBytes(dir.File("d.irow-deadbeef1.btmp"), new byte[2]);
        File.WriteAllBytes(dir.File("d.irow-deadbeef1.irvd"), new byte[4096]);
        var r = img.Check();
        Assert.Equal(2, r.Leaks);
        Assert.Equal(0, r.Corruptions);
        var fixedResult = img.Check(RepairMode.Leaks);
        Assert.Equal(2, fixedResult.LeaksFixed);
        Assert.False(File.Exists(dir.File("d.irow-deadbeef1.irvd")));
        Assert.True(img.Check().IsClean);
    }
}
