namespace MiniVM.Cpu;

// Interrupt and exception delivery through the IVT (real mode) or IDT gates (SDM vol. 3 §6.12), double and
// triple faults (§6.15), and hardware task switching (§7.3).
public sealed partial class X86Cpu
{
    private void DeliverExternalInterrupt()
    {
        byte vector = _pic.AcknowledgeInterrupt();
        Halted_ = false;
        try { DeliverInterrupt(vector, InterruptSource.External, -1); }
        catch (GuestFault f) { RaiseNested(f); }
    }

    /// <summary>An NMI is latched until delivered (edge-triggered, SDM vol. 3 §6.7.1).</summary>
    private bool _nmiPending;

    /// <summary>Set while an NMI handler runs: further NMIs wait for the next IRET (SDM vol. 3 §6.7.1).</summary>
    internal bool NmiBlocked;

    /// <summary>The NMI input (the local APIC's LINT1 or an NMI message): delivered as vector 2 before the next instruction.</summary>
    public void RaiseNmi()
    {
        _nmiPending = true;
        _intrMayBePending = true;
    }

    private bool NmiDeliverable => _nmiPending && !NmiBlocked;

    private void DeliverNmi()
    {
        _nmiPending = false;
        NmiBlocked = true;
        Halted_ = false;
        try { DeliverInterrupt(2, InterruptSource.External, -1); }
        catch (GuestFault f) { RaiseNested(f); }
    }

    private void SoftwareInterrupt(int vector, InterruptSource src)
    {
        if ((Flags_ & VM) != 0 && src == InterruptSource.Software)
        {
            if ((Cr4_ & CR4_VME) != 0 && IsRedirectedInV86(vector))
            {
                // VME: the interrupt goes to the V86 task's own IVT (SDM vol. 3 §20.3.3).
                uint fl = Flags_ & 0xFFFF;
                if ((Flags_ & IOPL) != IOPL) fl = (fl & ~IF) | IOPL | ((Flags_ & VIF) != 0 ? IF : 0);
                Push(fl, 2);
                Push(S[1].Selector, 2);
                Push(Eip_, 2);
                uint ip = ReadLin16((uint)vector * 4), cs = ReadLin16((uint)vector * 4 + 2);
                LoadSegmentRealStyle(1, (ushort)cs);
                Eip_ = ip;
                if ((Flags_ & IOPL) == IOPL) Flags_ &= ~IF; else Flags_ &= ~VIF;
                Flags_ &= ~(TF | RF);
                return;
            }
            if ((Flags_ & IOPL) != IOPL) throw new GuestFault(13, 0);
        }
        DeliverInterrupt(vector, src, -1);
    }

    private bool IsRedirectedInV86(int vector)
    {
        if ((Tr.Type & 0xD) != 9 || Tr.Limit < 103) throw new GuestFault(13, 0);
        uint bitmap = ReadSys16(Tr.Base + 102);
        uint redir = bitmap - 32 + (uint)(vector >> 3);
        if (redir > Tr.Limit) throw new GuestFault(13, 0);
        return (ReadSys8(Tr.Base + redir) & (1 << (vector & 7))) == 0;
    }

    /// <summary>The most recent CPU exception delivered (or -1), for tests and the monitor.</summary>
    public int LastExceptionVector { get; private set; } = -1;

    /// <summary>Every CPU exception as it is delivered (vector, error code or -1): for the monitor and tests.</summary>
    public event Action<int, int>? ExceptionRaised;

    private static bool IsContributory(int v) => v is 0 or 10 or 11 or 12 or 13;

    /// <summary>Delivers an exception, escalating to #DF and then shutdown (triple fault) as SDM Table 6-5 says.</summary>
    internal void RaiseException(int vector, int errorCode)
    {
        Halted_ = false;
        LastExceptionVector = vector;
        ExceptionRaised?.Invoke(vector, errorCode);
        try { DeliverInterrupt(vector, InterruptSource.Exception, errorCode); }
        catch (GuestFault second)
        {
            if (vector == 8) { RequestShutdown(); return; }
            bool dbl = (IsContributory(vector) && IsContributory(second.Vector)) || (vector == 14 && (IsContributory(second.Vector) || second.Vector == 14));
            if (dbl) RaiseException(8, 0);
            else RaiseException(second.Vector, second.ErrorCode);
        }
    }

    private void RaiseNested(GuestFault f) => RaiseException(f.Vector, f.ErrorCode);

    internal void DeliverInterrupt(int vector, InterruptSource src, int errorCode)
    {
        if (!PagingOrProtected)
        {
            if ((uint)vector * 4 + 3 > IdtLimit) throw new GuestFault(13, 0);
            uint entry = ReadLinear(IdtBase + (uint)vector * 4, 4, false, false);
            Push(Flags_ & 0xFFFF, 2);
            Push(S[1].Selector, 2);
            Push(Eip_, 2);
            LoadSegmentRealStyle(1, (ushort)(entry >> 16));
            Eip_ = entry & 0xFFFF;
            Flags_ &= ~(IF | TF | AC | RF);
            return;
        }
        int ext = src is InterruptSource.External or InterruptSource.Exception or InterruptSource.Icebp ? 1 : 0;
        int idtErr = vector * 8 + 2 + ext;
        if ((uint)vector * 8 + 7 > IdtLimit) throw new GuestFault(13, idtErr);
        ulong gate = ReadSys32(IdtBase + (uint)vector * 8) | ((ulong)ReadSys32(IdtBase + (uint)vector * 8 + 4) << 32);
        int type = (int)(gate >> 40) & 0x1F;
        int gdpl = (int)(gate >> 45) & 3;
        if (type is not (0x05 or 0x06 or 0x07 or 0x0E or 0x0F)) throw new GuestFault(13, idtErr);
        if (src is InterruptSource.Software or InterruptSource.Breakpoint && gdpl < Cpl) throw new GuestFault(13, vector * 8 + 2);
        if ((gate & (1UL << 47)) == 0) throw new GuestFault(11, idtErr);
        if (type == 0x05)
        {
            ushort tss = (ushort)(gate >> 16);
            SwitchTask(tss, ReadTaskDescriptor(tss), TaskSwitchReason.Interrupt, errorCode);
            return;
        }
        ushort sel = (ushort)(gate >> 16);
        uint offset = (uint)(gate & 0xFFFF) | ((type & 8) != 0 ? (uint)(gate >> 32) & 0xFFFF0000 : 0);
        int gsize = (type & 8) != 0 ? 4 : 2;
        if ((sel & 0xFFFC) == 0) throw new GuestFault(13, ext);
        ulong d = ReadDescriptor(sel, 13);
        var c = FromDescriptor(sel, d);
        int cerr = (sel & 0xFFFC) | ext;
        if (!c.IsCode || c.IsSystem || c.Dpl > Cpl) throw new GuestFault(13, cerr);
        if (!c.Present) throw new GuestFault(11, cerr);
        if (offset > c.Limit) throw new GuestFault(13, ext);
        bool conforming = (c.Type & 4) != 0;
        uint oldFlags = Flags_;
        ushort oldCs = S[1].Selector;
        uint oldEip = Eip_;
        bool fromV86 = (Flags_ & VM) != 0;
        var snapshot = Snapshot();
        try
        {
            if (!conforming && c.Dpl < Cpl)
            {
                if (fromV86 && c.Dpl != 0) throw new GuestFault(13, cerr);
                int newCpl = c.Dpl;
                var (nss, nesp) = StackFromTss(newCpl);
                var ssCache = CheckStackForPrivilege(nss, newCpl, 10);
                ushort oldSs = S[2].Selector;
                uint oldEsp = R[4];
                SetAccessed(sel, d);
                Flags_ &= ~VM;
                S[2] = ssCache;
                SegAccess[2] = AccessOf(in ssCache);
                R[4] = ssCache.Big ? nesp : (R[4] & 0xFFFF0000) | (nesp & 0xFFFF);
                SetCpl(newCpl);
                if (fromV86)
                {
                    Push(S[5].Selector, gsize);
                    Push(S[4].Selector, gsize);
                    Push(S[3].Selector, gsize);
                    Push(S[0].Selector, gsize);
                    foreach (int seg in stackalloc int[] { 0, 3, 4, 5 })
                    {
                        S[seg] = new SegmentCache { Selector = 0 };
                        SegAccess[seg] = 0;
                    }
                }
                Push(oldSs, gsize);
                Push(oldEsp, gsize);
                Push(oldFlags, gsize);
                Push(oldCs, gsize);
                Push(oldEip, gsize);
                if (errorCode >= 0) Push((uint)errorCode, gsize);
                LoadCs(in c, sel, newCpl);
            }
            else
            {
                if (fromV86) throw new GuestFault(13, cerr);
                Push(oldFlags, gsize);
                Push(oldCs, gsize);
                Push(oldEip, gsize);
                if (errorCode >= 0) Push((uint)errorCode, gsize);
                SetAccessed(sel, d);
                LoadCs(in c, sel, Cpl);
            }
        }
        catch (GuestFault)
        {
            Restore(in snapshot);
            throw;
        }
        Eip_ = offset;
        Flags_ &= ~(TF | NT | RF | VM);
        if ((type & 1) == 0) Flags_ &= ~IF;
        UpdateCodeBits();
    }

    /// <summary>Hardware task switch (SDM vol. 3 §7.3): saves the current task in its TSS, loads the new one.</summary>
    private void SwitchTask(ushort sel, ulong d, TaskSwitchReason reason, int errorCode)
    {
        var nt = FromDescriptor(sel, d);
        int type = nt.Type;
        int err = sel & 0xFFFC;
        if (nt.IsSystem == false) throw new GuestFault(13, err);
        if (reason == TaskSwitchReason.Iret) { if (type is not (3 or 11)) throw new GuestFault(10, err); }
        else if (type is not (1 or 9)) throw new GuestFault(13, err);
        if (!nt.Present) throw new GuestFault(11, err);
        bool new32 = (type & 8) != 0;
        if (nt.Limit < (new32 ? 103u : 43u)) throw new GuestFault(10, err);

        // Save the outgoing task.
        bool old32 = (Tr.Type & 8) != 0;
        uint outFlags = Flags_;
        if (reason == TaskSwitchReason.Iret) outFlags &= ~NT;
        uint tb = Tr.Base;
        if (old32)
        {
            WriteSys32(tb + 0x20, Eip_);
            WriteSys32(tb + 0x24, outFlags);
            for (int k = 0; k < 8; k++) WriteSys32(tb + 0x28 + (uint)(4 * k), R[k]);
            for (int k = 0; k < 6; k++) WriteSys16(tb + 0x48 + (uint)(4 * k), S[k].Selector);
        }
        else
        {
            WriteSys16(tb + 0x0E, (ushort)Eip_);
            WriteSys16(tb + 0x10, (ushort)outFlags);
            for (int k = 0; k < 8; k++) WriteSys16(tb + 0x12 + (uint)(2 * k), (ushort)R[k]);
            for (int k = 0; k < 4; k++) WriteSys16(tb + 0x22 + (uint)(2 * k), S[k].Selector);
        }
        if (reason is TaskSwitchReason.Jmp or TaskSwitchReason.Iret) SetTssBusy(Tr.Selector, false);

        // Read the incoming task.
        uint nb = nt.Base;
        uint ncr3 = 0, neip, nflags;
        Span<uint> regs = stackalloc uint[8];
        Span<ushort> segs = stackalloc ushort[6];
        ushort ldt;
        if (new32)
        {
            ncr3 = ReadSys32(nb + 0x1C);
            neip = ReadSys32(nb + 0x20);
            nflags = ReadSys32(nb + 0x24);
            for (int k = 0; k < 8; k++) regs[k] = ReadSys32(nb + 0x28 + (uint)(4 * k));
            for (int k = 0; k < 6; k++) segs[k] = ReadSys16(nb + 0x48 + (uint)(4 * k));
            ldt = ReadSys16(nb + 0x60);
        }
        else
        {
            neip = ReadSys16(nb + 0x0E);
            nflags = ReadSys16(nb + 0x10) | (Flags_ & 0xFFFF0000 & ~VM);
            for (int k = 0; k < 8; k++) regs[k] = 0xFFFF0000 | ReadSys16(nb + 0x12 + (uint)(2 * k));
            for (int k = 0; k < 4; k++) segs[k] = ReadSys16(nb + 0x22 + (uint)(2 * k));
            ldt = ReadSys16(nb + 0x2A);
        }
        if (reason is TaskSwitchReason.Call or TaskSwitchReason.Interrupt)
        {
            WriteSys16(nb, Tr.Selector);
            nflags |= NT;
        }
        if (reason != TaskSwitchReason.Iret) SetTssBusy(sel, true);
        Tr = nt;
        Tr.Selector = sel;
        Tr.Attributes |= 2; // busy
        Cr0_ |= CR0_TS;
        // A task switch clears the local breakpoint enables L0-L3 and LE (SDM vol. 3 §17.2.4).
        Dr[7] &= ~0x155u;
        UpdateAccessChecks();
        if (new32 && (Cr0_ & CR0_PG) != 0) { Cr3_ = ncr3; FlushTlb(); }
        regs.CopyTo(R);
        Eip_ = neip;
        Flags_ = (nflags & 0x3F7FD5) | 2;

        // Commit point (SDM vol. 3 §7.3 steps 12–13): a fault while loading the LDT and segment descriptors
        // below is delivered in the new task's context, so the run loop's rollback must land on the new
        // task's EIP/ESP, not on the start of the instruction that switched.
        _startEip = neip;
        _startEsp = R[4];
        // Step 13 loads the LDTR and segment selectors from the new TSS before checking any descriptor (as Bochs
        // does): a fault there shows the new task's selectors, e.g. the failing CS in the exception frame.
        Ldtr.Selector = ldt;
        if ((Flags_ & VM) == 0) for (int k = 0; k < (new32 ? 6 : 4); k++) S[k].Selector = segs[k];

        // LDT, then segments; faults from here on are #TS in the new task's context.
        if ((ldt & 0xFFFC) == 0) Ldtr = new SegmentCache { Selector = ldt };
        else
        {
            if ((ldt & 4) != 0) throw new GuestFault(10, ldt & 0xFFFC);
            ulong ld = ReadDescriptor(ldt, 10);
            var lc = FromDescriptor(ldt, ld);
            if (!lc.IsSystem || lc.Type != 2) throw new GuestFault(10, ldt & 0xFFFC);
            if (!lc.Present) throw new GuestFault(10, ldt & 0xFFFC);
            Ldtr = lc;
        }
        if ((Flags_ & VM) != 0)
        {
            SetCpl(3);
            for (int k = 0; k < 6; k++) LoadSegmentRealStyle(k, segs[k]);
        }
        else
        {
            int cpl = segs[1] & 3;
            ushort cs = segs[1];
            if ((cs & 0xFFFC) == 0) throw new GuestFault(10, 0);
            ulong cd = ReadDescriptor(cs, 10);
            var cc = FromDescriptor(cs, cd);
            if (!cc.IsCode || cc.IsSystem) throw new GuestFault(10, cs & 0xFFFC);
            if ((cc.Type & 4) != 0 ? cc.Dpl > cpl : cc.Dpl != cpl) throw new GuestFault(10, cs & 0xFFFC);
            if (!cc.Present) throw new GuestFault(11, cs & 0xFFFC);
            LoadCs(in cc, cs, cpl);
            var ssc = CheckStackForPrivilege(segs[2], cpl, 10);
            S[2] = ssc;
            SegAccess[2] = AccessOf(in ssc);
            foreach (int seg in stackalloc int[] { 0, 3, 4, 5 })
            {
                if (!new32 && seg >= 4) { S[seg] = new SegmentCache(); SegAccess[seg] = 0; continue; }
                // SDM vol. 3 Table 7-1: a bad DS/ES/FS/GS in the new TSS is #TS (not present stays #NP).
                try { LoadSegment(seg, segs[seg]); }
                catch (GuestFault f) when (f.Vector == 13) { throw new GuestFault(10, f.ErrorCode); }
            }
        }
        UpdateCodeBits();
        if (errorCode >= 0) Push((uint)errorCode, new32 ? 4 : 2);
    }

    private void SetTssBusy(ushort sel, bool busy)
    {
        if ((sel & 0xFFFC) == 0) return;
        uint a = DescriptorAddress(sel, 10) + 5;
        byte b = ReadSys8(a);
        WriteSys8(a, busy ? (byte)(b | 2) : (byte)(b & ~2));
    }
}
