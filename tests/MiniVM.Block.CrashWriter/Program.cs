using MiniVM.Block;
using MiniVM.Block.CrashWriter;

// Child process of the crash test: runs the workload on an image until it is killed, printing
// "FLUSHED <index>" after each flush that completed, so the parent knows what must be durable.
// With "snapshots" it also creates snapshots and deletes the oldest ones (merge-down) as it goes, and sometimes
// replaces the newest one as savevm does (merge-up into the current state), sometimes twice with a revert between.
// With "noflush" it never flushes (as DOS never does) and prints "COMPLETED <index>" after each write or
// write-zeroes returned, so the parent can check that a killed process loses no completed write.
// "IMAGE prefetch" copies the base into an FVD image (no throttle) and prints DONE; "IMAGE hold [ro]" opens the image
// (read-write unless ro), prints READY and keeps it open, with its locks, until standard input closes.
if (args.Length is 2 or 3 && args[1] is "prefetch" or "hold")
{
    try
    {
        bool readOnly = args.Length == 3 && args[2] == "ro";
        using var held = ImageFormats.Default.Open(args[0], null, new ImageOpenContext { ReadOnly = readOnly });
        Console.WriteLine("READY");
        Console.Out.Flush();
        if (args[1] == "prefetch") ((IBasePrefetch)held).Prefetch(null, throttle: false, CancellationToken.None);
        else Console.In.ReadToEnd();
        Console.WriteLine("DONE");
        return 0;
    }
    catch (ImageFormatException e)
    {
        Console.Error.WriteLine(e.Message);
        return 1;
    }
}
if (args.Length is < 3 or > 4 || !int.TryParse(args[1], out int seed) || !int.TryParse(args[2], out int maxOps)
    || (args.Length == 4 && args[3] is not ("snapshots" or "noflush")))
{
    Console.Error.WriteLine("usage: MiniVM.Block.CrashWriter IMAGE SEED MAX_OPS [snapshots|noflush]");
    return 2;
}
bool withSnapshots = args.Length == 4 && args[3] == "snapshots";
bool noFlush = args.Length == 4 && args[3] == "noflush";
try
{
    using var img = ImageFormats.Default.Open(args[0]);
    var buffer = new byte[70_000];
    var snapshots = new List<string>(); // oldest first
    if (img is ISnapshotStore existing)
        foreach (var s in existing.ListSnapshots()) snapshots.Add(s.Name);
    Console.WriteLine("READY");
    Console.Out.Flush();
    foreach (var op in CrashWorkload.Ops(seed, img.Size, maxOps, withSnapshots))
    {
        switch (op.Kind)
        {
            case CrashOpKind.Write:
                CrashWorkload.Data(op.DataSeed, buffer.AsSpan(0, op.Length));
                img.Write(op.Offset, buffer.AsSpan(0, op.Length));
                if (noFlush) Completed(op.Index);
                break;
            case CrashOpKind.Zero:
                img.WriteZeroes(op.Offset, op.Length);
                if (noFlush) Completed(op.Index);
                break;
            case CrashOpKind.Snapshot:
                var store = (ISnapshotStore)img;
                if (op.Index % 2 == 1 && snapshots.Count > 0)
                {
                    // savevm under the newest name: the current state's parent is deleted (merged up into the
                    // current state, which holds less) and made again.
                    string newest = snapshots[^1];
                    store.DeleteForReplace(newest);
                    store.CreateSnapshot(newest);
                    if (op.Index % 4 == 3)
                    {
                        // Nothing written since, so the current state is empty: loadvm's revert (the current state
                        // only changes its father) and savevm's replace again (the current state's empty files
                        // become the next current state's). Neither changes the disk content.
                        store.RevertToSnapshot(newest);
                        store.DeleteForReplace(newest);
                        store.CreateSnapshot(newest);
                    }
                    break;
                }
                string name = $"s{seed}-{op.Index}";
                store.CreateSnapshot(name);
                snapshots.Add(name);
                while (snapshots.Count > 3)
                {
                    store.DeleteSnapshot(snapshots[0]);
                    snapshots.RemoveAt(0);
                }
                break;
            case CrashOpKind.Flush:
                if (noFlush) break;
                img.Flush();
                Console.WriteLine($"FLUSHED {op.Index}");
                Console.Out.Flush();
                break;
        }
    }
    Console.WriteLine("DONE");
    return 0;
}
catch (ImageFormatException e)
{
    Console.Error.WriteLine(e.Message);
    return 1;
}

static void Completed(int index)
{
    Console.WriteLine($"COMPLETED {index}");
    Console.Out.Flush();
}
