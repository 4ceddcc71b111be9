namespace MiniVM.Cpu;

// The P6 performance-monitoring counters (SDM vol. 3, "Performance Monitoring (P6 Family Processor)"; RDPMC in
// vol. 2): PerfEvtSel0/1 (MSRs 0x186/0x187) choose the event, PerfCtr0/1 (MSRs 0xC1/0xC2) are 40-bit counters, and
// the EN bit of PerfEvtSel0 enables both counters (bit 22 of PerfEvtSel1 is reserved and has no effect).
//
// What is counted: event 0xC0 (INST_RETIRED) and event 0x79 (CPU_CLK_UNHALTED, counted as instructions, exactly as
// the virtual clock counts time) advance by the CPU's exact instruction count while enabled, so both engines and
// savevm/loadvm agree to the instruction. Nothing is added to the hot loop: a counter keeps the value it had at its
// last write (or enable/disable) and the instruction count at that moment, and a read adds the instructions since.
// A REP string chunk counts as one instruction, as in InstructionCount. Not modelled (so the counter keeps its
// value): every other event, the USR/OS privilege filters (an enabled counting event counts at every CPL as long
// as USR or OS is set), E/INV/CMASK, and counter-overflow interrupts: the INT bit is kept but the local APIC's LVT
// performance entry never fires (Linux's perf then sees its counters only through RDPMC, and its NMI watchdog never
// triggers).
public sealed partial class X86Cpu
{
    private const uint MsrPerfCtr0 = 0xC1, MsrPerfCtr1 = 0xC2, MsrPerfEvtSel0 = 0x186, MsrPerfEvtSel1 = 0x187;
    private const ulong PerfCounterMask = (1UL << 40) - 1;
    private const uint PerfUsr = 1 << 16, PerfOs = 1 << 17, PerfEnable = 1 << 22;
    private const uint EventInstructionsRetired = 0xC0, EventClockUnhalted = 0x79;

    private readonly uint[] _perfEvtSel = new uint[2];
    /// <summary>Each counter's value at <see cref="_perfBase"/> (40 bits).</summary>
    private readonly ulong[] _perfCtr = new ulong[2];
    /// <summary>The instruction count at which <see cref="_perfCtr"/> was last brought up to date.</summary>
    private readonly ulong[] _perfBase = new ulong[2];

    private bool PerfCounting(int k)
    {
        uint sel = _perfEvtSel[k];
        uint ev = sel & 0xFF;
        return (_perfEvtSel[0] & PerfEnable) != 0 && (sel & (PerfUsr | PerfOs)) != 0
            && ev is EventInstructionsRetired or EventClockUnhalted;
    }

    private ulong ReadPerfCounter(int k) =>
        PerfCounting(k) ? (_perfCtr[k] + (InstructionCount - _perfBase[k])) & PerfCounterMask : _perfCtr[k];

    /// <summary>Brings both counters up to date before something changes what or whether they count.</summary>
    private void SettlePerfCounters()
    {
        ulong now = InstructionCount;
        for (int k = 0; k < 2; k++)
        {
            _perfCtr[k] = ReadPerfCounter(k);
            _perfBase[k] = now;
        }
    }

    /// <summary>WRMSR writes the low 32 bits and sign-extends bit 31 into bits 32-39 (EDX is ignored), as on a P6.</summary>
    private void WritePerfCounter(int k, uint low)
    {
        SettlePerfCounters();
        _perfCtr[k] = (ulong)(long)(int)low & PerfCounterMask;
    }

    private void WritePerfEventSelect(int k, uint v)
    {
        SettlePerfCounters();
        _perfEvtSel[k] = v;
    }

    /// <summary>
    /// RDPMC: ECX 0 or 1 selects the counter, EDX:EAX = its 40 bits. #GP(0) for any other ECX, and at CPL &gt; 0
    /// (protected or virtual-8086 mode) unless CR4.PCE is set.
    /// </summary>
    private void ExecRdpmc()
    {
        if ((Cr4_ & CR4_PCE) == 0 && Cpl != 0 && ProtectedMode) throw new GuestFault(13, 0);
        if (R[1] > 1) throw new GuestFault(13, 0);
        ulong v = ReadPerfCounter((int)R[1]);
        R[0] = (uint)v;
        R[2] = (uint)(v >> 32);
    }

    private void ResetPerfCounters()
    {
        Array.Clear(_perfEvtSel);
        Array.Clear(_perfCtr);
        Array.Clear(_perfBase);
    }

    private void SavePerfCounters(BinaryWriter w)
    {
        for (int k = 0; k < 2; k++) w.Write(_perfEvtSel[k]);
        for (int k = 0; k < 2; k++) w.Write(ReadPerfCounter(k));
    }

    /// <summary>Reads what <see cref="SavePerfCounters"/> wrote; applied by <see cref="RestorePerfCounters"/> once the record is whole.</summary>
    private static (uint Sel0, uint Sel1, ulong Ctr0, ulong Ctr1) ReadPerfCounters(BinaryReader r)
    {
        uint s0 = r.ReadUInt32(), s1 = r.ReadUInt32();
        ulong c0 = r.ReadUInt64(), c1 = r.ReadUInt64();
        if (c0 > PerfCounterMask || c1 > PerfCounterMask)
            throw new InvalidDataException("CPU state: a performance counter holds more than 40 bits");
        return (s0, s1, c0, c1);
    }

    private void RestorePerfCounters((uint Sel0, uint Sel1, ulong Ctr0, ulong Ctr1) p)
    {
        _perfEvtSel[0] = p.Sel0; _perfEvtSel[1] = p.Sel1;
        _perfCtr[0] = p.Ctr0; _perfCtr[1] = p.Ctr1;
        _perfBase[0] = _perfBase[1] = InstructionCount;
    }
}
