using System.Runtime.CompilerServices;
using Iced.Intel;

namespace MiniVM.Cpu;

/// <summary>
/// A P6-class (Pentium Pro/II) x86 interpreter: instructions are decoded with Iced once per physical address
/// (<see cref="DecodeCache"/>) and executed by a switch over the mnemonic. Memory goes through a small
/// direct-mapped TLB of array references; faults are <see cref="GuestFault"/>s caught by <see cref="Run"/>.
/// </summary>
public sealed partial class X86Cpu
{
    internal const uint CF = 1, PF = 4, AF = 0x10, ZF = 0x40, SF = 0x80, TF = 0x100, IF = 0x200, DF = 0x400, OF = 0x800;
    internal const uint IOPL = 0x3000, NT = 0x4000, RF = 0x10000, VM = 0x20000, AC = 0x40000, VIF = 0x80000, VIP = 0x100000, ID = 0x200000;
    internal const uint ArithFlags = CF | PF | AF | ZF | SF | OF;

    internal const uint CR0_PE = 1, CR0_MP = 2, CR0_EM = 4, CR0_TS = 8, CR0_ET = 0x10, CR0_NE = 0x20, CR0_WP = 0x10000, CR0_AM = 0x40000, CR0_NW = 0x20000000, CR0_CD = 0x40000000, CR0_PG = 0x80000000;
    internal const uint CR4_VME = 1, CR4_PVI = 2, CR4_TSD = 4, CR4_DE = 8, CR4_PSE = 0x10, CR4_PCE = 0x100;

    private readonly PhysicalMemory _mem;
    private readonly ICpuBus _bus;
    private readonly IInterruptController _pic;

    // Architectural state. Fields, not properties: the interpreter touches them on every instruction.
    /// <summary>EAX..EDI, plus R[8] which stays zero: the "no base/index" slot of a pre-decoded memory operand.</summary>
    internal readonly uint[] R = new uint[9];
    internal uint Eip_;
    internal readonly SegmentCache[] S = new SegmentCache[6];
    internal uint Cr0_, Cr2_, Cr3_, Cr4_;
    internal uint GdtBase, GdtLimit, IdtBase, IdtLimit;
    internal SegmentCache Ldtr, Tr;
    internal readonly uint[] Dr = new uint[8];
    internal int Cpl;
    internal bool Halted_;
    /// <summary>Interrupts are inhibited for the instruction after MOV SS / POP SS / STI (SDM vol. 3 §6.8.3).</summary>
    internal bool Shadow;
    internal long TscOffset;
    internal ulong InstructionCount_;
    private bool _a20 = true;
    private uint _a20Mask = 0xFFFFFFFF;

    /// <summary>Code size of the current CS (16 or 32); cached because the decoder needs it per instruction.</summary>
    internal int CodeBits = 16;

    /// <summary><see cref="DecodedPage.Code32Flag"/> when <see cref="CodeBits"/> is 32, else 0: what a cached entry must match.</summary>
    private int _codeFlag;

    /// <summary>Copies of CS base and limit for the fetch path; refreshed by <see cref="UpdateCodeBits"/> on every CS load.</summary>
    internal uint CsBase, CsLimit;

    public X86Cpu(PhysicalMemory memory, ICpuBus bus, IInterruptController interrupts)
    {
        _mem = memory;
        _bus = bus;
        _pic = interrupts;
        if (interrupts is IInterruptLineSignal signal)
        {
            _intrSignalled = true;
            signal.LineChanged += () => _intrMayBePending = true;
        }
        memory.Bus ??= bus;
        _dec16 = Decoder.Create(16, _codeReader, 0, DecoderOptions.None);
        _dec32 = Decoder.Create(32, _codeReader, 0, DecoderOptions.None);
        _fpuMemory = new FpuOperandAccess(this);
        InitFpu();
        AllocateTlb();
        Reset();
    }

    public PhysicalMemory Memory => _mem;

    /// <summary>Raised when the CPU shuts down after a triple fault; the machine should reset (SDM vol. 3 §6.15, #DF).</summary>
    public event Action? ShutdownRequested;

    /// <summary>Set by a triple fault until the next <see cref="Reset"/>; <see cref="Run"/> does nothing while set.</summary>
    public bool ShutdownPending { get; private set; }

    public bool Halted => Halted_;
    /// <summary>
    /// Instructions completed, counting those of the Run call in progress: a device the CPU reaches mid-slice (a port,
    /// MMIO, RDTSC) sees the time of the instruction now executing, not of the slice's start.
    /// </summary>
    public ulong InstructionCount => InstructionCount_ + (ulong)(_sliceDone + _uninterruptedDone);

    /// <summary>A20 gate (port 0x92 / 8042). When off, physical address bit 20 is forced to 0.</summary>
    public bool A20Enabled
    {
        get => _a20;
        set
        {
            if (_a20 == value) return;
            _a20 = value;
            _a20Mask = value ? 0xFFFFFFFF : ~(1u << 20);
            FlushTlb();
        }
    }

    // ---- register access for tests, the monitor and the machine ----
    public uint Eax { get => R[0]; set => R[0] = value; }
    public uint Ecx { get => R[1]; set => R[1] = value; }
    public uint Edx { get => R[2]; set => R[2] = value; }
    public uint Ebx { get => R[3]; set => R[3] = value; }
    public uint Esp { get => R[4]; set => R[4] = value; }
    public uint Ebp { get => R[5]; set => R[5] = value; }
    public uint Esi { get => R[6]; set => R[6] = value; }
    public uint Edi { get => R[7]; set => R[7] = value; }
    public uint Eip { get => Eip_; set => Eip_ = value; }
    public uint Eflags { get => Flags_; set => Flags_ = (value & 0x3F7FD5) | 2; }
    public uint Cr0 => Cr0_;
    public uint Cr2 => Cr2_;
    public uint Cr3 => Cr3_;
    public uint Cr4 => Cr4_;
    public int CurrentPrivilegeLevel => Cpl;
    public bool ProtectedMode => (Cr0_ & CR0_PE) != 0;
    public bool Virtual8086Mode => (Flags_ & VM) != 0;
    public (uint Base, uint Limit) Gdtr => (GdtBase, GdtLimit);
    public (uint Base, uint Limit) Idtr => (IdtBase, IdtLimit);
    public SegmentCache LdtRegister => Ldtr;
    public SegmentCache TaskRegister => Tr;
    /// <summary>DR0-DR7 as the guest last wrote them (the monitor's register dump).</summary>
    public uint GetDebugRegister(int n) => Dr[n & 7];
    /// <summary>Interrupts are held off for one instruction (after STI or a load of SS), QEMU's II flag.</summary>
    public bool InterruptShadow => Shadow;

    public uint GetRegister(GeneralRegister r) => R[(int)r];
    public void SetRegister(GeneralRegister r, uint value) => R[(int)r] = value;
    public SegmentCache GetSegment(SegmentRegister s) => S[(int)s];

    /// <summary>Loads a segment register the real-mode way (base = selector × 16), for tests and the machine.</summary>
    public void SetSegmentReal(SegmentRegister s, ushort selector)
    {
        ref var c = ref S[(int)s];
        c.Selector = selector;
        c.Base = (uint)selector << 4;
        SegAccess[(int)s] = SegRead | SegWrite;
        if (s == SegmentRegister.Cs) UpdateCodeBits();
    }

    /// <summary>Loads a segment register cache directly (tests, state restore).</summary>
    public void SetSegment(SegmentRegister s, SegmentCache cache)
    {
        S[(int)s] = cache;
        SegAccess[(int)s] = ProtectedMode && !Virtual8086Mode ? AccessOf(in cache) : (byte)(SegRead | SegWrite);
        if (s == SegmentRegister.Cs) UpdateCodeBits();
        if (s == SegmentRegister.Ss || s == SegmentRegister.Cs) UpdateCplFromSegments();
    }

    /// <summary>Power-on / RESET# state (SDM vol. 3 §9.1.1): CS:IP = F000:FFF0 with base FFFF0000, real mode.</summary>
    public void Reset()
    {
        Array.Clear(R);
        R[2] = 0x0633; // EDX = family 6, model 3, stepping 3 (same signature CPUID reports)
        Eip_ = 0xFFF0;
        Flags_ = 2;
        for (int i = 0; i < 6; i++)
            S[i] = new SegmentCache { Selector = 0, Base = 0, Limit = 0xFFFF, Attributes = 0x93 };
        S[1] = new SegmentCache { Selector = 0xF000, Base = 0xFFFF0000, Limit = 0xFFFF, Attributes = 0x9B };
        Array.Fill(SegAccess, (byte)(SegRead | SegWrite));
        Cr0_ = 0x60000010;
        Cr2_ = Cr3_ = Cr4_ = 0;
        GdtBase = IdtBase = 0;
        GdtLimit = IdtLimit = 0xFFFF;
        Ldtr = new SegmentCache { Limit = 0xFFFF, Attributes = 0x82 };
        Tr = new SegmentCache { Limit = 0xFFFF, Attributes = 0x8B };
        Array.Clear(Dr);
        Dr[6] = 0xFFFF0FF0;
        Dr[7] = 0x400;
        Cpl = 0;
        Halted_ = false;
        Shadow = false;
        _intrMayBePending = true;
        _nmiPending = NmiBlocked = false;
        TscOffset = 0;
        ShutdownPending = false;
        LastExceptionVector = -1;
        _ferr = false;
        _dataHits = 0;
        _fpu.Reset();
        ResetPerfCounters();
        UpdateAccessChecks();
        UpdateCodeBits();
        FlushTlb();
        DropTranslations(eviction: false);
    }

    internal void UpdateCodeBits()
    {
        CodeBits = (Cr0_ & CR0_PE) != 0 && (_flags & VM) == 0 && S[1].Big ? 32 : 16;
        _codeFlag = CodeBits == 32 ? DecodedPage.Code32Flag : 0;
        CsBase = S[1].Base;
        CsLimit = S[1].Limit;
    }

    private void UpdateCplFromSegments()
    {
        int cpl = (Cr0_ & CR0_PE) == 0 ? 0 : (Flags_ & VM) != 0 ? 3 : S[1].Selector & 3;
        SetCpl(cpl);
    }

    internal void SetCpl(int cpl)
    {
        if (cpl == Cpl) return;
        Cpl = cpl;
        UpdateAccessChecks();
        _fetchPage = uint.MaxValue;
    }

    /// <summary>
    /// Executes up to <paramref name="maxInstructions"/> instructions. Returns early (with the count so far) when
    /// the CPU halts with no deliverable interrupt or shuts down; the machine then advances its clock.
    /// </summary>
    public int Run(int maxInstructions)
    {
        if (ShutdownPending) return 0;
        if (_mapGeneration != _mem.MapGeneration) FlushTlb();
        int executed = RunSlice(maxInstructions);
        InstructionCount_ += (ulong)executed;
        _sliceDone = 0;
        return executed;
    }

    /// <summary>Instructions the Run call in progress completed before the current Step or RunUninterrupted call.</summary>
    private int _sliceDone;

    private int RunSlice(int maxInstructions)
    {
        int executed = 0;
        while (executed < maxInstructions)
        {
            _sliceDone = executed;
            if (Halted_)
            {
                if (NmiDeliverable)
                {
                    DeliverNmi();
                    continue;
                }
                if ((_flags & IF) != 0 && _pic.InterruptPending)
                {
                    Halted_ = false;
                    DeliverExternalInterrupt();
                    continue;
                }
                break;
            }
            try
            {
                while (executed < maxInstructions)
                {
                    _sliceDone = executed;
                    if (Uninterrupted)
                    {
                        UpdateAccessChecks(); // EFLAGS.AC may have been cleared by the careful loop's last instruction
                        executed += RunUninterrupted(maxInstructions - executed);
                        if (Halted_) break;
                        continue;
                    }
                    if (NmiDeliverable && !Shadow)
                    {
                        DeliverNmi();
                        if (ShutdownPending) return executed;
                    }
                    else if ((_flags & IF) != 0 && !Shadow)
                    {
                        if (_pic.InterruptPending)
                        {
                            DeliverExternalInterrupt();
                            if (ShutdownPending) return executed;
                        }
                        else if (_intrSignalled) _intrMayBePending = false;
                    }
                    if (InstructionBreakpoint())
                    {
                        // Counted like a faulting instruction: a breakpoint on its own handler's first instruction
                        // cannot spin here without using up the budget.
                        executed++;
                        if (ShutdownPending) return executed;
                        continue;
                    }
                    Shadow = false;
                    bool trap = (_flags & TF) != 0;
                    if (_engine == CpuEngine.Jit) _jitOutside[(int)OutsideBlockReason.Careful]++;
                    Step();
                    executed++;
                    if (!DataBreakpointTrap(trap && !Halted_) && trap && !Halted_ && !Shadow)
                    {
                        Dr[6] |= 0x4000; // BS: single-step trap after the instruction (SDM vol. 3 §17.3.1.4)
                        RaiseException(1, -1);
                    }
                    if (Halted_ || ShutdownPending) break;
                }
            }
            catch (GuestFault f)
            {
                // The faulting instruction counts, as do those RunUninterrupted finished before it.
                executed += _uninterruptedDone + 1;
                _uninterruptedDone = 0;
                _sliceDone = executed;
                Shadow = false;
                _dataHits = 0;
                Eip_ = _startEip;
                R[4] = _startEsp;
                // Every fault pushes RF = 1, so the restarted instruction does not hit its instruction breakpoint
                // again (SDM §17.3.1.1); the delivery then clears RF.
                _flags |= RF;
                RaiseException(f.Vector, f.ErrorCode);
            }
            if (ShutdownPending) break;
        }
        return executed;
    }

    /// <summary>
    /// True when nothing can interrupt or trap before the next instruction: no TF or RF (nor AC while alignment
    /// checking is armed), no enabled breakpoint, no interrupt shadow, and either IF = 0 or INTR known to be low.
    /// </summary>
    private bool Uninterrupted
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (_flags & _stopFlags) == 0 && !_breakpointsArmed && !Shadow && ((_flags & IF) == 0 || !_intrMayBePending) && !_nmiPending;
    }

    /// <summary>Instructions RunUninterrupted completed in its current call, for the fault handler's count.</summary>
    private int _uninterruptedDone;

    /// <summary>
    /// The common case as a loop with no exception handler of its own (so the JIT keeps its state in registers):
    /// runs until the budget is spent, the CPU halts, or something may interrupt (STI, TF, MOV SS, INTR).
    /// </summary>
    private int RunUninterrupted(int budget)
    {
        if (_engine == CpuEngine.Jit) return RunUninterruptedJit(budget);
        int n = 0;
        do
        {
            _uninterruptedDone = n;
            Step();
            n++;
        }
        while (n < budget && !Halted_ && Uninterrupted);
        _uninterruptedDone = 0;
        return n;
    }

    private uint _startEip, _startEsp;

    /// <summary>The controller announces INTR changes (<see cref="IInterruptLineSignal"/>).</summary>
    private readonly bool _intrSignalled;

    /// <summary>
    /// False only while INTR is known to be low: cleared when a poll finds it low (announcing controllers only),
    /// set again by every announced change.
    /// </summary>
    private bool _intrMayBePending = true;

    /// <summary>Fetches, decodes (or finds in the cache) and executes one instruction.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Step()
    {
        _startEip = Eip_;
        _startEsp = Gpr(4);
        Execute(ref Fetch());
    }

    internal void RequestShutdown()
    {
        ShutdownPending = true;
        ShutdownRequested?.Invoke();
    }
}
