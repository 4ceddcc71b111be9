namespace MiniVM.Machine.Configuration;

/// <summary>A configuration value that is wrong; the message is one line naming the key (in `--set` spelling).</summary>
public sealed class VmConfigException(string message) : Exception(message);
