using System.Net;
using System.Net.Sockets;
using System.Text;

namespace MiniVM.Machine.Monitor;

/// <summary>
/// The monitor on a TCP port bound to 127.0.0.1 only (`--monitor tcp:127.0.0.1:PORT`), one client at a time,
/// answering like QEMU's `-monitor tcp:…,server`: banner, prompt, one answer per line.
/// </summary>
public sealed class TcpMonitor : IDisposable
{
    private readonly TcpListener _listener;
    private readonly MonitorChannel _channel;

    public TcpMonitor(int port, MonitorChannel channel)
    {
        _channel = channel;
        _listener = new TcpListener(IPAddress.Loopback, port);
        try { _listener.Start(); }
        catch (SocketException e) { throw new MonitorException($"monitor: cannot listen on 127.0.0.1:{port}: {e.Message}"); }
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        new Thread(AcceptLoop) { IsBackground = true, Name = "monitor-tcp" }.Start();
    }

    /// <summary>The port actually bound (useful when 0 asked for any free port).</summary>
    public int Port { get; }

    private void AcceptLoop()
    {
        while (true)
        {
            TcpClient client;
            try { client = _listener.AcceptTcpClient(); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or InvalidOperationException) { return; }
            using (client) Serve(client);
        }
    }

    private void Serve(TcpClient client)
    {
        try
        {
            using var stream = client.GetStream();
            using var reader = new StreamReader(stream, Encoding.UTF8);
            using var writer = new StreamWriter(stream, new UTF8Encoding(false)) { NewLine = "\r\n", AutoFlush = true };
            writer.WriteLine(HumanMonitor.Banner);
            writer.Write(HumanMonitor.Prompt);
            string? line;
            while ((line = reader.ReadLine()) is not null)
            {
                string answer = "";
                using var done = new ManualResetEventSlim();
                _channel.Post(line, reply => { answer = reply; done.Set(); });
                done.Wait();
                if (answer.Length > 0) writer.WriteLine(answer.Replace("\n", "\r\n"));
                writer.Write(HumanMonitor.Prompt);
            }
        }
        catch (IOException) { /* the client went away; wait for the next one */ }
    }

    public void Dispose() => _listener.Stop();
}
