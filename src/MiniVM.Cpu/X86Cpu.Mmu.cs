using System.Runtime.CompilerServices;

namespace MiniVM.Cpu;

// Linear and physical memory access: segment checks, paging (SDM vol. 3 §4.3, 32-bit paging with PSE),
// and a direct-mapped TLB of host addresses (TlbEntry) so hits cost a compare and a load. Translated blocks probe
// the same TLB from their IL (BlockTranslator.Memory.cs); the rules of what an entry may hold live here only:
// - a read entry maps a page of RAM whose walk (at the entry's privilege) succeeded and set the accessed bits;
// - a write entry maps a page of RAM whose walk for a write succeeded and set the dirty bit, that holds no decoded
//   code (a write there must drop translations: DecodeAt flushes the write entries when a page becomes code), and
//   that the RAM write log (PhysicalMemory.LogWrite, savevm's dirty pages) has seen since its last drain (a drain
//   bumps MapGeneration, and the CPU flushes before it runs again);
// - ROM images and MMIO get no entries: their accesses take the slow path every time (and MMIO reaches the bus).
// Anything that changes what a walk would give (CR0/CR3/CR4, INVLPG, A20, a re-mapping) flushes.
public sealed unsafe partial class X86Cpu
{
    private const int TlbEntries = 512;
    internal const int TlbMask = TlbEntries - 1;

    // Three regions: [0, TlbEntries) for supervisor accesses, [TlbEntries, 2*TlbEntries) for CPL 3, and one never
    // filled, selected while every data access must be checked (X86Cpu.Debug.cs). The arrays are pinned: translated
    // blocks and the fast paths index them through the pointers to the current region.
    private TlbEntry[] _tlbR = null!, _tlbW = null!;
    private int _tlbUser;
    private int _mapGeneration;

    /// <summary>The read and write TLB regions of the current privilege (or the checked region): <c>&amp;_tlbR[_tlbUser]</c>.</summary>
    internal TlbEntry* _tlbRead, _tlbWrite;

    /// <summary>Per segment register: 1 readable, 2 writable, 4 expand-down. 0 = null selector (any use is #GP).</summary>
    internal readonly byte[] SegAccess = new byte[6];
    internal const byte SegRead = 1, SegWrite = 2, SegExpandDown = 4;

    private void AllocateTlb()
    {
        _tlbR = GC.AllocateArray<TlbEntry>(3 * TlbEntries, pinned: true);
        _tlbW = GC.AllocateArray<TlbEntry>(3 * TlbEntries, pinned: true);
        FlushTlb();
        SelectTlbRegion();
    }

    /// <summary>Points the fast paths at the region of <see cref="_tlbUser"/>.</summary>
    private void SelectTlbRegion()
    {
        _tlbRead = (TlbEntry*)Unsafe.AsPointer(ref _tlbR[_tlbUser]);
        _tlbWrite = (TlbEntry*)Unsafe.AsPointer(ref _tlbW[_tlbUser]);
    }

    internal void FlushTlb()
    {
        ClearTlb(_tlbR);
        ClearTlb(_tlbW);
        _fetchPage = uint.MaxValue;
        _mapGeneration = _mem.MapGeneration;
    }

    private static void ClearTlb(TlbEntry[] tlb)
    {
        for (int i = 0; i < tlb.Length; i++) tlb[i].Page = TlbEntry.Empty;
    }

    private void FlushWriteTlb() => ClearTlb(_tlbW);

    internal void InvalidatePage(uint linear)
    {
        uint p = linear >> 12;
        int i = (int)(p & TlbMask);
        for (int h = 0; h <= TlbEntries; h += TlbEntries)
        {
            if (_tlbR[i + h].Page == p) _tlbR[i + h].Page = TlbEntry.Empty;
            if (_tlbW[i + h].Page == p) _tlbW[i + h].Page = TlbEntry.Empty;
        }
        _fetchPage = uint.MaxValue;
    }

    /// <summary>The entry of <paramref name="region"/> that may map <paramref name="lin"/> (hit rule: <see cref="TlbEntry"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TlbEntry* TlbProbe(TlbEntry* region, uint lin) => region + ((lin >> 12) & TlbMask);

    /// <summary>Makes <paramref name="tlb"/>'s entry for <paramref name="lin"/> map the page at <paramref name="index"/> of
    /// <paramref name="array"/>, if that is RAM (the only pinned memory; ROM images stay on the slow path).</summary>
    private void FillTlb(TlbEntry[] tlb, uint lin, bool user, byte[] array, int index)
    {
        if (!ReferenceEquals(array, _mem.Ram)) return;
        ref TlbEntry e = ref tlb[(int)((lin >> 12) & TlbMask) + (user ? TlbEntries : 0)];
        e.Host = (nuint)(_mem.RamPointer + index) - (lin & 0xFFFFF000);
        e.Page = lin >> 12;
    }

    /// <summary>A device may have re-mapped memory (PAM, BARs) or DMA may have made a new code page: resync.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CheckMapGeneration()
    {
        if (_mapGeneration != _mem.MapGeneration) FlushTlb();
    }

    // ---------------- segment-relative access ----------------

    /// <summary>
    /// The largest offset an access's last byte may have in segment <paramref name="seg"/> for a read to need none of
    /// the slow checks (a readable segment that is not expand-down: its limit), or -1 when every read takes them. Read
    /// once per entry by translated blocks (segments cannot change inside one), and by the interpreter per access.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal long FastReadLimit(int seg) => (SegAccess[seg] & (SegRead | SegExpandDown)) == SegRead ? S[seg].Limit : -1;

    /// <summary>As <see cref="FastReadLimit"/>, for writes (a writable segment that is not expand-down).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal long FastWriteLimit(int seg) => (SegAccess[seg] & (SegWrite | SegExpandDown)) == SegWrite ? S[seg].Limit : -1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal uint LinearForRead(int seg, uint off, uint size)
    {
        if ((long)off + size - 1 <= FastReadLimit(seg)) return S[seg].Base + off;
        return CheckSegmentSlow(seg, off, size, SegRead);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal uint LinearForWrite(int seg, uint off, uint size)
    {
        if ((long)off + size - 1 <= FastWriteLimit(seg)) return S[seg].Base + off;
        return CheckSegmentSlow(seg, off, size, SegWrite);
    }

    private uint CheckSegmentSlow(int seg, uint off, uint size, byte need)
    {
        ref SegmentCache s = ref S[seg];
        int fault = seg == 2 ? 12 : 13;
        byte a = SegAccess[seg];
        if ((a & need) == 0) throw new GuestFault(13, 0);
        if ((a & SegExpandDown) != 0)
        {
            uint upper = s.Big ? 0xFFFFFFFF : 0xFFFF;
            if (off <= s.Limit || (ulong)off + size - 1 > upper) throw new GuestFault(fault, 0);
        }
        else if ((ulong)off + size - 1 > s.Limit) throw new GuestFault(fault, 0);
        return s.Base + off;
    }

    internal byte Read8(int seg, uint off) => ReadLin8(LinearForRead(seg, off, 1));
    internal ushort Read16(int seg, uint off) => ReadLin16(LinearForRead(seg, off, 2));
    internal uint Read32(int seg, uint off) => ReadLin32(LinearForRead(seg, off, 4));
    internal void Write8(int seg, uint off, byte v) => WriteLin8(LinearForWrite(seg, off, 1), v);
    internal void Write16(int seg, uint off, ushort v) => WriteLin16(LinearForWrite(seg, off, 2), v);
    internal void Write32(int seg, uint off, uint v) => WriteLin32(LinearForWrite(seg, off, 4), v);

    internal uint ReadSized(int seg, uint off, int size) => size switch
    {
        1 => Read8(seg, off),
        2 => Read16(seg, off),
        _ => Read32(seg, off),
    };

    internal void WriteSized(int seg, uint off, int size, uint v)
    {
        switch (size)
        {
            case 1: Write8(seg, off, (byte)v); break;
            case 2: Write16(seg, off, (ushort)v); break;
            default: Write32(seg, off, v); break;
        }
    }

    // ---------------- linear access (current privilege) ----------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal byte ReadLin8(uint lin)
    {
        TlbEntry* e = TlbProbe(_tlbRead, lin);
        if (e->Page == lin >> 12) return *(byte*)(e->Host + lin);
        return (byte)ReadLinSlow(lin, 1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ushort ReadLin16(uint lin)
    {
        TlbEntry* e = TlbProbe(_tlbRead, lin);
        if (e->Page == (lin + 1) >> 12) return Unsafe.ReadUnaligned<ushort>((void*)(e->Host + lin));
        return (ushort)ReadLinSlow(lin, 2);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal uint ReadLin32(uint lin)
    {
        TlbEntry* e = TlbProbe(_tlbRead, lin);
        if (e->Page == (lin + 3) >> 12) return Unsafe.ReadUnaligned<uint>((void*)(e->Host + lin));
        return ReadLinSlow(lin, 4);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void WriteLin8(uint lin, byte v)
    {
        TlbEntry* e = TlbProbe(_tlbWrite, lin);
        if (e->Page == lin >> 12) { *(byte*)(e->Host + lin) = v; return; }
        WriteLinSlow(lin, 1, v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void WriteLin16(uint lin, ushort v)
    {
        TlbEntry* e = TlbProbe(_tlbWrite, lin);
        if (e->Page == (lin + 1) >> 12) { Unsafe.WriteUnaligned((void*)(e->Host + lin), v); return; }
        WriteLinSlow(lin, 2, v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void WriteLin32(uint lin, uint v)
    {
        TlbEntry* e = TlbProbe(_tlbWrite, lin);
        if (e->Page == (lin + 3) >> 12) { Unsafe.WriteUnaligned((void*)(e->Host + lin), v); return; }
        WriteLinSlow(lin, 4, v);
    }

    private uint ReadLinSlow(uint lin, int size)
    {
        if (_tlbUser == CheckedTlb) CheckDataAccess(lin, size, write: false);
        return ReadLinear(lin, size, Cpl == 3, fillTlb: true);
    }

    private void WriteLinSlow(uint lin, int size, uint v)
    {
        if (_tlbUser == CheckedTlb) CheckDataAccess(lin, size, write: true);
        WriteLinear(lin, size, v, Cpl == 3, fillTlb: true);
    }

    /// <summary>Reads with an explicit privilege: descriptor tables and the TSS are supervisor accesses even at CPL 3.</summary>
    internal uint ReadLinear(uint lin, int size, bool user, bool fillTlb)
    {
        if ((lin & 0xFFF) + (uint)size > 0x1000)
        {
            uint v = 0;
            for (int k = 0; k < size; k++) v |= ReadLinear(lin + (uint)k, 1, user, false) << (8 * k);
            return v;
        }
        uint phys = Translate(lin, false, user);
        int page = (int)(phys >> 12);
        byte[]? a = _mem.ReadArray[page];
        if (a is not null)
        {
            int idx = _mem.ReadBase[page] + (int)(phys & 0xFFF);
            if (fillTlb) FillTlb(_tlbR, lin, user, a, _mem.ReadBase[page]);
            return size switch
            {
                1 => a[idx],
                2 => Unsafe.ReadUnaligned<ushort>(ref a[idx]),
                _ => Unsafe.ReadUnaligned<uint>(ref a[idx]),
            };
        }
        return ReadPhysicalIo(phys, size);
    }

    internal void WriteLinear(uint lin, int size, uint v, bool user, bool fillTlb)
    {
        if ((lin & 0xFFF) + (uint)size > 0x1000)
        {
            // Both pages must be writable before any byte lands (no partial writes on a fault). A fault on the second
            // page reports its first byte in CR2, as a read's byte-wise walk does (and Bochs and QEMU do).
            Translate(lin, true, user);
            Translate((lin + (uint)size - 1) & 0xFFFFF000, true, user);
            for (int k = 0; k < size; k++) WriteLinear(lin + (uint)k, 1, v >> (8 * k), user, false);
            return;
        }
        uint phys = Translate(lin, true, user);
        WritePhysicalAt(phys, size, v, fillTlb ? lin : uint.MaxValue, user);
    }

    private void WritePhysicalAt(uint phys, int size, uint v, uint linForTlb, bool user)
    {
        int page = (int)(phys >> 12);
        byte[]? a = _mem.WriteArray[page];
        if (a is not null)
        {
            int off = (int)(phys & 0xFFF);
            int idx = _mem.WriteBase[page] + off;
            switch (size)
            {
                case 1: a[idx] = (byte)v; break;
                case 2: Unsafe.WriteUnaligned(ref a[idx], (ushort)v); break;
                default: Unsafe.WriteUnaligned(ref a[idx], v); break;
            }
            _mem.LogWrite(page); // before any write TLB entry for the page exists (PhysicalMemory's dirty log)
            if (_mem.Code.HasCode((uint)page))
            {
                _mem.Code.NotifyWrite((uint)page, off, size);
                _blockBreak = true; // the rest of a translated block may be stale: the interpreter re-fetches
            }
            else if (linForTlb != uint.MaxValue) FillTlb(_tlbW, linForTlb, user, a, _mem.WriteBase[page]);
            return;
        }
        _blockBreak = true; // a device may raise INTR or re-map memory: end a translated block here
        if (_mem.WriteKind[page] == PageSourceKind.Io)
        {
            _bus.WriteMmio(phys, size, size == 4 ? v : v & ((1u << (8 * size)) - 1));
            CheckMapGeneration();
        }
    }

    private uint ReadPhysicalIo(uint phys, int size)
    {
        int page = (int)(phys >> 12);
        _blockBreak = true;
        if (_mem.ReadKind[page] == PageSourceKind.Io)
        {
            uint v = _bus.ReadMmio(phys, size);
            CheckMapGeneration(); // a register read can have side effects on the memory map
            return v;
        }
        return size == 4 ? 0xFFFFFFFF : (1u << (8 * size)) - 1;
    }

    internal uint ReadPhysical32(uint phys)
    {
        int page = (int)(phys >> 12);
        byte[]? a = _mem.ReadArray[page];
        if (a is not null && (phys & 0xFFF) <= 0xFFC) return Unsafe.ReadUnaligned<uint>(ref a[_mem.ReadBase[page] + (int)(phys & 0xFFF)]);
        return ReadPhysicalIo(phys, 4);
    }

    internal void WritePhysical32(uint phys, uint v) => WritePhysicalAt(phys, 4, v, uint.MaxValue, false);

    /// <summary>32-bit paging walk with PSE, setting accessed/dirty bits; throws #PF with CR2 set.</summary>
    internal uint Translate(uint lin, bool write, bool user)
    {
        if ((Cr0_ & CR0_PG) == 0) return lin & _a20Mask;
        uint pdeAddr = ((Cr3_ & 0xFFFFF000) | ((lin >> 20) & 0xFFC)) & _a20Mask;
        uint pde = ReadPhysical32(pdeAddr);
        if ((pde & 1) == 0) throw PageFault(lin, false, write, user);
        if ((pde & 0x80) != 0 && (Cr4_ & CR4_PSE) != 0)
        {
            CheckPagePermission(pde, lin, write, user);
            uint upd = pde | 0x20 | (write ? 0x40u : 0);
            if (upd != pde) WritePhysical32(pdeAddr, upd);
            return ((pde & 0xFFC00000) | (lin & 0x3FFFFF)) & _a20Mask;
        }
        uint pteAddr = ((pde & 0xFFFFF000) | ((lin >> 10) & 0xFFC)) & _a20Mask;
        uint pte = ReadPhysical32(pteAddr);
        if ((pte & 1) == 0) throw PageFault(lin, false, write, user);
        CheckPagePermission(pde & pte, lin, write, user);
        if ((pde & 0x20) == 0) WritePhysical32(pdeAddr, pde | 0x20);
        uint nte = pte | 0x20 | (write ? 0x40u : 0);
        if (nte != pte) WritePhysical32(pteAddr, nte);
        return ((pte & 0xFFFFF000) | (lin & 0xFFF)) & _a20Mask;
    }

    private void CheckPagePermission(uint bits, uint lin, bool write, bool user)
    {
        if (user && (bits & 4) == 0) throw PageFault(lin, true, write, user);
        // CR0.WP makes read-only pages read-only for the supervisor too (SDM vol. 3 §4.6).
        if (write && (bits & 2) == 0 && (user || (Cr0_ & CR0_WP) != 0)) throw PageFault(lin, true, write, user);
    }

    private GuestFault PageFault(uint lin, bool present, bool write, bool user)
    {
        Cr2_ = lin;
        return new GuestFault(14, (present ? 1 : 0) | (write ? 2 : 0) | (user ? 4 : 0));
    }

    // ---------------- supervisor (system) accesses: GDT, LDT, IDT, TSS ----------------

    internal uint ReadSys32(uint lin) => ReadLinear(lin, 4, false, false);
    internal ushort ReadSys16(uint lin) => (ushort)ReadLinear(lin, 2, false, false);
    internal byte ReadSys8(uint lin) => (byte)ReadLinear(lin, 1, false, false);
    internal void WriteSys32(uint lin, uint v) => WriteLinear(lin, 4, v, false, false);
    internal void WriteSys16(uint lin, ushort v) => WriteLinear(lin, 2, v, false, false);
    internal void WriteSys8(uint lin, byte v) => WriteLinear(lin, 1, v, false, false);

    /// <summary>Debugger/monitor read at a linear address, through paging, without faulting (unmapped bytes read 0xFF).</summary>
    public void ReadLinearMemory(uint linear, Span<byte> destination)
    {
        Span<byte> one = stackalloc byte[1];
        for (int k = 0; k < destination.Length; k++)
        {
            uint lin = linear + (uint)k;
            if (!TryTranslateQuiet(lin, out uint phys)) { destination[k] = 0xFF; continue; }
            _mem.Read(phys, one);
            destination[k] = one[0];
        }
    }

    /// <summary>Page walk with no side effects (no A/D bits, no faults), for the monitor.</summary>
    public bool TryTranslateQuiet(uint lin, out uint phys)
    {
        phys = 0;
        if ((Cr0_ & CR0_PG) == 0) { phys = lin & _a20Mask; return true; }
        uint pde = ReadPhysical32(((Cr3_ & 0xFFFFF000) | ((lin >> 20) & 0xFFC)) & _a20Mask);
        if ((pde & 1) == 0) return false;
        if ((pde & 0x80) != 0 && (Cr4_ & CR4_PSE) != 0) { phys = ((pde & 0xFFC00000) | (lin & 0x3FFFFF)) & _a20Mask; return true; }
        uint pte = ReadPhysical32(((pde & 0xFFFFF000) | ((lin >> 10) & 0xFFC)) & _a20Mask);
        if ((pte & 1) == 0) return false;
        phys = ((pte & 0xFFFFF000) | (lin & 0xFFF)) & _a20Mask;
        return true;
    }
}
