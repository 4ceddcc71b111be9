using Iced.Intel;

namespace MiniVM.Cpu;

// Debug registers DR0-DR3/DR6/DR7 (SDM vol. 3 §17.2-17.3) and the alignment check (#AC, §6.15 "Interrupt 17").
// Both need a look at every data access. The hot paths (the TLB probes, RunUninterrupted and the translated blocks
// it enters) stay as they are: while a breakpoint is enabled in DR7, or alignment checking is in force (CR0.AM,
// EFLAGS.AC, CPL 3), _tlbUser points at a TLB region that is never filled, so every data access takes the slow
// path, which checks it; and Uninterrupted is false, so each instruction goes through RunSlice's careful loop, which
// checks instruction breakpoints, manages RF and delivers the data-breakpoint trap — no translated block runs.
public sealed partial class X86Cpu
{
    /// <summary>Offset of the TLB region no entry is ever written to: every probe misses (see the file comment).</summary>
    private const int CheckedTlb = 2 * TlbEntries;

    private const uint Dr6Bd = 0x2000, Dr6Bs = 0x4000, Dr7Gd = 0x2000;

    /// <summary>A breakpoint is enabled (DR7 L0-L3/G0-G3).</summary>
    private bool _breakpointsArmed;

    /// <summary>CR0.AM at CPL 3: EFLAGS.AC then turns alignment checking on.</summary>
    private bool _alignmentArmed;

    /// <summary>EFLAGS bits that end an uninterrupted run: TF (single step), RF (cleared by the careful loop) and AC
    /// while alignment checking is armed.</summary>
    private uint _stopFlags = TF | RF;

    /// <summary>B0-B3 of the data breakpoints the instruction in progress has hit (a trap after it completes).</summary>
    private uint _dataHits;

    private bool AlignmentChecking => _alignmentArmed && (_flags & AC) != 0;

    /// <summary>Re-derives the checking state after DR7, CR0, the CPL or EFLAGS.AC may have changed.</summary>
    internal void UpdateAccessChecks()
    {
        _breakpointsArmed = (Dr[7] & 0xFF) != 0;
        _alignmentArmed = (Cr0_ & CR0_AM) != 0 && Cpl == 3;
        _stopFlags = TF | RF | (_alignmentArmed ? AC : 0);
        _tlbUser = _breakpointsArmed || AlignmentChecking ? CheckedTlb : Cpl == 3 ? TlbEntries : 0;
        SelectTlbRegion();
    }

    /// <summary>A data access on the slow path while checking: #AC for a misaligned operand, breakpoint hits noted.</summary>
    private void CheckDataAccess(uint lin, int size, bool write)
    {
        // Table 6-7: a word must be 2-aligned, a doubleword 4-aligned.
        if (AlignmentChecking && (lin & (uint)(size - 1)) != 0) throw new GuestFault(17, 0);
        if (_breakpointsArmed) _dataHits |= MatchBreakpoints(lin, (uint)size, write ? 1u : 3u);
    }

    /// <summary>
    /// A port access by IN, OUT, INS or OUTS: with CR4.DE set, R/W = 10 breakpoints watch I/O ports (the port number in
    /// DRn, LEN as for data); a hit is a #DB trap after the instruction, or after the iteration of a REP INS/OUTS
    /// (SDM vol. 3 §17.2.4, §17.3.1.2). Without CR4.DE, R/W = 10 is undefined and matches nothing here.
    /// </summary>
    private void CheckIoAccess(ushort port, int size)
    {
        if (_breakpointsArmed && (Cr4_ & CR4_DE) != 0) _dataHits |= MatchBreakpoints(port, (uint)size, 2);
    }

    /// <summary>
    /// B0-B3 for the enabled breakpoints of the given R/W kind (0 execute, 1 write, 2 I/O, 3 read/write; a read/write
    /// breakpoint also matches writes) whose range overlaps [lin, lin+size). LEN 00/01/11 = 1/2/4 bytes, the address
    /// aligned down to it (SDM §17.2.5); LEN 10 is undefined on a P6 and taken as 8 bytes, as later processors do.
    /// </summary>
    private uint MatchBreakpoints(uint lin, uint size, uint kind)
    {
        uint dr7 = Dr[7], hits = 0;
        for (int n = 0; n < 4; n++)
        {
            if (((dr7 >> (2 * n)) & 3) == 0) continue;
            uint rw = (dr7 >> (16 + 4 * n)) & 3;
            if (kind is 0 or 2 ? rw != kind : !(rw == 3 || (rw == 1 && kind == 1))) continue;
            uint len = ((dr7 >> (18 + 4 * n)) & 3) switch { 0 => 1u, 1 => 2u, 2 => 8u, _ => 4u };
            ulong start = Dr[n] & ~(len - 1);
            if ((ulong)lin <= start + len - 1 && (ulong)lin + size - 1 >= start) hits |= 1u << n;
        }
        return hits;
    }

    /// <summary>
    /// What the careful loop does before each instruction: an instruction breakpoint at CS:EIP raises #DB as a fault
    /// (EIP unchanged, RF pushed as it is) unless RF is set; then RF is cleared, as at the start of every instruction
    /// (SDM §17.3.1.1). Returns true when the #DB was delivered instead of the instruction.
    /// </summary>
    private bool InstructionBreakpoint()
    {
        UpdateAccessChecks(); // EFLAGS.AC may have changed since the last look (POPF, IRET)
        if ((_flags & RF) != 0)
        {
            _flags &= ~RF;
            return false;
        }
        if (!_breakpointsArmed) return false;
        uint hits = MatchBreakpoints(CsBase + Eip_, 1, 0);
        if (hits == 0) return false;
        Dr[6] = (Dr[6] & ~0xFu) | hits;
        RaiseException(1, -1);
        return true;
    }

    /// <summary>After an instruction completed: data breakpoints it hit (and a pending single step) as one #DB trap.</summary>
    private bool DataBreakpointTrap(bool singleStep)
    {
        if (_dataHits == 0 || Shadow) return false; // after MOV SS the trap waits one instruction (SDM §6.8.3)
        Dr[6] = (Dr[6] & ~0xFu) | _dataHits | (singleStep ? Dr6Bs : 0);
        _dataHits = 0;
        RaiseException(1, -1);
        return true;
    }

    private void ReadDebugRegister(in Instruction ins)
    {
        RequireCpl0();
        int n = DebugIndex(ins.Op1Register - Register.DR0);
        GeneralDetect();
        SetReg(ins.Op0Register, Dr[n]);
    }

    private void WriteDebugRegister(in Instruction ins)
    {
        RequireCpl0();
        int n = DebugIndex(ins.Op0Register - Register.DR0);
        GeneralDetect();
        uint v = GetReg(ins.Op1Register);
        if (n == 6) v = (v & 0xE00F) | 0xFFFF0FF0;
        else if (n == 7) v = (v & 0xFFFF2BFF) | 0x400;
        Dr[n] = v;
        if (n == 7) UpdateAccessChecks();
    }

    /// <summary>DR7.GD: any MOV to or from a debug register is a #DB fault with DR6.BD; GD is cleared so the
    /// handler itself can use them (SDM §17.2.4).</summary>
    private void GeneralDetect()
    {
        if ((Dr[7] & Dr7Gd) == 0) return;
        Dr[6] |= Dr6Bd;
        Dr[7] &= ~Dr7Gd;
        throw new GuestFault(1);
    }

    /// <summary>DR4/DR5 alias DR6/DR7 unless CR4.DE is set, when they are #UD (SDM vol. 3 §17.2.2).</summary>
    private int DebugIndex(int n)
    {
        if (n is 4 or 5)
        {
            if ((Cr4_ & CR4_DE) != 0) throw new GuestFault(6);
            return n + 2;
        }
        if (n < 0 || n > 7) throw new GuestFault(6);
        return n;
    }
}
