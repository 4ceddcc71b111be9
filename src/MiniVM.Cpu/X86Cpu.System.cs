using Iced.Intel;

namespace MiniVM.Cpu;

// System instructions: control/debug registers, descriptor-table registers, LLDT/LTR/LAR/LSL/VERR/VERW/ARPL,
// CPUID, RDTSC and the few MSRs a P6 without MTRR/SEP reporting has (IA32_APIC_BASE when a local APIC is attached).
public sealed partial class X86Cpu
{
    /// <summary>CPUID.1:EDX: FPU VME DE PSE TSC MSR CX8 CMOV — exactly what is implemented.</summary>
    public const uint CpuidFeatures = (1u << 0) | (1u << 1) | (1u << 2) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 8) | (1u << 15);

    /// <summary>Family 6, model 3, stepping 3 (a Pentium II "Klamath").</summary>
    public const uint CpuidSignature = 0x0633;

    /// <summary>CPUID.1:EDX bit 9: an on-chip APIC, reported while the local APIC is globally enabled.</summary>
    public const uint CpuidApic = 1u << 9;

    /// <summary>
    /// CPUID.2 of a Pentium II with 512 KiB L2 (SDM vol. 2 Table 3-12): EAX = 01 (one iteration), 01 ITLB 4K,
    /// 02 ITLB 4M, 03 DTLB 4K; EDX = 43 L2 512K 4-way 32-byte lines, 08 L1I 16K, 04 DTLB 4M, 0C L1D 16K.
    /// </summary>
    public const uint CpuidCacheEax = 0x0302_0101, CpuidCacheEdx = 0x0C04_0843;

    private void ExecCpuid()
    {
        var apic = _pic as IApicBaseRegister;
        // Leaves above the highest (2) return the highest basic leaf (SDM vol. 2, CPUID, "INPUT EAX = 0").
        uint leaf = R[0] > 2 ? 2 : R[0];
        switch (leaf)
        {
            case 0:
                R[0] = 2;
                R[3] = 0x756E6547; // "Genu"
                R[2] = 0x49656E69; // "ineI"
                R[1] = 0x6C65746E; // "ntel"
                break;
            case 1:
                R[0] = CpuidSignature;
                R[3] = apic is null ? 0 : (uint)apic.InitialApicId << 24;
                R[1] = 0;
                R[2] = CpuidFeatures | (apic is not null && (apic.ApicBase & ApicGlobalEnable) != 0 ? CpuidApic : 0);
                break;
            default:
                R[0] = CpuidCacheEax;
                R[3] = R[1] = 0;
                R[2] = CpuidCacheEdx;
                break;
        }
    }

    private const ulong ApicGlobalEnable = 1 << 11;
    private const uint MsrApicBase = 0x1B;

    private ulong ReadTsc() => (ulong)((long)_bus.ReadTimestampCounter() + TscOffset);

    private void ExecRdmsr()
    {
        RequireCpl0();
        ulong v = R[1] switch
        {
            0x10 => ReadTsc(),
            0x17 => 0,        // IA32_PLATFORM_ID
            0x8B => 0,        // IA32_BIOS_SIGN_ID: no microcode loaded
            MsrApicBase when _pic is IApicBaseRegister apic => apic.ApicBase,
            MsrPerfCtr0 or MsrPerfCtr1 => ReadPerfCounter((int)(R[1] - MsrPerfCtr0)),
            MsrPerfEvtSel0 or MsrPerfEvtSel1 => _perfEvtSel[R[1] - MsrPerfEvtSel0],
            _ => throw new GuestFault(13, 0),
        };
        R[0] = (uint)v;
        R[2] = (uint)(v >> 32);
    }

    private void ExecWrmsr()
    {
        RequireCpl0();
        ulong v = ((ulong)R[2] << 32) | R[0];
        switch (R[1])
        {
            case 0x10: TscOffset = (long)v - (long)_bus.ReadTimestampCounter(); break;
            case MsrApicBase when _pic is IApicBaseRegister apic:
                if (!apic.TrySetApicBase(v)) throw new GuestFault(13, 0);
                break;
            case MsrPerfCtr0 or MsrPerfCtr1: WritePerfCounter((int)(R[1] - MsrPerfCtr0), R[0]); break;
            case MsrPerfEvtSel0 or MsrPerfEvtSel1:
                if (R[2] != 0) throw new GuestFault(13, 0); // bits 63:32 are reserved
                WritePerfEventSelect((int)(R[1] - MsrPerfEvtSel0), R[0]);
                break;
            case 0x79: // IA32_BIOS_UPDT_TRIG: microcode updates are accepted and ignored
            case 0x8B:
                break;
            default: throw new GuestFault(13, 0);
        }
    }

    private void ReadControlRegister(in Instruction ins)
    {
        RequireCpl0();
        uint v = ins.Op1Register switch
        {
            Register.CR0 => Cr0_,
            Register.CR2 => Cr2_,
            Register.CR3 => Cr3_,
            Register.CR4 => Cr4_,
            _ => throw new GuestFault(6),
        };
        SetReg(ins.Op0Register, v);
    }

    private void WriteControlRegister(in Instruction ins)
    {
        RequireCpl0();
        uint v = GetReg(ins.Op1Register);
        switch (ins.Op0Register)
        {
            case Register.CR0: WriteCr0(v); break;
            case Register.CR2: Cr2_ = v; break;
            case Register.CR3: Cr3_ = v; FlushTlb(); break;
            case Register.CR4:
                if ((v & ~(CR4_VME | CR4_PVI | CR4_TSD | CR4_DE | CR4_PSE | CR4_PCE)) != 0) throw new GuestFault(13, 0);
                Cr4_ = v;
                FlushTlb();
                break;
            default: throw new GuestFault(6);
        }
    }

    internal void WriteCr0(uint v)
    {
        v |= CR0_ET; // hardwired on a P6
        v &= CR0_PE | CR0_MP | CR0_EM | CR0_TS | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_NW | CR0_CD | CR0_PG;
        if ((v & CR0_PG) != 0 && (v & CR0_PE) == 0) throw new GuestFault(13, 0);
        if ((v & CR0_NW) != 0 && (v & CR0_CD) == 0) throw new GuestFault(13, 0);
        uint changed = Cr0_ ^ v;
        Cr0_ = v;
        if ((changed & CR0_AM) != 0) UpdateAccessChecks();
        if ((changed & (CR0_PG | CR0_WP | CR0_PE)) != 0) FlushTlb();
        if ((changed & CR0_PE) != 0)
        {
            if ((v & CR0_PE) == 0)
            {
                SetCpl(0);
                for (int k = 0; k < 6; k++) SegAccess[k] = SegRead | SegWrite;
            }
            UpdateCodeBits();
        }
    }

    private void ExecDescriptorTableRegister(in Instruction ins)
    {
        if (ins.Op0Kind != OpKind.Memory) throw new GuestFault(6);
        int seg = SegOf(in ins);
        uint off = Ea(in ins);
        bool is16 = ins.Code is Code.Lgdt_m1632_16 or Code.Lidt_m1632_16 or Code.Sgdt_m1632_16 or Code.Sidt_m1632_16;
        switch (ins.Mnemonic)
        {
            case Mnemonic.Lgdt:
            case Mnemonic.Lidt:
            {
                RequireCpl0();
                uint limit = Read16(seg, off);
                uint b = Read32(seg, off + 2);
                if (is16) b &= 0xFFFFFF;
                if (ins.Mnemonic == Mnemonic.Lgdt) { GdtBase = b; GdtLimit = limit; }
                else { IdtBase = b; IdtLimit = limit; }
                break;
            }
            default:
            {
                bool gdt = ins.Mnemonic == Mnemonic.Sgdt;
                uint limit = gdt ? GdtLimit : IdtLimit;
                uint b = gdt ? GdtBase : IdtBase;
                if (is16) b &= 0xFFFFFF;
                Write16(seg, off, (ushort)limit);
                Write32(seg, off + 2, b);
                break;
            }
        }
    }

    private void ExecProtectedModeOnly(in Instruction ins)
    {
        if (!PagingOrProtected || (Flags_ & VM) != 0) throw new GuestFault(6);
        switch (ins.Mnemonic)
        {
            case Mnemonic.Sldt: StoreSelector(in ins, Ldtr.Selector); break;
            case Mnemonic.Str: StoreSelector(in ins, Tr.Selector); break;
            case Mnemonic.Lldt:
            {
                RequireCpl0();
                ushort sel = (ushort)ReadOp(in ins, 0, 2);
                if ((sel & 0xFFFC) == 0) { Ldtr = new SegmentCache { Selector = sel }; break; }
                if ((sel & 4) != 0) throw new GuestFault(13, sel & 0xFFFC);
                ulong d = ReadDescriptor(sel, 13);
                var c = FromDescriptor(sel, d);
                if (!c.IsSystem || c.Type != 2) throw new GuestFault(13, sel & 0xFFFC);
                if (!c.Present) throw new GuestFault(11, sel & 0xFFFC);
                Ldtr = c;
                break;
            }
            case Mnemonic.Ltr:
            {
                RequireCpl0();
                ushort sel = (ushort)ReadOp(in ins, 0, 2);
                if ((sel & 0xFFFC) == 0 || (sel & 4) != 0) throw new GuestFault(13, sel & 0xFFFC);
                ulong d = ReadDescriptor(sel, 13);
                var c = FromDescriptor(sel, d);
                if (!c.IsSystem || (c.Type != 1 && c.Type != 9)) throw new GuestFault(13, sel & 0xFFFC);
                if (!c.Present) throw new GuestFault(11, sel & 0xFFFC);
                SetTssBusy(sel, true);
                c.Attributes |= 2;
                Tr = c;
                break;
            }
            case Mnemonic.Lar:
            case Mnemonic.Lsl:
            {
                int size = RegSize[(int)ins.Op0Register];
                ushort sel = (ushort)ReadOp(in ins, 1, 2);
                if (!TryVisibleDescriptor(sel, out ulong d, out var c)) { Flags_ &= ~ZF; break; }
                bool valid = c.IsSystem
                    ? (ins.Mnemonic == Mnemonic.Lar ? c.Type is 1 or 2 or 3 or 4 or 5 or 9 or 11 or 12 : c.Type is 1 or 2 or 3 or 9 or 11)
                    : true;
                if (!valid) { Flags_ &= ~ZF; break; }
                uint v = ins.Mnemonic == Mnemonic.Lar ? (uint)(d >> 32) & 0x00F0FF00 : c.Limit;
                SetReg(ins.Op0Register, size == 2 ? v & 0xFFFF : v);
                Flags_ |= ZF;
                break;
            }
            case Mnemonic.Verr:
            case Mnemonic.Verw:
            {
                ushort sel = (ushort)ReadOp(in ins, 0, 2);
                bool ok = TryVisibleDescriptor(sel, out _, out var c) && !c.IsSystem;
                if (ok)
                {
                    if (ins.Mnemonic == Mnemonic.Verr) ok = !c.IsCode || (c.Type & 2) != 0;
                    else ok = !c.IsCode && (c.Type & 2) != 0;
                }
                Flags_ = ok ? Flags_ | ZF : Flags_ & ~ZF;
                break;
            }
            default: // ARPL
            {
                int seg = 0; uint off = 0;
                bool mem = ins.Op0Kind == OpKind.Memory;
                if (mem) { seg = SegOf(in ins); off = Ea(in ins); }
                uint dst = mem ? Read16(seg, off) : GetReg(ins.Op0Register);
                uint src = GetReg(ins.Op1Register);
                if ((dst & 3) < (src & 3))
                {
                    dst = (dst & ~3u) | (src & 3);
                    if (mem) Write16(seg, off, (ushort)dst); else SetReg(ins.Op0Register, dst);
                    Flags_ |= ZF;
                }
                else Flags_ &= ~ZF;
                break;
            }
        }
    }

    private void StoreSelector(in Instruction ins, ushort sel)
    {
        if (ins.Op0Kind == OpKind.Register) SetReg(ins.Op0Register, sel);
        else Write16(SegOf(in ins), Ea(in ins), sel);
    }

    /// <summary>Descriptor lookup for LAR/LSL/VERR/VERW: no fault, privilege rules for non-conforming segments.</summary>
    private bool TryVisibleDescriptor(ushort sel, out ulong d, out SegmentCache c)
    {
        d = 0; c = default;
        if ((sel & 0xFFFC) == 0) return false;
        uint index = sel & 0xFFF8u;
        uint tbase, tlimit;
        if ((sel & 4) != 0)
        {
            if ((Ldtr.Selector & 0xFFFC) == 0) return false;
            tbase = Ldtr.Base; tlimit = Ldtr.Limit;
        }
        else { tbase = GdtBase; tlimit = GdtLimit; }
        if (index + 7 > tlimit) return false;
        d = ReadSys32(tbase + index) | ((ulong)ReadSys32(tbase + index + 4) << 32);
        c = FromDescriptor(sel, d);
        bool conformingCode = !c.IsSystem && c.IsCode && (c.Type & 4) != 0;
        if (!conformingCode && (c.Dpl < Cpl || c.Dpl < (sel & 3))) return false;
        return true;
    }
}
