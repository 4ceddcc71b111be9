using MiniVM.Block;
using MiniVM.Block.CrashWriter;

// Child process of the crash test: runs the workload on an image until it is killed, printing
// "FLUSHED <index>" after each flush that completed, so the parent knows what must be durable.
if (args.Length != 3 || !int.TryParse(args[1], out int seed) || !int.TryParse(args[2], out int maxOps))
{
    Console.Error.WriteLine("usage: MiniVM.Block.CrashWriter IMAGE SEED MAX_OPS");
    return 2;
}
try
{
    using var img = ImageFormats.Default.Open(args[0]);
    var buffer = new byte[70_000];
    Console.WriteLine("READY");
    Console.Out.Flush();
    foreach (var op in CrashWorkload.Ops(seed, img.Size, maxOps))
    {
        switch (op.Kind)
        {
            case CrashOpKind.Write:
                CrashWorkload.Data(op.DataSeed, buffer.AsSpan(0, op.Length));
                img.Write(op.Offset, buffer.AsSpan(0, op.Length));
                break;
            case CrashOpKind.Zero:
                img.WriteZeroes(op.Offset, op.Length);
                break;
            case CrashOpKind.Flush:
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
