using System.Net;
using System.Net.Sockets;
using System.Text;

namespace MiniVM.Machine.Monitor;

/// <summary>
/// The monitor on a TCP port bound to 127.0.0.1 only (`--monitor tcp:127.0.0.1:PORT`), answering like QEMU's
/// `-monitor tcp:…,server`: banner, prompt, one answer per line. One client at a time: another that connects
/// meanwhile is told the monitor is busy and closed, and a client that sends no command for
/// <see cref="IdleTimeout"/> is closed, so a forgotten connection cannot lock everyone out. Lines are bounded
/// (<see cref="MonitorLineReader"/>): a longer one is answered with an error and the connection closed.
/// </summary>
public sealed class TcpMonitor : IDisposable
{
    public static readonly TimeSpan DefaultIdleTimeout = TimeSpan.FromMinutes(10);

    private readonly TcpListener _listener;
    private readonly MonitorChannel _channel;
    /// <summary>The one client session; a connection that cannot take it within <see cref="HandOver"/> is refused.</summary>
    private readonly SemaphoreSlim _session = new(1, 1);

    /// <summary>
    /// How long a new connection waits for the session: a client that has just disconnected (a script that probes
    /// whether the port is open, then connects for real) is still being closed by its thread for a moment.
    /// </summary>
    private static readonly TimeSpan HandOver = TimeSpan.FromSeconds(2);

    public TcpMonitor(int port, MonitorChannel channel) : this(port, channel, DefaultIdleTimeout) { }

    public TcpMonitor(int port, MonitorChannel channel, TimeSpan idleTimeout)
    {
        _channel = channel;
        IdleTimeout = idleTimeout;
        _listener = new TcpListener(IPAddress.Loopback, port);
        try { _listener.Start(); }
        catch (SocketException e) { throw new MonitorException($"monitor: cannot listen on 127.0.0.1:{port}: {e.Message}"); }
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        new Thread(AcceptLoop) { IsBackground = true, Name = "monitor-tcp" }.Start();
    }

    /// <summary>The port actually bound (useful when 0 asked for any free port).</summary>
    public int Port { get; }

    /// <summary>How long a connected client may stay silent before it is closed.</summary>
    public TimeSpan IdleTimeout { get; }

    private void AcceptLoop()
    {
        while (true)
        {
            TcpClient client;
            try { client = _listener.AcceptTcpClient(); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or InvalidOperationException) { return; }
            if (!_session.Wait(HandOver))
            {
                using (client) TrySend(client, "Error: the monitor is busy with another client; try again when it disconnects\r\n");
                continue;
            }
            new Thread(() =>
            {
                try { using (client) Serve(client); }
                finally { _session.Release(); }
            }) { IsBackground = true, Name = "monitor-tcp-client" }.Start();
        }
    }

    private void Serve(TcpClient client)
    {
        client.NoDelay = true; // every write is a whole answer: send it at once, as QEMU's monitor does
        using var stream = client.GetStream();
        using var writer = new StreamWriter(stream, new UTF8Encoding(false)) { NewLine = "\r\n", AutoFlush = true };
        try
        {
            stream.ReadTimeout = (int)Math.Min(int.MaxValue, IdleTimeout.TotalMilliseconds);
            writer.WriteLine(HumanMonitor.Banner);
            writer.Write(HumanMonitor.Prompt);
            var reader = new MonitorLineReader(stream);
            string? line;
            while ((line = reader.ReadLine()) is not null)
            {
                string answer = "";
                using var done = new ManualResetEventSlim();
                _channel.Post(line, reply => { answer = reply; done.Set(); });
                done.Wait();
                // The answer and the next prompt leave in one write: written apart, the prompt (a second small segment)
                // waits under Nagle's rule for the client's delayed ACK of the answer, ~40 ms on Linux, and a client
                // that waits for the prompt (every script, the savevm bench) sees each answered command take that long.
                writer.Write(answer.Length > 0 ? answer.Replace("\n", "\r\n") + "\r\n" + HumanMonitor.Prompt : HumanMonitor.Prompt);
            }
        }
        catch (MonitorException e)
        {
            TryWrite(writer, $"Error: {e.Message}; closing the connection");
            Linger(client);
        }
        catch (IOException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.TimedOut })
        {
            TryWrite(writer, $"Error: no command for {IdleTimeout.TotalSeconds:0} s; closing the connection");
        }
        catch (IOException) { /* the client went away; wait for the next one */ }
    }

    /// <summary>
    /// Closes our side and discards what the peer still sends, for a moment: closing a socket with unread input
    /// sends a reset, which can make the peer lose the error line before it reads it.
    /// </summary>
    private static void Linger(TcpClient client)
    {
        try
        {
            client.Client.Shutdown(SocketShutdown.Send);
            client.Client.ReceiveTimeout = 200;
            var sink = new byte[16384];
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (clock.ElapsedMilliseconds < 2000 && client.Client.Receive(sink) > 0) { }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
    }

    private static void TryWrite(StreamWriter writer, string line)
    {
        try { writer.WriteLine(line); }
        catch (IOException) { }
    }

    private static void TrySend(TcpClient client, string text)
    {
        try { client.GetStream().Write(Encoding.UTF8.GetBytes(text)); }
        catch (Exception e) when (e is IOException or InvalidOperationException) { }
    }

    public void Dispose() => _listener.Stop();
}
