namespace MiniVM.Machine;

/// <summary>Where the machine's byte streams go: the COM1 serial port and SeaBIOS's 0x402 debug log.</summary>
public sealed class MachineOutputs
{
    public Action<byte> Serial { get; init; } = _ => { };
    public Action<byte> DebugLog { get; init; } = _ => { };
}
