namespace MiniVM.Cpu.Tests.Differential;

/// <summary>The CPU mode a random program runs in.</summary>
public enum GuestMode
{
    /// <summary>16-bit code in real mode: CS 0x1000, DS/GS 0x2000, ES/FS 0x3000, SS 0x6000.</summary>
    Real,
    /// <summary>32-bit ring 0 with flat segments, no paging.</summary>
    Flat32,
    /// <summary>As <see cref="Flat32"/> with paging (CR0.WP): one read-only and one missing page at the end of the data area.</summary>
    Paged32,
}

/// <summary>
/// Where the differential harness puts things in physical memory (identity-mapped when paged). Everything a program can
/// write lies below <see cref="Compared"/>, which is what the harness compares.
/// </summary>
internal static class GuestLayout
{
    public const uint GdtBase = 0x500, IdtBase = 0x800;
    /// <summary>Real-mode entry of the protected-mode programs: loads GDTR/IDTR, sets CR0.PE, far-jumps to <see cref="Setup32"/>.</summary>
    public const uint BootStub = 0x1000, Setup32 = 0x2000;
    /// <summary>The 16-bit function a 32-bit program far-calls through <see cref="Code16"/>.</summary>
    public const uint Code16Function = 0x3000;
    /// <summary>Exception stubs (16 bytes per vector), the common logging handler at +0x400, the external one at +0x500.</summary>
    public const uint Handlers = 0x4000, CommonHandler = Handlers + 0x400, ExternalHandler = Handlers + 0x500;
    /// <summary>32-bit programs: the address the handler resumes at (stored before every instruction that may fault), and the log.</summary>
    public const uint Resume32 = 0x7FF0, Log32 = 0x8000;
    /// <summary>32-bit programs: ESP while they run on the 16-bit stack (below 0x7000 in <see cref="Data16"/>).</summary>
    public const uint SavedEsp = 0x7FF4;
    public const uint CodeBase = 0x10000;
    public const uint Data = 0x20000, DataSize = 0x6000, SafeData = 0x4000;
    /// <summary>Paged32 only: the page at Data+0x4000 is read-only (with CR0.WP), Data+0x5000 is not present.</summary>
    public const uint ReadOnlyPage = Data + 0x4000, MissingPage = Data + 0x5000;
    public const uint PageDirectory = 0x50000, PageTable = 0x51000;
    public const uint StackTop = 0x70000;
    public const uint Compared = 0x80000;

    // Real mode: the program runs at 1000:0100; the log and the resume word live in the same segment, far above the code.
    public const ushort RealCs = 0x1000, RealIp = 0x100, RealResume = 0xFFF0, RealLog = 0xF000;
    public const ushort RealDs = 0x2000, RealEs = 0x3000, RealSs = 0x6000, RealSp = 0xFFF0;

    public const ushort Code32 = 0x08, Data32 = 0x10, CallGate = 0x38, Code16 = 0x40, Data16 = 0x48;
    /// <summary>Base 0, limit Data+0x3FFF: FS-relative accesses past the safe data area are #GP(0).</summary>
    public const ushort LimitedData = 0x50;
    /// <summary>Base <see cref="Data"/>: GS-relative accesses land at Data + Data + offset.</summary>
    public const ushort OffsetData = 0x58;
    public const ushort ReadOnlyData = 0x60;
    public const int GdtEntries = 13;

    /// <summary>Vector an external interrupt is delivered on, and the software interrupt programs raise.</summary>
    public const int ExternalVector = 0x30, SoftwareVector = 0x31;

    public static bool HasErrorCode(int vector) => vector is 8 or 10 or 11 or 12 or 13 or 14 or 17;
}
