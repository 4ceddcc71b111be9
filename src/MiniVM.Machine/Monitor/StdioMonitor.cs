namespace MiniVM.Machine.Monitor;

/// <summary>
/// The monitor on the process's stdin/stdout (like QEMU's -monitor stdio). It cannot share stdio with a serial
/// port on stdio: the configuration loader refuses that combination rather than multiplexing. Lines are bounded
/// as on TCP (<see cref="MonitorLineReader"/>): a longer one is an error and the monitor stops reading stdin.
/// </summary>
public static class StdioMonitor
{
    /// <summary>Starts a background reader that posts each line to <paramref name="channel"/>; answers go to <paramref name="output"/>.</summary>
    public static void Start(MonitorChannel channel, Stream input, TextWriter output)
    {
        lock (output) { output.WriteLine(HumanMonitor.Banner); output.Write(HumanMonitor.Prompt); output.Flush(); }
        var t = new Thread(() =>
        {
            var reader = new MonitorLineReader(input);
            try
            {
                string? line;
                while ((line = reader.ReadLine()) is not null)
                {
                    using var done = new ManualResetEventSlim();
                    channel.Post(line, reply =>
                    {
                        lock (output)
                        {
                            if (reply.Length > 0) output.WriteLine(reply);
                            output.Write(HumanMonitor.Prompt);
                            output.Flush();
                        }
                        done.Set();
                    });
                    // One command at a time, like a terminal: the next line is read once this one has answered.
                    done.Wait();
                }
            }
            catch (MonitorException e)
            {
                lock (output) { output.WriteLine($"Error: {e.Message}; the monitor stops reading stdin"); output.Flush(); }
            }
            catch (IOException) { /* stdin went away */ }
        }) { IsBackground = true, Name = "monitor-stdio" };
        t.Start();
    }
}
