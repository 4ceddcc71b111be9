namespace MiniVM.Cpu;

/// <summary>
/// An x86 exception raised while executing guest code (#GP, #PF, ...). It never leaves the CPU: the run loop
/// catches it and delivers the vector to the guest through the IDT/IVT.
/// </summary>
public sealed class GuestFault : Exception
{
    public GuestFault(int vector, int errorCode = -1) : base(DescribeVector(vector))
    {
        Vector = vector;
        ErrorCode = errorCode;
    }

    public int Vector { get; }

    /// <summary>The error code pushed with the exception, or -1 when the vector pushes none.</summary>
    public int ErrorCode { get; }

    public bool HasErrorCode => ErrorCode >= 0;

    public static string DescribeVector(int vector) => vector switch
    {
        0 => "#DE divide error",
        1 => "#DB debug",
        3 => "#BP breakpoint",
        4 => "#OF overflow",
        5 => "#BR bound range",
        6 => "#UD invalid opcode",
        7 => "#NM device not available",
        8 => "#DF double fault",
        10 => "#TS invalid TSS",
        11 => "#NP segment not present",
        12 => "#SS stack fault",
        13 => "#GP general protection",
        14 => "#PF page fault",
        16 => "#MF x87 error",
        17 => "#AC alignment check",
        _ => $"vector {vector}",
    };
}
