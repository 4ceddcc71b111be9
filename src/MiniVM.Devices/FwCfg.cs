using System.Buffers.Binary;
using System.Text;

namespace MiniVM.Devices;

/// <summary>
/// QEMU's firmware configuration device (docs/specs/fw_cfg.txt in QEMU) so SeaBIOS finds what it finds on QEMU:
/// selector at 0x510 (16-bit write), data at 0x511 (byte reads advance through the selected item), and the DMA
/// interface at 0x514 (big-endian address; the write of the low half at 0x518 runs the transfer) when guest
/// memory is supplied. Items: signature "QEMU", ID (bit 1 = DMA), UUID, RAM size, CPU counts, boot menu, and the
/// file directory (0x19: big-endian count, then 64-byte entries of size, select, name) of files added with
/// <see cref="AddFile"/>; SeaBIOS reads them in src/fw/paravirt.c (qemu_cfg_init).
/// </summary>
public sealed class FwCfg : IPortDevice, ISnapshottable, IPortMapped
{
    public const ushort KeySignature = 0x00, KeyId = 0x01, KeyUuid = 0x02, KeyRamSize = 0x03, KeyNoGraphic = 0x04,
        KeyNbCpus = 0x05, KeyNuma = 0x0D, KeyBootMenu = 0x0E, KeyMaxCpus = 0x0F, KeyFileDir = 0x19,
        KeyFileFirst = 0x20, KeyArchLocal = 0x8000;

    private const ushort WriteFlag = 0x4000;
    private const int FileNameLength = 56;
    private const uint DmaError = 0x01, DmaRead = 0x02, DmaSkip = 0x04, DmaSelect = 0x08, DmaWrite = 0x10;

    private readonly IGuestMemory? _memory;
    private readonly Dictionary<ushort, byte[]> _items = new();
    private readonly SortedDictionary<string, byte[]> _files = new(StringComparer.Ordinal);
    private byte[][] _fileData = [];   // file contents by select key - KeyFileFirst
    private byte[]? _current;          // the selected item, looked up once per selection
    private ushort _selector;
    private int _offset;
    private uint _dmaHigh;

    /// <param name="dmaMemory">Guest memory for the DMA interface; null offers only the port interface.</param>
    public FwCfg(IGuestMemory? dmaMemory = null)
    {
        _memory = dmaMemory;
        _items[KeySignature] = "QEMU"u8.ToArray();
        _items[KeyId] = Le32(dmaMemory is null ? 1u : 3u);
        _items[KeyUuid] = new byte[16];
        _items[KeyNoGraphic] = Le16(0);
        _items[KeyBootMenu] = Le16(0);
        SetRamSize(0);
        SetCpuCount(1, 1);
        RebuildDirectory();
    }

    public string SectionId => "fwcfg";
    public int SectionVersion => 1;

    public bool DmaSupported => _memory is not null;

    public void Attach(PortBus ports)
    {
        ports.Register(0x510, 2, this);
        if (_memory is not null) ports.Register(0x514, 8, this);
    }

    /// <summary>Sets a numbered item (legacy keys below 0x20, or arch-local 0x8000+).</summary>
    public void SetItem(ushort key, byte[] data)
    {
        if ((key & WriteFlag) != 0 || ((key & 0x3FFF) >= KeyFileFirst && key < KeyArchLocal))
            throw new ArgumentOutOfRangeException(nameof(key), $"fw_cfg key 0x{key:X4} is not a legacy or arch-local item");
        if (key == KeyFileDir) throw new ArgumentOutOfRangeException(nameof(key), "the file directory is built from AddFile");
        _items[key] = data;
        _current = Lookup(_selector);
    }

    /// <summary>Adds a named file to the directory (names up to 55 ASCII characters, e.g. "etc/e820").</summary>
    public void AddFile(string name, byte[] data)
    {
        if (name.Length == 0 || name.Length >= FileNameLength || !Ascii.IsValid(name))
            throw new ArgumentException($"fw_cfg file name '{name}' must be 1..{FileNameLength - 1} ASCII characters", nameof(name));
        if (!_files.TryAdd(name, data)) throw new ArgumentException($"fw_cfg file '{name}' already exists", nameof(name));
        if (_files.Count > WriteFlag - KeyFileFirst) throw new ArgumentException("too many fw_cfg files", nameof(name));
        RebuildDirectory();
    }

    /// <summary>Replaces or adds a named file.</summary>
    public void SetFile(string name, byte[] data)
    {
        _files.Remove(name);
        AddFile(name, data);
    }

    public void SetRamSize(ulong bytes) => _items[KeyRamSize] = Le64(bytes);

    public void SetCpuCount(ushort bootCpus, ushort maxCpus)
    {
        if (bootCpus == 0 || maxCpus < bootCpus) throw new ArgumentOutOfRangeException(nameof(maxCpus), $"CPU counts {bootCpus}/{maxCpus} are inconsistent");
        _items[KeyNbCpus] = Le16(bootCpus);
        _items[KeyMaxCpus] = Le16(maxCpus);
    }

    /// <summary>"etc/e820": the memory map SeaBIOS merges into its own (RAM above its CMOS size, reservations).</summary>
    public void SetE820(ReadOnlySpan<E820Entry> entries)
    {
        var data = new byte[entries.Length * E820Entry.Size];
        for (int i = 0; i < entries.Length; i++) entries[i].WriteTo(data.AsSpan(i * E820Entry.Size));
        SetFile("etc/e820", data);
    }

    /// <summary>"bootorder": OpenFirmware device paths, one per line, most preferred first (SeaBIOS boot.c).</summary>
    public void SetBootOrder(IEnumerable<string> devicePaths)
    {
        string text = string.Join('\n', devicePaths);
        var data = new byte[text.Length + 1]; // NUL-terminated, as QEMU passes it
        Encoding.ASCII.GetBytes(text, data);
        SetFile("bootorder", data);
    }

    /// <summary>"etc/boot-fail-wait": milliseconds SeaBIOS waits before rebooting when nothing boots (u32).</summary>
    public void SetBootFailWait(uint milliseconds) => SetFile("etc/boot-fail-wait", Le32(milliseconds));

    /// <summary>Boot menu on/off (legacy key 0x0E, SeaBIOS "etc/show-boot-menu").</summary>
    public void SetBootMenu(bool show) => _items[KeyBootMenu] = Le16(show ? (ushort)1 : (ushort)0);

    private void RebuildDirectory()
    {
        var dir = new byte[4 + _files.Count * 64];
        BinaryPrimitives.WriteUInt32BigEndian(dir, (uint)_files.Count);
        int i = 0;
        foreach (var (name, data) in _files)
        {
            var entry = dir.AsSpan(4 + i * 64, 64);
            BinaryPrimitives.WriteUInt32BigEndian(entry, (uint)data.Length);
            BinaryPrimitives.WriteUInt16BigEndian(entry[4..], (ushort)(KeyFileFirst + i));
            Encoding.ASCII.GetBytes(name, entry[8..]);
            i++;
        }
        _items[KeyFileDir] = dir;
        _fileData = [.. _files.Values];
        _current = Lookup(_selector);
    }

    private byte[]? Lookup(ushort key)
    {
        if (_items.TryGetValue(key, out var item)) return item;
        int fileIndex = key - KeyFileFirst;
        return fileIndex >= 0 && fileIndex < _fileData.Length ? _fileData[fileIndex] : null;
    }

    private void Select(ushort key)
    {
        // Bit 14 asks for write access, which this device does not grant; bit 15 is the arch-local space.
        _selector = (ushort)(key & ~WriteFlag);
        _offset = 0;
        _current = Lookup(_selector);
    }

    private byte NextByte(byte[]? item)
    {
        if (item is null || _offset >= item.Length) return 0;
        return item[_offset++];
    }

    public uint ReadPort(ushort port, int size)
    {
        switch (port)
        {
            case 0x511:
                {
                    var item = _current;
                    uint v = 0;
                    for (int i = 0; i < size; i++) v |= (uint)NextByte(item) << (8 * i);
                    return v;
                }
            case 0x514:
                return BinaryPrimitives.ReadUInt32LittleEndian("QEMU"u8); // DMA signature "QEMU CFG" in memory order
            case 0x518:
                return BinaryPrimitives.ReadUInt32LittleEndian(" CFG"u8);
            default:
                return size switch { 1 => 0xFFu, 2 => 0xFFFFu, _ => 0xFFFF_FFFFu };
        }
    }

    public void WritePort(ushort port, int size, uint value)
    {
        switch (port)
        {
            case 0x510:
                Select((ushort)value);
                break;
            case 0x514 when size == 4:
                _dmaHigh = BinaryPrimitives.ReverseEndianness(value);
                break;
            case 0x518 when size == 4:
                {
                    ulong address = ((ulong)_dmaHigh << 32) | BinaryPrimitives.ReverseEndianness(value);
                    RunDma(address);
                    break;
                }
        }
    }

    /// <summary>Executes one FWCfgDmaAccess (big-endian control, length, address) and writes its status back.</summary>
    private void RunDma(ulong descriptorAddress)
    {
        var memory = _memory!;
        Span<byte> desc = stackalloc byte[16];
        if (descriptorAddress + 16 > (ulong)memory.RamSize || descriptorAddress + 16 < descriptorAddress) return;
        memory.ReadPhysical(descriptorAddress, desc);
        uint control = BinaryPrimitives.ReadUInt32BigEndian(desc);
        uint length = BinaryPrimitives.ReadUInt32BigEndian(desc[4..]);
        ulong address = BinaryPrimitives.ReadUInt64BigEndian(desc[8..]);

        if ((control & DmaSelect) != 0) Select((ushort)(control >> 16));
        uint status = 0;
        var item = _current;
        if ((control & DmaRead) != 0)
        {
            if (address + length > (ulong)memory.RamSize || address + length < address) status = DmaError;
            else
            {
                int available = item is null ? 0 : Math.Max(item.Length - _offset, 0);
                int n = (int)Math.Min(length, (uint)available);
                if (n > 0) memory.WritePhysical(address, item.AsSpan(_offset, n));
                _offset += n;
                // Past the end of the item the transfer reads zeros.
                Span<byte> zeros = stackalloc byte[256];
                zeros.Clear();
                for (ulong done = (ulong)n; done < length;)
                {
                    int chunk = (int)Math.Min((ulong)zeros.Length, length - done);
                    memory.WritePhysical(address + done, zeros[..chunk]);
                    done += (ulong)chunk;
                }
            }
        }
        else if ((control & DmaSkip) != 0)
        {
            int available = item is null ? 0 : Math.Max(item.Length - _offset, 0);
            _offset += (int)Math.Min(length, (uint)available);
        }
        else if ((control & DmaWrite) != 0)
        {
            status = DmaError; // no item is writable
        }
        Span<byte> result = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(result, status);
        memory.WritePhysical(descriptorAddress, result);
    }

    private static byte[] Le16(ushort v) { var b = new byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, v); return b; }
    private static byte[] Le32(uint v) { var b = new byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); return b; }
    private static byte[] Le64(ulong v) { var b = new byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, v); return b; }

    /// <summary>The guest-visible cursor only; item contents are machine configuration, rebuilt at start.</summary>
    public void SaveState(StateWriter w)
    {
        w.Write(_selector);
        w.Write(_offset);
        w.Write(_dmaHigh);
    }

    public void LoadState(StateReader r, int version)
    {
        if (version != SectionVersion) throw new StateFormatException($"section {SectionId}: version {version} is not supported (expected {SectionVersion})");
        ushort selector = r.ReadUInt16();
        int offset = r.ReadInt32InRange(0, int.MaxValue, "offset");
        uint high = r.ReadUInt32();
        _selector = selector;
        _offset = offset;
        _dmaHigh = high;
        _current = Lookup(selector);
    }
}
