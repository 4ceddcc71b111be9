namespace MiniVM.Machine.Monitor;

/// <summary>A monitor command or monitor script that cannot be carried out, with the reason in the message.</summary>
public sealed class MonitorException(string message) : Exception(message);
