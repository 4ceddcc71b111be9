namespace MiniVM.Cpu;

/// <summary>32-bit general registers in x86 encoding order.</summary>
public enum GeneralRegister
{
    Eax = 0,
    Ecx = 1,
    Edx = 2,
    Ebx = 3,
    Esp = 4,
    Ebp = 5,
    Esi = 6,
    Edi = 7,
}
