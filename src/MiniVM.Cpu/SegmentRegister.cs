namespace MiniVM.Cpu;

/// <summary>Segment registers in x86 encoding order (ModRM reg field of MOV Sreg).</summary>
public enum SegmentRegister
{
    Es = 0,
    Cs = 1,
    Ss = 2,
    Ds = 3,
    Fs = 4,
    Gs = 5,
}
