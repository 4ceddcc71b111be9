using System.Collections.Concurrent;

namespace MiniVM.Machine.Monitor;

/// <summary>
/// Monitor command lines from the transports (stdio reader, TCP clients) to the machine thread, which executes
/// them between slices (<see cref="MachineRunner"/>); each line's reply goes back through its callback.
/// </summary>
public sealed class MonitorChannel
{
    private readonly ConcurrentQueue<(string Line, Action<string> Reply)> _queue = new();
    private readonly SemaphoreSlim _signal = new(0);

    /// <summary>Raised (on the posting thread) after each line is queued: the machine thread may be asleep in a halted CPU's wait.</summary>
    public event Action? Posted;

    public void Post(string line, Action<string> reply)
    {
        _queue.Enqueue((line, reply));
        _signal.Release();
        Posted?.Invoke();
    }

    public bool TryTake(out string line, out Action<string> reply)
    {
        if (_queue.TryDequeue(out var item)) { line = item.Line; reply = item.Reply; return true; }
        line = ""; reply = static _ => { };
        return false;
    }

    /// <summary>While the VM is stopped the machine thread sleeps here until a command arrives (or the timeout).</summary>
    public void WaitForCommand(TimeSpan timeout) => _signal.Wait(timeout);
}
