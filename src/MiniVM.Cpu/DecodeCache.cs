namespace MiniVM.Cpu;

/// <summary>
/// Decoded instructions kept per physical page, keyed by the byte offset of their first byte. An instruction
/// that crosses into the next page is never cached (a write to either page could change it). A write that
/// overlaps the decoded byte range of a page drops that page's entries, so self-modifying code re-decodes.
/// </summary>
internal sealed class DecodeCache
{
    private readonly DecodedPage?[] _pages = new DecodedPage?[PhysicalMemory.PageCount];

    public DecodedPage GetOrCreate(uint page)
    {
        var p = _pages[page];
        if (p is null) { p = new DecodedPage(); _pages[page] = p; }
        return p;
    }

    public DecodedPage? Get(uint page) => _pages[page];

    public bool HasCode(uint page) => _pages[page] is { Count: > 0 };

    public void Invalidate(uint page)
    {
        var p = _pages[page];
        if (p is not null && p.Count > 0) p.Clear();
    }

    public void InvalidateAll()
    {
        foreach (var p in _pages)
            if (p is not null && p.Count > 0) p.Clear();
    }

    /// <summary>Forgets every translated block and tiering count; the decoded instructions stay.</summary>
    public void DropTranslations()
    {
        foreach (var p in _pages)
        {
            if (p is null) continue;
            for (int k = 0; k < p.Count; k++)
            {
                p.Entries[k].Block = null;
                p.Entries[k].Heat = 0;
                p.Entries[k].HeatRounds = 0;
            }
        }
    }

    /// <summary>A write of <paramref name="length"/> bytes at <paramref name="offset"/> in <paramref name="page"/>.</summary>
    public void NotifyWrite(uint page, int offset, int length)
    {
        var p = _pages[page];
        if (p is not null && p.Count > 0 && offset <= p.MaxByte && offset + length > p.MinByte) p.Clear();
    }
}

/// <summary>The decoded instructions of one physical page.</summary>
internal sealed class DecodedPage
{
    /// <summary>
    /// Per byte offset: slot + 1 of the instruction starting there (0 = not decoded), with bit 15 set when it was
    /// decoded as 32-bit code — the same bytes decode differently per CS.D, so the fetch compares both at once.
    /// </summary>
    public readonly ushort[] Index = new ushort[PhysicalMemory.PageSize];
    public DecodedOp[] Entries = new DecodedOp[64];
    public const int Code32Flag = 0x8000;
    public int Count;
    /// <summary>Range of bytes covered by decoded instructions; writes outside it keep the cache.</summary>
    public int MinByte = int.MaxValue, MaxByte = -1;

    /// <summary>Times this page's decoded code was dropped by a write: the translating engine backs off on pages
    /// where code and written data share a page, whose translations would keep being thrown away.</summary>
    public int Clears;

    public void Clear()
    {
        if (Count > 0 && Clears < int.MaxValue) Clears++;
        // Entries are reused from slot 0; clearing them also lets go of their translated blocks.
        Array.Clear(Entries, 0, Count);
        Array.Clear(Index);
        Count = 0;
        MinByte = int.MaxValue;
        MaxByte = -1;
    }

    public int Add(int offset, in DecodedOp op, int bitness)
    {
        // Re-decodes for another code size append entries; start over rather than overflow the 15-bit slot.
        if (Count >= Code32Flag - 2) Clear();
        if (Count == Entries.Length) Array.Resize(ref Entries, Count * 2);
        int slot = Count++;
        Entries[slot] = op;
        Index[offset] = (ushort)((slot + 1) | (bitness == 32 ? Code32Flag : 0));
        if (offset < MinByte) MinByte = offset;
        int last = offset + op.Length - 1;
        if (last > MaxByte) MaxByte = last;
        return slot;
    }
}
