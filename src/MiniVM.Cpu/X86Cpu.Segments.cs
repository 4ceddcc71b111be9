namespace MiniVM.Cpu;

// Segment loading with the protected-mode descriptor checks (SDM vol. 3 §5.4–5.8), far JMP/CALL/RET
// through code segments and call gates, and IRET in real, virtual-8086 and protected mode.
public sealed partial class X86Cpu
{
    private bool PagingOrProtected => (Cr0_ & CR0_PE) != 0;

    internal uint DescriptorAddress(ushort sel, int vector)
    {
        uint index = sel & 0xFFF8u;
        uint tbase, tlimit;
        if ((sel & 4) != 0)
        {
            if ((Ldtr.Selector & 0xFFFC) == 0 || !Ldtr.Present) throw new GuestFault(vector, sel & 0xFFFC);
            tbase = Ldtr.Base; tlimit = Ldtr.Limit;
        }
        else { tbase = GdtBase; tlimit = GdtLimit; }
        if (index + 7 > tlimit) throw new GuestFault(vector, sel & 0xFFFC);
        return tbase + index;
    }

    internal ulong ReadDescriptor(ushort sel, int vector)
    {
        uint a = DescriptorAddress(sel, vector);
        return ReadSys32(a) | ((ulong)ReadSys32(a + 4) << 32);
    }

    internal static SegmentCache FromDescriptor(ushort sel, ulong d)
    {
        uint limit = (uint)(d & 0xFFFF) | (uint)((d >> 32) & 0xF0000);
        if ((d & (1UL << 55)) != 0) limit = (limit << 12) | 0xFFF;
        return new SegmentCache
        {
            Selector = sel,
            Base = (uint)((d >> 16) & 0xFFFFFF) | (uint)((d >> 32) & 0xFF000000),
            Limit = limit,
            Attributes = (ushort)(d >> 40),
        };
    }

    private void SetAccessed(ushort sel, ulong d)
    {
        if ((d & (1UL << 40)) != 0 || (d & (1UL << 44)) == 0) return;
        uint a = DescriptorAddress(sel, 13);
        WriteSys8(a + 5, (byte)((d >> 40) | 1));
    }

    internal static byte AccessOf(in SegmentCache c)
    {
        if (c.IsSystem || !c.Present) return 0;
        if (c.IsCode) return (c.Type & 2) != 0 ? SegRead : (byte)0;
        return (byte)(SegRead | ((c.Type & 2) != 0 ? SegWrite : 0) | ((c.Type & 4) != 0 ? SegExpandDown : 0));
    }

    private void LoadSegmentRealStyle(int seg, ushort sel)
    {
        ref SegmentCache s = ref S[seg];
        s.Selector = sel;
        s.Base = (uint)sel << 4;
        if ((Flags_ & VM) != 0)
        {
            s.Limit = 0xFFFF;
            s.Attributes = (ushort)(seg == 1 ? 0xFB : 0xF3);
        }
        SegAccess[seg] = SegRead | SegWrite;
        if (seg == 1) UpdateCodeBits();
    }

    /// <summary>MOV/POP/LDS-family load of a data or stack segment register.</summary>
    internal void LoadSegment(int seg, ushort sel)
    {
        if (!PagingOrProtected || (Flags_ & VM) != 0) { LoadSegmentRealStyle(seg, sel); return; }
        if ((sel & 0xFFFC) == 0)
        {
            if (seg == 2) throw new GuestFault(13, 0);
            S[seg] = new SegmentCache { Selector = sel };
            SegAccess[seg] = 0;
            return;
        }
        ulong d = ReadDescriptor(sel, 13);
        var c = FromDescriptor(sel, d);
        int rpl = sel & 3;
        int err = sel & 0xFFFC;
        if (seg == 2)
        {
            if (rpl != Cpl || c.Dpl != Cpl || c.IsSystem || c.IsCode || (c.Type & 2) == 0) throw new GuestFault(13, err);
            if (!c.Present) throw new GuestFault(12, err);
        }
        else
        {
            if (c.IsSystem || (c.IsCode && (c.Type & 2) == 0)) throw new GuestFault(13, err);
            bool conforming = c.IsCode && (c.Type & 4) != 0;
            if (!conforming && (c.Dpl < Cpl || c.Dpl < rpl)) throw new GuestFault(13, err);
            if (!c.Present) throw new GuestFault(11, err);
        }
        SetAccessed(sel, d);
        c.Attributes |= 1;
        S[seg] = c;
        SegAccess[seg] = AccessOf(in c);
    }

    private void LoadCs(in SegmentCache c, ushort sel, int cpl)
    {
        S[1] = c;
        S[1].Selector = (ushort)((sel & 0xFFFC) | cpl);
        S[1].Attributes |= 1;
        SegAccess[1] = AccessOf(in c);
        SetCpl(cpl);
        UpdateCodeBits();
    }

    /// <summary>Checks a code segment named by a far JMP/CALL under <paramref name="rule"/> and returns it.</summary>
    private SegmentCache CheckCodeTarget(ushort sel, ulong d, CodeTargetRule rule)
    {
        var c = FromDescriptor(sel, d);
        int err = sel & 0xFFFC;
        if (!c.IsCode || c.IsSystem) throw new GuestFault(13, err);
        bool conforming = (c.Type & 4) != 0;
        if (rule == CodeTargetRule.CallGate || conforming) { if (c.Dpl > Cpl) throw new GuestFault(13, err); }
        else if (c.Dpl != Cpl || (rule == CodeTargetRule.Direct && (sel & 3) > Cpl)) throw new GuestFault(13, err);
        if (!c.Present) throw new GuestFault(11, err);
        return c;
    }

    /// <summary>
    /// A gate or TSS descriptor named by a far JMP/CALL: its DPL must be at least CPL and the selector's RPL
    /// (#GP), and it must be present (#NP) — SDM vol. 3 §5.8.4, §7.3.
    /// </summary>
    private void CheckGateAccess(ushort sel, ulong d)
    {
        int dpl = (int)(d >> 45) & 3;
        if (dpl < Cpl || dpl < (sel & 3)) throw new GuestFault(13, sel & 0xFFFC);
        if ((d & (1UL << 47)) == 0) throw new GuestFault(11, sel & 0xFFFC);
    }

    /// <summary>
    /// The call gate <paramref name="d"/> of a far JMP/CALL: checks the gate and returns the target code
    /// descriptor, its selector and offset (the high half only in a 32-bit gate).
    /// </summary>
    private ulong CallGateTarget(ushort sel, ulong d, out ushort tsel, out uint toff)
    {
        CheckGateAccess(sel, d);
        bool gate32 = ((d >> 40) & 0xF) == 12;
        tsel = (ushort)(d >> 16);
        toff = (uint)(d & 0xFFFF) | (gate32 ? (uint)(d >> 32) & 0xFFFF0000 : 0);
        if ((tsel & 0xFFFC) == 0) throw new GuestFault(13, 0);
        return ReadDescriptor(tsel, 13);
    }

    /// <summary>Far JMP/CALL to a task gate or a TSS descriptor: a task switch (SDM vol. 3 §7.3).</summary>
    private void FarTaskSwitch(ushort sel, ulong d, TaskSwitchReason reason)
    {
        CheckGateAccess(sel, d);
        if (((d >> 40) & 0xF) == 5) { ushort tss = (ushort)(d >> 16); SwitchTask(tss, ReadTaskDescriptor(tss), reason, -1); }
        else SwitchTask(sel, d, reason, -1);
    }

    private void FarJump(ushort sel, uint offset, int size)
    {
        if (size == 2) offset &= 0xFFFF;
        if (!PagingOrProtected || (Flags_ & VM) != 0)
        {
            if (offset > S[1].Limit && (Flags_ & VM) == 0 && PagingOrProtected) throw new GuestFault(13, 0);
            LoadSegmentRealStyle(1, sel);
            Eip_ = offset;
            return;
        }
        if ((sel & 0xFFFC) == 0) throw new GuestFault(13, 0);
        ulong d = ReadDescriptor(sel, 13);
        bool system = (d & (1UL << 44)) == 0;
        if (!system)
        {
            var c = CheckCodeTarget(sel, d, CodeTargetRule.Direct);
            if (offset > c.Limit) throw new GuestFault(13, 0);
            SetAccessed(sel, d);
            LoadCs(in c, sel, Cpl);
            Eip_ = offset;
            return;
        }
        switch ((int)(d >> 40) & 0xF)
        {
            case 4:
            case 12:
            {
                ulong td = CallGateTarget(sel, d, out ushort tsel, out uint toff);
                var c = CheckCodeTarget(tsel, td, CodeTargetRule.JumpGate);
                if (toff > c.Limit) throw new GuestFault(13, 0);
                SetAccessed(tsel, td);
                LoadCs(in c, tsel, Cpl);
                Eip_ = toff;
                return;
            }
            case 5:
            case 1:
            case 9:
                FarTaskSwitch(sel, d, TaskSwitchReason.Jmp);
                return;
            default:
                throw new GuestFault(13, sel & 0xFFFC);
        }
    }

    private ulong ReadTaskDescriptor(ushort tss)
    {
        if ((tss & 4) != 0) throw new GuestFault(13, tss & 0xFFFC);
        return ReadDescriptor(tss, 13);
    }

    private void FarCall(ushort sel, uint offset, int size)
    {
        if (size == 2) offset &= 0xFFFF;
        if (!PagingOrProtected || (Flags_ & VM) != 0)
        {
            Push(S[1].Selector, size);
            Push(Eip_, size);
            LoadSegmentRealStyle(1, sel);
            Eip_ = offset;
            return;
        }
        if ((sel & 0xFFFC) == 0) throw new GuestFault(13, 0);
        ulong d = ReadDescriptor(sel, 13);
        bool system = (d & (1UL << 44)) == 0;
        if (!system)
        {
            var c = CheckCodeTarget(sel, d, CodeTargetRule.Direct);
            if (offset > c.Limit) throw new GuestFault(13, 0);
            Push(S[1].Selector, size);
            Push(Eip_, size);
            SetAccessed(sel, d);
            LoadCs(in c, sel, Cpl);
            Eip_ = offset;
            return;
        }
        int type = (int)(d >> 40) & 0xF;
        switch (type)
        {
            case 4:
            case 12:
            {
                ulong td = CallGateTarget(sel, d, out ushort tsel, out uint toff);
                int gsize = type == 12 ? 4 : 2;
                int paramCount = (int)(d >> 32) & 0x1F;
                var c = CheckCodeTarget(tsel, td, CodeTargetRule.CallGate);
                if (toff > c.Limit) throw new GuestFault(13, 0);
                bool conforming = (c.Type & 4) != 0;
                if (!conforming && c.Dpl < Cpl)
                {
                    // Inner privilege: new stack from the TSS, parameters copied (SDM vol. 3 §5.8.5).
                    int newCpl = c.Dpl;
                    var (nss, nesp) = StackFromTss(newCpl);
                    var ssCache = CheckStackForPrivilege(nss, newCpl, 10);
                    uint oldSs = S[2].Selector, oldEsp = R[4];
                    bool oldBig = S[2].Big;
                    Span<uint> parms = stackalloc uint[32];
                    for (int k = 0; k < paramCount; k++)
                    {
                        uint sp = oldBig ? oldEsp + (uint)(k * gsize) : (oldEsp + (uint)(k * gsize)) & 0xFFFF;
                        parms[k] = ReadSized(2, sp, gsize);
                    }
                    var snapshot = Snapshot();
                    try
                    {
                        S[2] = ssCache;
                        SegAccess[2] = AccessOf(in ssCache);
                        R[4] = nesp;
                        SetCpl(newCpl);
                        Push(oldSs, gsize);
                        Push(oldEsp, gsize);
                        for (int k = paramCount - 1; k >= 0; k--) Push(parms[k], gsize);
                        Push(S[1].Selector, gsize);
                        Push(Eip_, gsize);
                    }
                    catch (GuestFault)
                    {
                        Restore(in snapshot);
                        throw;
                    }
                    SetAccessed(tsel, td);
                    LoadCs(in c, tsel, newCpl);
                    Eip_ = toff;
                    return;
                }
                Push(S[1].Selector, gsize);
                Push(Eip_, gsize);
                SetAccessed(tsel, td);
                LoadCs(in c, tsel, Cpl);
                Eip_ = toff;
                return;
            }
            case 5:
            case 1:
            case 9:
                FarTaskSwitch(sel, d, TaskSwitchReason.Call);
                return;
            default:
                throw new GuestFault(13, sel & 0xFFFC);
        }
    }

    /// <summary>SS:ESP for privilege level <paramref name="cpl"/> from the current TSS.</summary>
    private (ushort Ss, uint Esp) StackFromTss(int cpl)
    {
        bool tss32 = (Tr.Type & 8) != 0;
        uint off = tss32 ? (uint)(4 + 8 * cpl) : (uint)(2 + 4 * cpl);
        uint need = tss32 ? off + 5 : off + 3;
        if (need > Tr.Limit) throw new GuestFault(10, Tr.Selector & 0xFFFC);
        if (tss32) return ((ushort)ReadSys16(Tr.Base + off + 4), ReadSys32(Tr.Base + off));
        return ((ushort)ReadSys16(Tr.Base + off + 2), ReadSys16(Tr.Base + off));
    }

    private SegmentCache CheckStackForPrivilege(ushort ss, int cpl, int vector)
    {
        if ((ss & 0xFFFC) == 0) throw new GuestFault(vector, 0);
        ulong d = ReadDescriptor(ss, vector);
        var c = FromDescriptor(ss, d);
        int err = ss & 0xFFFC;
        if ((ss & 3) != cpl || c.Dpl != cpl || c.IsSystem || c.IsCode || (c.Type & 2) == 0) throw new GuestFault(vector, err);
        if (!c.Present) throw new GuestFault(12, err);
        SetAccessed(ss, d);
        c.Attributes |= 1;
        return c;
    }

    private void FarReturn(int size, uint imm)
    {
        if (!PagingOrProtected || (Flags_ & VM) != 0)
        {
            uint ip = Pop(size);
            uint cs = Pop(size);
            if (size == 2) ip &= 0xFFFF;
            LoadSegmentRealStyle(1, (ushort)cs);
            Eip_ = ip;
            AdjustSp(imm);
            return;
        }
        bool big = S[2].Big;
        uint sp = big ? R[4] : R[4] & 0xFFFF;
        uint eip = ReadSized(2, sp, size);
        ushort sel = (ushort)ReadSized(2, big ? sp + (uint)size : (sp + (uint)size) & 0xFFFF, size);
        var c = CheckReturnCode(sel);
        int rpl = sel & 3;
        if (rpl == Cpl)
        {
            if (eip > c.Limit) throw new GuestFault(13, 0);
            AdjustSp((uint)(2 * size) + imm);
            LoadCs(in c, sel, rpl);
            Eip_ = eip;
            return;
        }
        uint p = sp + (uint)(2 * size) + imm;
        uint newEsp = ReadSized(2, big ? p : p & 0xFFFF, size);
        ushort newSs = (ushort)ReadSized(2, big ? p + (uint)size : (p + (uint)size) & 0xFFFF, size);
        var ssCache = CheckReturnStack(newSs, rpl);
        if (eip > c.Limit) throw new GuestFault(13, 0);
        LoadCs(in c, sel, rpl);
        S[2] = ssCache;
        SegAccess[2] = AccessOf(in ssCache);
        if (size == 2) newEsp &= 0xFFFF;
        R[4] = ssCache.Big ? newEsp + imm : (R[4] & 0xFFFF0000) | ((newEsp + imm) & 0xFFFF);
        Eip_ = eip;
        InvalidateDataSegmentsForOuterLevel();
    }

    private SegmentCache CheckReturnCode(ushort sel)
    {
        if ((sel & 0xFFFC) == 0) throw new GuestFault(13, 0);
        ulong d = ReadDescriptor(sel, 13);
        var c = FromDescriptor(sel, d);
        int rpl = sel & 3;
        int err = sel & 0xFFFC;
        if (rpl < Cpl || !c.IsCode || c.IsSystem) throw new GuestFault(13, err);
        bool conforming = (c.Type & 4) != 0;
        if (conforming ? c.Dpl > rpl : c.Dpl != rpl) throw new GuestFault(13, err);
        if (!c.Present) throw new GuestFault(11, err);
        SetAccessed(sel, d);
        return c;
    }

    private SegmentCache CheckReturnStack(ushort ss, int rpl)
    {
        if ((ss & 0xFFFC) == 0) throw new GuestFault(13, 0);
        ulong d = ReadDescriptor(ss, 13);
        var c = FromDescriptor(ss, d);
        int err = ss & 0xFFFC;
        if ((ss & 3) != rpl || c.Dpl != rpl || c.IsSystem || c.IsCode || (c.Type & 2) == 0) throw new GuestFault(13, err);
        if (!c.Present) throw new GuestFault(12, err);
        SetAccessed(ss, d);
        c.Attributes |= 1;
        return c;
    }

    /// <summary>After a return to an outer level, data segments the new CPL may not use become null (SDM vol. 3 §5.8.6).</summary>
    private void InvalidateDataSegmentsForOuterLevel()
    {
        foreach (int seg in stackalloc int[] { 0, 3, 4, 5 })
        {
            ref SegmentCache s = ref S[seg];
            if ((s.Selector & 0xFFFC) == 0) continue;
            bool conformingCode = s.IsCode && (s.Type & 4) != 0;
            if (!conformingCode && s.Dpl < Cpl)
            {
                s = new SegmentCache { Selector = 0 };
                SegAccess[seg] = 0;
            }
        }
    }

    private void ExecIret(int size)
    {
        NmiBlocked = false; // IRET ends NMI blocking (SDM vol. 3 §6.7.1)
        if (!PagingOrProtected)
        {
            uint ip = Pop(size), cs = Pop(size), fl = Pop(size);
            LoadSegmentRealStyle(1, (ushort)cs);
            Eip_ = size == 2 ? ip & 0xFFFF : ip;
            SetFlags(fl, (size == 4 ? 0x3F7FD5u : 0x7FD5u) & ~(VM | VIF | VIP));
            return;
        }
        if ((Flags_ & VM) != 0)
        {
            if ((Flags_ & IOPL) == IOPL)
            {
                uint ip = Pop(size), cs = Pop(size), fl = Pop(size);
                LoadSegmentRealStyle(1, (ushort)cs);
                Eip_ = size == 2 ? ip & 0xFFFF : ip;
                SetFlags(fl, (size == 4 ? 0x3F7FD5u : 0x7FD5u) & ~(VM | VIF | VIP | IOPL));
                return;
            }
            if ((Cr4_ & CR4_VME) != 0 && size == 2)
            {
                uint ip = Pop(2), cs = Pop(2), fl = Pop(2);
                if ((fl & TF) != 0 || ((fl & IF) != 0 && (Flags_ & VIP) != 0)) throw new GuestFault(13, 0);
                LoadSegmentRealStyle(1, (ushort)cs);
                Eip_ = ip;
                SetFlags(fl, 0x7FD5u & ~(IF | IOPL));
                Flags_ = (fl & IF) != 0 ? Flags_ | VIF : Flags_ & ~VIF;
                return;
            }
            throw new GuestFault(13, 0);
        }
        if ((Flags_ & NT) != 0)
        {
            // Return from a nested task through the back link (SDM vol. 3 §7.4).
            ushort link = ReadSys16(Tr.Base);
            ulong d = ReadTaskDescriptor(link);
            SwitchTask(link, d, TaskSwitchReason.Iret, -1);
            return;
        }
        bool big = S[2].Big;
        uint sp = big ? R[4] : R[4] & 0xFFFF;
        uint At(uint k) => big ? sp + k : (sp + k) & 0xFFFF;
        uint eip = ReadSized(2, At(0), size);
        ushort sel = (ushort)ReadSized(2, At((uint)size), size);
        uint flags = ReadSized(2, At((uint)(2 * size)), size);
        if (size == 4 && (flags & VM) != 0 && Cpl == 0)
        {
            // Return to virtual-8086 mode: the frame also holds ESP, SS, ES, DS, FS, GS.
            uint nesp = ReadSized(2, At(12), 4);
            ushort nss = (ushort)ReadSized(2, At(16), 4);
            ushort nes = (ushort)ReadSized(2, At(20), 4);
            ushort nds = (ushort)ReadSized(2, At(24), 4);
            ushort nfs = (ushort)ReadSized(2, At(28), 4);
            ushort ngs = (ushort)ReadSized(2, At(32), 4);
            Flags_ = (flags & 0x3F7FD5) | 2;
            SetCpl(3);
            LoadSegmentRealStyle(1, sel);
            LoadSegmentRealStyle(2, nss);
            LoadSegmentRealStyle(0, nes);
            LoadSegmentRealStyle(3, nds);
            LoadSegmentRealStyle(4, nfs);
            LoadSegmentRealStyle(5, ngs);
            R[4] = nesp;
            Eip_ = eip & 0xFFFF;
            UpdateCodeBits();
            return;
        }
        var c = CheckReturnCode(sel);
        int rpl = sel & 3;
        if (eip > c.Limit) throw new GuestFault(13, 0);
        uint mask = size == 4 ? 0x3F7FD5u : 0x7FD5u;
        mask &= ~VM;
        if (Cpl > 0) mask &= ~(IOPL | VIF | VIP);
        if (Cpl > (int)((Flags_ >> 12) & 3)) mask &= ~IF;
        if (rpl == Cpl)
        {
            AdjustSp((uint)(3 * size));
            LoadCs(in c, sel, rpl);
            Eip_ = eip;
            SetFlags(flags, mask);
            return;
        }
        uint nesp2 = ReadSized(2, At((uint)(3 * size)), size);
        ushort nss2 = (ushort)ReadSized(2, At((uint)(4 * size)), size);
        var ssCache = CheckReturnStack(nss2, rpl);
        // The flag mask above was computed at the old CPL, as IRET's permission rules require.
        LoadCs(in c, sel, rpl);
        S[2] = ssCache;
        SegAccess[2] = AccessOf(in ssCache);
        R[4] = ssCache.Big ? nesp2 : (R[4] & 0xFFFF0000) | (nesp2 & 0xFFFF);
        Eip_ = eip;
        SetFlags(flags, mask);
        InvalidateDataSegmentsForOuterLevel();
    }
}
