namespace MiniVM.Cpu.Fpu;

/// <summary>How a compare reports: FCOM signals invalid on any NaN, FUCOM only on SNaN; the *I forms write EFLAGS.</summary>
internal enum CompareKind
{
    Ordered,
    Unordered,
    OrderedEflags,
    UnorderedEflags,
}
