namespace MiniVM.Machine.Configuration;

/// <summary>Where the interactive monitor listens (`monitor`: none, stdio or tcp:127.0.0.1:PORT).</summary>
public sealed record MonitorEndpoint
{
    private MonitorEndpoint(MonitorKind kind, int port) { Kind = kind; Port = port; }

    public MonitorKind Kind { get; }
    /// <summary>The loopback TCP port (0: any free one); meaningful only for <see cref="MonitorKind.Tcp"/>.</summary>
    public int Port { get; }

    public static MonitorEndpoint None { get; } = new(MonitorKind.None, 0);
    public static MonitorEndpoint Stdio { get; } = new(MonitorKind.Stdio, 0);
    public static MonitorEndpoint Tcp(int port) => new(MonitorKind.Tcp, port);
}

public enum MonitorKind { None, Stdio, Tcp }
