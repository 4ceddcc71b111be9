using System.Diagnostics;
using System.Net.Sockets;
using MiniVM.Machine.Monitor;
using MiniVM.Machine.Tests.Snapshots;

namespace MiniVM.Machine.Tests.Monitor;

/// <summary>
/// issue 11 item 6: the monitor's host inputs are bounded. A line without end is cut at 4096 bytes with an error
/// and the connection closed; one client at a time, others told it is busy; a silent client is closed after
/// the idle timeout; screendump refuses FIFOs and devices.
/// </summary>
public sealed class MonitorLimitTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("minivm-monlimit").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private sealed class Client : IDisposable
    {
        private readonly TcpClient _tcp;
        public NetworkStream Stream { get; }
        public StreamReader Reader { get; }

        public Client(int port)
        {
            _tcp = new TcpClient("127.0.0.1", port);
            Stream = _tcp.GetStream();
            Stream.ReadTimeout = 30_000;
            Reader = new StreamReader(Stream);
        }

        public void Dispose() => _tcp.Dispose();
    }

    /// <summary>Answers every posted line on a background thread, as the machine thread would.</summary>
    private static CancellationTokenSource AnswerCommands(MonitorChannel channel, List<string> seen)
    {
        var stop = new CancellationTokenSource();
        new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                if (channel.TryTake(out var line, out var reply)) { lock (seen) seen.Add(line); reply("ok " + line); }
                else channel.WaitForCommand(TimeSpan.FromMilliseconds(20));
            }
        }) { IsBackground = true }.Start();
        return stop;
    }

    [Fact]
    public async Task A_line_longer_than_4096_bytes_is_an_error_and_the_connection_closes()
    {
        var channel = new MonitorChannel();
        var seen = new List<string>();
        using var answers = AnswerCommands(channel, seen);
        using var tcp = new TcpMonitor(0, channel);
        using var c = new Client(tcp.Port);
        Assert.Equal(HumanMonitor.Banner, c.Reader.ReadLine());
        var flood = Task.Run(() =>
        {
            var chunk = new byte[1 << 16];
            Array.Fill(chunk, (byte)'a');
            long sent = 0;
            try { for (int i = 0; i < 256; i++) { c.Stream.Write(chunk); sent += chunk.Length; } }
            catch (IOException) { }
            return sent;
        });
        Assert.Equal(HumanMonitor.Prompt + "Error: line longer than 4096 bytes; closing the connection", c.Reader.ReadLine());
        AssertClosed(c.Reader);
        await flood.WaitAsync(TimeSpan.FromSeconds(30));
        lock (seen) Assert.Empty(seen); // nothing of it reached the machine

        // The monitor still serves the next client, and a line of exactly 4096 bytes is accepted.
        using var next = ConnectWhenFree(tcp.Port);
        string longest = "info " + new string('x', MonitorLineReader.MaxLineBytes - 5);
        var writer = new StreamWriter(next.Stream) { NewLine = "\r\n", AutoFlush = true };
        writer.WriteLine(longest);
        Assert.Equal(HumanMonitor.Prompt + "ok " + longest, next.Reader.ReadLine());
    }

    /// <summary>The server closed the connection: end of stream, or a reset when it closed with our bytes unread.</summary>
    private static void AssertClosed(StreamReader reader)
    {
        try { Assert.Null(reader.ReadLine()); }
        catch (IOException) { }
    }

    /// <summary>Connects once the previous client's session has ended (it ends asynchronously), past the banner.</summary>
    private static Client ConnectWhenFree(int port)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var c = new Client(port);
            string? first = c.Reader.ReadLine();
            if (first == HumanMonitor.Banner) return c;
            c.Dispose();
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"monitor never became free: {first}");
            Thread.Sleep(50);
        }
    }

    [Fact]
    public void A_second_client_is_told_the_monitor_is_busy_and_can_connect_once_the_first_leaves()
    {
        var channel = new MonitorChannel();
        var seen = new List<string>();
        using var answers = AnswerCommands(channel, seen);
        using var tcp = new TcpMonitor(0, channel);
        var first = new Client(tcp.Port);
        Assert.Equal(HumanMonitor.Banner, first.Reader.ReadLine());
        using (var second = new Client(tcp.Port))
        {
            Assert.Equal("Error: the monitor is busy with another client; try again when it disconnects", second.Reader.ReadLine());
            AssertClosed(second.Reader);
        }
        first.Dispose();
        using var third = ConnectWhenFree(tcp.Port);
        new StreamWriter(third.Stream) { NewLine = "\r\n", AutoFlush = true }.WriteLine("info status");
        Assert.Equal(HumanMonitor.Prompt + "ok info status", third.Reader.ReadLine());
    }

    [Fact]
    public void An_answer_arrives_together_with_the_next_prompt()
    {
        // A client reads until the prompt; if the prompt trailed the answer in its own segment it would reach the
        // client only after the client's delayed ACK (~40 ms a command on Linux), so one read must bring both.
        var channel = new MonitorChannel();
        var seen = new List<string>();
        using var answers = AnswerCommands(channel, seen);
        using var tcp = new TcpMonitor(0, channel);
        using var c = new Client(tcp.Port);
        var greeting = new byte[HumanMonitor.Banner.Length + 2 + HumanMonitor.Prompt.Length]; // raw: no reader buffers ahead
        c.Stream.ReadExactly(greeting);
        Assert.Equal(HumanMonitor.Banner + "\r\n" + HumanMonitor.Prompt, System.Text.Encoding.ASCII.GetString(greeting));
        for (int i = 0; i < 5; i++)
        {
            c.Stream.Write(System.Text.Encoding.ASCII.GetBytes($"info status {i}\r\n"));
            var buffer = new byte[4096];
            int n = c.Stream.Read(buffer);
            Assert.Equal($"ok info status {i}\r\n" + HumanMonitor.Prompt, System.Text.Encoding.ASCII.GetString(buffer, 0, n));
        }
    }

    [Fact]
    public void A_silent_client_is_closed_after_the_idle_timeout()
    {
        var channel = new MonitorChannel();
        using var tcp = new TcpMonitor(0, channel, TimeSpan.FromSeconds(1));
        using var idle = new Client(tcp.Port);
        Assert.Equal(HumanMonitor.Banner, idle.Reader.ReadLine());
        Assert.Equal(HumanMonitor.Prompt + "Error: no command for 1 s; closing the connection", idle.Reader.ReadLine());
        AssertClosed(idle.Reader);
        using var next = ConnectWhenFree(tcp.Port);
    }

    [Fact]
    public void Stdio_monitor_lines_are_bounded_too()
    {
        var channel = new MonitorChannel();
        var input = new MemoryStream(System.Text.Encoding.ASCII.GetBytes(new string('a', 10_000) + "\ninfo status\n"));
        var output = new StringWriter();
        StdioMonitor.Start(channel, input, output);
        var clock = Stopwatch.StartNew();
        while (!output.ToString().Contains("Error:") && clock.Elapsed < TimeSpan.FromSeconds(30)) Thread.Sleep(20);
        Assert.Contains("Error: line longer than 4096 bytes; the monitor stops reading stdin", output.ToString());
        Assert.False(channel.TryTake(out _, out _));
    }

    [Fact]
    public async Task Screendump_refuses_fifos_and_devices_and_writes_regular_files()
    {
        using var vm = new SnapshotMachine(_dir);
        var m = new HumanMonitor(vm.Machine);
        string fifo = Path.Combine(_dir, "fifo");
        using (var p = Process.Start("mkfifo", [fifo])) p.WaitForExit();
        var answer = Task.Run(() => m.Execute("screendump " + fifo));
        string refused = await answer.WaitAsync(TimeSpan.FromSeconds(30)); // a TimeoutException: blocked on the FIFO
        Assert.Equal($"Error: screendump: {fifo} is a FIFO, not a regular file; give a new or regular file name", refused);
        Assert.StartsWith("Error: screendump: /dev/null is a character device", m.Execute("screendump /dev/null"));
        string png = Path.Combine(_dir, "screen.png");
        Assert.Equal("", m.Execute("screendump " + png));
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(png)[..4]);
    }
}
