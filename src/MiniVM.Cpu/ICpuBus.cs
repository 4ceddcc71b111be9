namespace MiniVM.Cpu;

/// <summary>
/// Everything the CPU reaches outside RAM/ROM: memory-mapped I/O pages, I/O ports and the time-stamp counter.
/// <c>size</c> is 1, 2 or 4 bytes. The machine derives the TSC from its virtual clock so runs stay deterministic.
/// </summary>
public interface ICpuBus
{
    uint ReadMmio(ulong address, int size);
    void WriteMmio(ulong address, int size, uint value);
    uint In(ushort port, int size);
    void Out(ushort port, int size, uint value);
    ulong ReadTimestampCounter();
}
