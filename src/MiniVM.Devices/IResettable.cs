namespace MiniVM.Devices;

/// <summary>
/// A device with a power-on state that a machine reset (0xCF9, 8042 pulse, port 0x92, triple fault) puts it back in.
/// The board resets every device that implements it; a device keeps what a PC keeps across a reset (CMOS contents).
/// </summary>
public interface IResettable
{
    void Reset();
}
