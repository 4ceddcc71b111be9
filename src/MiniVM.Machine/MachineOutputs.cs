namespace MiniVM.Machine;

/// <summary>Where the machine's byte streams go: the COM1 serial port and SeaBIOS's 0x402 debug log; and its warnings.</summary>
public sealed class MachineOutputs
{
    public Action<byte> Serial { get; init; } = _ => { };
    public Action<byte> DebugLog { get; init; } = _ => { };
    /// <summary>One-line warnings about the machine's setup, e.g. a probed raw disk whose block 0 is write-restricted.</summary>
    public Action<string> Warning { get; init; } = _ => { };
}
