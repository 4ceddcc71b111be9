namespace MiniVM.Cpu;

// savevm/loadvm of the whole CPU: registers, segment caches, control/debug registers, descriptor-table
// registers, TSC offset, halt/shadow state, the FPU and the performance counters. Decode cache and TLB are rebuilt, never saved.
// The record has no header of its own: the VM-state section that carries it ("cpu") has the one length and the one
// version; a change of this layout is a new version of that section.
public sealed partial class X86Cpu
{
    public void SaveState(BinaryWriter w)
    {
        for (int k = 0; k < 8; k++) w.Write(R[k]);
        w.Write(Eip_);
        w.Write(Flags_);
        for (int k = 0; k < 6; k++) { WriteCache(w, S[k]); w.Write(SegAccess[k]); }
        w.Write(Cr0_); w.Write(Cr2_); w.Write(Cr3_); w.Write(Cr4_);
        w.Write(GdtBase); w.Write(GdtLimit); w.Write(IdtBase); w.Write(IdtLimit);
        WriteCache(w, Ldtr);
        WriteCache(w, Tr);
        for (int k = 0; k < 8; k++) w.Write(Dr[k]);
        w.Write(Cpl);
        w.Write(Halted_);
        w.Write(Shadow);
        w.Write(TscOffset);
        w.Write(InstructionCount_);
        w.Write(_a20);
        w.Write(_ferr);
        w.Write(ShutdownPending);
        _fpu.SaveState(w);
        w.Write(_nmiPending);
        w.Write(NmiBlocked);
        SavePerfCounters(w);
    }

    /// <summary>Restores a <see cref="SaveState"/> record; bad data throws <see cref="InvalidDataException"/> naming the field.</summary>
    public void LoadState(BinaryReader r)
    {
        try
        {
            var regs = new uint[8];
            for (int k = 0; k < 8; k++) regs[k] = r.ReadUInt32();
            uint eip = r.ReadUInt32();
            uint flags = r.ReadUInt32();
            var segs = new SegmentCache[6];
            var access = new byte[6];
            for (int k = 0; k < 6; k++)
            {
                segs[k] = ReadCache(r);
                access[k] = r.ReadByte();
                if (access[k] > 7) throw new InvalidDataException($"CPU state: segment {(SegmentRegister)k} access bits {access[k]} out of range");
            }
            uint cr0 = r.ReadUInt32(), cr2 = r.ReadUInt32(), cr3 = r.ReadUInt32(), cr4 = r.ReadUInt32();
            if ((cr0 & CR0_PG) != 0 && (cr0 & CR0_PE) == 0) throw new InvalidDataException($"CPU state: CR0 0x{cr0:X8} has PG without PE");
            if ((cr4 & ~0x11Fu) != 0) throw new InvalidDataException($"CPU state: CR4 0x{cr4:X8} has unsupported bits");
            uint gb = r.ReadUInt32(), gl = r.ReadUInt32(), ib = r.ReadUInt32(), il = r.ReadUInt32();
            if (gl > 0xFFFF || il > 0xFFFF) throw new InvalidDataException("CPU state: GDTR/IDTR limit above 0xFFFF");
            var ldtr = ReadCache(r);
            var tr = ReadCache(r);
            var dr = new uint[8];
            for (int k = 0; k < 8; k++) dr[k] = r.ReadUInt32();
            int cpl = r.ReadInt32();
            if (cpl is < 0 or > 3) throw new InvalidDataException($"CPU state: CPL {cpl} out of range");
            bool halted = r.ReadBoolean(), shadow = r.ReadBoolean();
            long tsc = r.ReadInt64();
            ulong count = r.ReadUInt64();
            bool a20 = r.ReadBoolean(), ferr = r.ReadBoolean(), shutdown = r.ReadBoolean();
            _fpu.LoadState(r);
            bool nmiPending = r.ReadBoolean(), nmiBlocked = r.ReadBoolean();
            var perf = ReadPerfCounters(r);

            regs.CopyTo(R, 0);
            Eip_ = eip;
            Flags_ = (flags & 0x3F7FD5) | 2;
            segs.CopyTo(S, 0);
            access.CopyTo(SegAccess, 0);
            Cr0_ = cr0 | CR0_ET; Cr2_ = cr2; Cr3_ = cr3; Cr4_ = cr4;
            GdtBase = gb; GdtLimit = gl; IdtBase = ib; IdtLimit = il;
            Ldtr = ldtr; Tr = tr;
            dr.CopyTo(Dr, 0);
            Cpl = -1;
            SetCpl(cpl);
            Halted_ = halted; Shadow = shadow; _intrMayBePending = true;
            TscOffset = tsc;
            InstructionCount_ = count;
            _a20 = a20;
            _a20Mask = a20 ? 0xFFFFFFFF : ~(1u << 20);
            _ferr = ferr;
            ShutdownPending = shutdown;
            _nmiPending = nmiPending;
            NmiBlocked = nmiBlocked;
            RestorePerfCounters(perf);
            _dataHits = 0;
            UpdateAccessChecks();
            UpdateCodeBits();
            FlushTlb();
            DropTranslations(eviction: false); // nothing translated is VM state
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException("CPU state: truncated record");
        }
    }

    private static void WriteCache(BinaryWriter w, in SegmentCache c)
    {
        w.Write(c.Selector);
        w.Write(c.Base);
        w.Write(c.Limit);
        w.Write(c.Attributes);
    }

    private static SegmentCache ReadCache(BinaryReader r) => new()
    {
        Selector = r.ReadUInt16(),
        Base = r.ReadUInt32(),
        Limit = r.ReadUInt32(),
        Attributes = r.ReadUInt16(),
    };
}
