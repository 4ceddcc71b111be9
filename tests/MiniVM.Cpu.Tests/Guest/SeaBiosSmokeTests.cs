using System.Text;
using MiniVM.Cpu.Tests.Support;

namespace MiniVM.Cpu.Tests.Guest;

/// <summary>
/// The real SeaBIOS image on the bare CPU (no chipset): it must get from the reset vector through its
/// real-mode → 32-bit protected-mode transitions far enough to print its banner on the debug port 0x402.
/// Needs firmware/bios.bin (firmware/fetch-seabios.sh).
/// </summary>
[Trait("Category", "Firmware")]
public sealed class SeaBiosSmokeTests
{
    private sealed class DebugPortBus : ICpuBus
    {
        public readonly StringBuilder Debug = new();
        public uint ReadMmio(ulong address, int size) => size == 4 ? 0xFFFFFFFF : (1u << (8 * size)) - 1;
        public void WriteMmio(ulong address, int size, uint value) { }
        public uint In(ushort port, int size) => size == 4 ? 0xFFFFFFFF : (1u << (8 * size)) - 1;
        public void Out(ushort port, int size, uint value) { if (port == 0x402) Debug.Append((char)(byte)value); }
        public ulong ReadTimestampCounter() => 0;
    }

    [Fact]
    public void SeaBiosPrintsItsBannerFromProtectedMode()
    {
        string path = Path.Combine(RepoPaths.Root, "firmware", "bios.bin");
        Assert.True(File.Exists(path), $"{path} is missing: run firmware/fetch-seabios.sh");
        byte[] bios = File.ReadAllBytes(path);
        var mem = new PhysicalMemory(32 << 20);
        var bus = new DebugPortBus();
        var cpu = new X86Cpu(mem, bus, new TestInterrupts());
        // Writable copy below 1 MiB (no PAM to unlock), ROM alias at the top of 4 GiB for the reset vector.
        mem.Write((ulong)(0x100000 - bios.Length), bios);
        mem.MapRom(0x100000000UL - (ulong)bios.Length, (ulong)bios.Length, bios);
        for (int i = 0; i < 200 && !bus.Debug.ToString().Contains("BUILD:"); i++)
            cpu.Run(100_000);
        string text = bus.Debug.ToString();
        Assert.Contains("SeaBIOS (version", text);
        Assert.Contains("BUILD:", text);
        Assert.False(cpu.ShutdownPending);
    }
}
