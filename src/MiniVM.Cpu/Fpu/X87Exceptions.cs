namespace MiniVM.Cpu.Fpu;

/// <summary>Exception flags as laid out in the low bits of the status word (SDM vol. 1 §8.1.3.1);
/// the first six are also the mask bits of the control word.</summary>
[Flags]
public enum X87Exceptions : ushort
{
    None = 0,
    Invalid = 0x01,
    Denormal = 0x02,
    ZeroDivide = 0x04,
    Overflow = 0x08,
    Underflow = 0x10,
    Precision = 0x20,
    StackFault = 0x40,
}
