using System.Runtime.CompilerServices;
using Iced.Intel;

namespace MiniVM.Cpu;

// Instruction fetch through the decode cache. Instructions are decoded with IP = offset in the physical page,
// so a cached entry is valid wherever the page is mapped; branch targets are applied relative to NextIP.
public sealed partial class X86Cpu
{
    private readonly ByteCodeReader _codeReader = new();
    private readonly Decoder _dec16, _dec32;
    private readonly byte[] _fetchBytes = new byte[16];
    private uint _fetchPage = uint.MaxValue;
    private uint _fetchPhysPage;
    private DecodedPage? _fetchDecoded;
    private DecodedOp _scratch;

    /// <summary>The current fetch page's index and entries (copies of <see cref="_fetchDecoded"/>'s, one load closer).</summary>
    private ushort[]? _fetchIndex;
    private DecodedOp[] _fetchEntries = [];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref DecodedOp Fetch()
    {
        uint lin = CsBase + Eip_;
        if (lin >> 12 != _fetchPage) ResolveFetchPage(lin);
        var index = _fetchIndex;
        if (index is not null)
        {
            int e = index[lin & 0xFFF];
            if (e != 0 && (e & DecodedPage.Code32Flag) == _codeFlag)
            {
                ref DecodedOp op = ref _fetchEntries[(e & (DecodedPage.Code32Flag - 1)) - 1];
                if ((ulong)Eip_ + op.Length - 1 > CsLimit) throw new GuestFault(13, 0);
                return ref op;
            }
        }
        return ref DecodeAt(lin);
    }

    private void ResolveFetchPage(uint lin)
    {
        // Code fetches need read permission at the current privilege (no NX on a P6).
        uint phys = Translate(lin, false, Cpl == 3);
        _fetchPhysPage = phys >> 12;
        _fetchPage = lin >> 12;
        var kind = _mem.ReadKind[_fetchPhysPage];
        _fetchDecoded = kind is PageSourceKind.Ram or PageSourceKind.Array ? _mem.Code.GetOrCreate(_fetchPhysPage) : null;
        _fetchIndex = _fetchDecoded?.Index;
        _fetchEntries = _fetchDecoded?.Entries ?? [];
    }

    private ref DecodedOp DecodeAt(uint lin)
    {
        int off = (int)(lin & 0xFFF);
        int n = Math.Min(15, 0x1000 - off);
        uint phys = (_fetchPhysPage << 12) | (uint)off;
        ReadCodeBytes(phys, _fetchBytes.AsSpan(0, n));
        var decoder = CodeBits == 32 ? _dec32 : _dec16;
        _codeReader.Reset(_fetchBytes, n);
        decoder.IP = (ulong)off;
        decoder.Decode(out _scratch.Ins);
        bool crosses = false;
        if (decoder.LastError == DecoderError.NoMoreBytes && n < 15)
        {
            // The instruction continues on the next linear page: fetch it through paging (may #PF there).
            crosses = true;
            uint nextPhys = Translate((lin & 0xFFFFF000) + 0x1000, false, Cpl == 3);
            ReadCodeBytes(nextPhys, _fetchBytes.AsSpan(n, 15 - n));
            _codeReader.Reset(_fetchBytes, 15);
            decoder.IP = (ulong)off;
            decoder.Decode(out _scratch.Ins);
        }
        // More than 15 bytes (redundant prefixes) is #GP(0), not #UD (SDM vol. 2 §2.3.11). Iced marks an instruction
        // invalid when it would need a 16th byte; an undefined opcode padded with prefixes to exactly 15 bytes is
        // invalid too, and stays #UD.
        if (_scratch.Ins.Code == Code.INVALID && _codeReader.Consumed == 15 && IsLegacyPrefix(_fetchBytes[0]) && !IsUndefinedWithoutPadding())
            throw new GuestFault(13, 0);
        if ((ulong)Eip_ + (uint)_scratch.Ins.Length - 1 > S[1].Limit) throw new GuestFault(13, 0);
        Predecode(ref _scratch, CodeBits);
        var dp = _fetchDecoded;
        if (crosses || dp is null) return ref _scratch;
        bool wasEmpty = dp.Count == 0;
        int slot = dp.Add(off, in _scratch, CodeBits);
        _fetchEntries = dp.Entries; // Add may have grown the array
        // A page just became code: writes to it must leave the fast path so they can invalidate it.
        if (wasEmpty) FlushWriteTlb();
        return ref dp.Entries[slot];
    }


    private static bool IsLegacyPrefix(byte b) => b is 0x26 or 0x2E or 0x36 or 0x3E or 0x64 or 0x65 or 0x66 or 0x67 or 0xF0 or 0xF2 or 0xF3;

    /// <summary>
    /// The 15 fetched bytes, with repeated prefixes dropped (one of each keeps their meaning), decode as an undefined
    /// opcode rather than as an instruction cut short: the guest's instruction is undefined, not too long.
    /// </summary>
    private bool IsUndefinedWithoutPadding()
    {
        var bytes = new List<byte>(15);
        int p = 0;
        for (; p < 15 && IsLegacyPrefix(_fetchBytes[p]); p++)
            if (!bytes.Contains(_fetchBytes[p])) bytes.Add(_fetchBytes[p]);
        for (int i = p; i < 15; i++) bytes.Add(_fetchBytes[i]);
        // NOPs after the fetched bytes give a cut-short instruction the bytes it lacked: only an undefined one stays invalid.
        for (int i = 0; i < 15; i++) bytes.Add(0x90);
        var decoder = Decoder.Create(CodeBits, new ByteArrayCodeReader(bytes.ToArray()), 0, DecoderOptions.None);
        decoder.Decode(out var ins);
        return ins.Code == Code.INVALID;
    }

    private void ReadCodeBytes(uint phys, Span<byte> dst)
    {
        int page = (int)(phys >> 12);
        byte[]? a = _mem.ReadArray[page];
        if (a is not null) a.AsSpan(_mem.ReadBase[page] + (int)(phys & 0xFFF), dst.Length).CopyTo(dst);
        else for (int k = 0; k < dst.Length; k++) dst[k] = (byte)ReadPhysicalIo(phys + (uint)k, 1);
    }
}
