using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace MiniVM.Cli.Tests;

/// <summary>
/// issue 11 item 6 as the campaign did it: 400 MB without a newline sent to the TCP monitor of a running VM. The
/// run is a child process under a 3 GiB address-space limit and a 96 MiB managed heap (before the fix it grew to
/// 1.9 GB and aborted under 4 GiB); it must answer with one error line, close that connection, and still obey `quit` from the next client.
/// </summary>
public sealed partial class MonitorFloodTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_400_MB_line_is_cut_off_and_the_vm_keeps_running_in_bounded_memory()
    {
        using var vm = MiniVmChild.Start(_dir.Path, null, MiniVmChild.SmallHeap, "run", "--monitor", "tcp:127.0.0.1:0", "--serial", "none", "--memory", "16", "--timeout", "600", "--drive", MiniVmChild.IdleGuestDrive);
        try
        {
            int port = 0;
            var deadline = DateTime.UtcNow.AddSeconds(120);
            while (port == 0)
            {
                string? line = vm.StandardError.ReadLine();
                Assert.True(line is not null && DateTime.UtcNow < deadline, "minivm did not announce its monitor port");
                if (ListeningOn().Match(line!) is { Success: true } m) port = int.Parse(m.Groups[1].Value);
            }
            var stderrRest = vm.StandardError.ReadToEndAsync();

            using (var flood = new TcpClient("127.0.0.1", port))
            {
                var stream = flood.GetStream();
                stream.ReadTimeout = 60_000;
                var reader = new StreamReader(stream);
                Assert.Equal("MiniVM monitor - type 'help' for more information", reader.ReadLine());
                var sender = Task.Run(() =>
                {
                    var chunk = new byte[1 << 20];
                    Array.Fill(chunk, (byte)'x');
                    try { for (int i = 0; i < 400; i++) stream.Write(chunk); }
                    catch (IOException) { }
                });
                Assert.Equal("(minivm) Error: line longer than 4096 bytes; closing the connection", reader.ReadLine());
                await sender.WaitAsync(TimeSpan.FromSeconds(120)); // a TimeoutException: the flood was not cut off
            }

            string status = "";
            var clock = DateTime.UtcNow.AddSeconds(60);
            while (DateTime.UtcNow < clock)
            {
                // The flooded session ends asynchronously; until then a new client is told the monitor is busy.
                using var next = new TcpClient("127.0.0.1", port);
                var reader = new StreamReader(next.GetStream());
                if (reader.ReadLine() is not { } first || first.StartsWith("Error: the monitor is busy", StringComparison.Ordinal)) { Thread.Sleep(100); continue; }
                var writer = new StreamWriter(next.GetStream()) { NewLine = "\r\n", AutoFlush = true };
                writer.WriteLine("info status");
                status = reader.ReadLine() ?? "";
                writer.WriteLine("quit");
                break;
            }
            Assert.Equal("(minivm) VM status: running", status);
            Assert.True(vm.WaitForExit(TimeSpan.FromSeconds(120)), "minivm did not quit");
            Assert.Equal(0, vm.ExitCode);
            Assert.DoesNotContain("internal error", await stderrRest);
        }
        finally
        {
            if (!vm.HasExited) vm.Kill(entireProcessTree: true);
        }
    }

    [GeneratedRegex(@"monitor listening on 127\.0\.0\.1:(\d+)")]
    private static partial Regex ListeningOn();
}
