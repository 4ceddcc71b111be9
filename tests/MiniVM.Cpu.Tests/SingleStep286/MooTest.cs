namespace MiniVM.Cpu.Tests.SingleStep286;

/// <summary>One SingleStepTests/80286 test: initial and final state as recorded on a real 286.</summary>
public sealed class MooTest
{
    public uint Index;
    public string Name = "";
    public byte[] Bytes = [];
    public readonly ushort[] InitRegs = new ushort[14];
    public readonly List<(uint Address, byte Value)> InitRam = [];
    public ushort FinalMask;
    public readonly ushort[] FinalRegs = new ushort[14];
    public readonly List<(uint Address, byte Value)> FinalRam = [];
    /// <summary>Vector taken, or -1.</summary>
    public int Vector = -1;
    public string Hash = "";

    /// <summary>Register order of the REGS chunk bit mask.</summary>
    public static readonly string[] RegisterNames = ["AX", "BX", "CX", "DX", "CS", "SS", "DS", "ES", "SP", "BP", "SI", "DI", "IP", "FLAGS"];
    public const int CS = 4, SS = 5, DS = 6, ES = 7, SP = 8, IP = 12, FLAGS = 13;

    public ushort Expected(int reg) => (FinalMask & (1 << reg)) != 0 ? FinalRegs[reg] : InitRegs[reg];
}
