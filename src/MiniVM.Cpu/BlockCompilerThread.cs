using System.Collections.Concurrent;

namespace MiniVM.Cpu;

/// <summary>
/// The one thread that compiles translated blocks in the background (<see cref="X86Cpu.JitCompileInBackground"/>),
/// oldest first, for every CPU of the process. One thread, not the thread pool: the pool ran as many compilations
/// at once as there are cores, so on a 2-core host a burst of new blocks took CPU time from the thread running the
/// guest, which is the wall time a boot waits for. A block waiting here is run by the interpreter meanwhile, so
/// the queue's length changes only how soon blocks are used, never what the guest sees.
/// </summary>
internal static class BlockCompilerThread
{
    private static readonly BlockingCollection<Action> Queue = new(new ConcurrentQueue<Action>());
    private static readonly Lazy<Thread> Worker = new(() =>
    {
        var t = new Thread(static () => { foreach (var work in Queue.GetConsumingEnumerable()) work(); })
        {
            IsBackground = true,
            Name = "minivm block compiler",
        };
        t.Start();
        return t;
    });

    public static void Enqueue(Action compile)
    {
        _ = Worker.Value;
        Queue.Add(compile);
    }
}
