using System.Buffers.Binary;
using System.Text;
using MiniVM.Devices;

namespace MiniVM.Devices.Tests.Chipset;

public class FwCfgTests
{
    private readonly PortBus _ports = new();
    private readonly ArrayGuestMemory _ram = new(0x10000);
    private readonly FwCfg _cfg;

    public FwCfgTests()
    {
        _cfg = new FwCfg(_ram);
        _cfg.Attach(_ports);
    }

    private byte[] ReadItem(ushort key, int length)
    {
        _ports.Write(0x510, 2, key);
        var b = new byte[length];
        for (int i = 0; i < length; i++) b[i] = (byte)_ports.Read(0x511, 1);
        return b;
    }

    /// <summary>SeaBIOS's qemu_cfg_dma_transfer: a big-endian descriptor, its address written big-endian to 0x518.</summary>
    private uint Dma(uint control, uint length, ulong address, ulong descriptor = 0x1000)
    {
        var d = _ram.Bytes.AsSpan((int)descriptor, 16);
        BinaryPrimitives.WriteUInt32BigEndian(d, control);
        BinaryPrimitives.WriteUInt32BigEndian(d[4..], length);
        BinaryPrimitives.WriteUInt64BigEndian(d[8..], address);
        _ports.Write(0x518, 4, BinaryPrimitives.ReverseEndianness((uint)descriptor));
        return BinaryPrimitives.ReadUInt32BigEndian(d);
    }

    [Fact]
    public void Signature_id_ram_size_and_cpu_counts_through_the_ports()
    {
        Assert.Equal("QEMU", Encoding.ASCII.GetString(ReadItem(FwCfg.KeySignature, 4)));
        Assert.Equal(new byte[] { 3, 0, 0, 0 }, ReadItem(FwCfg.KeyId, 4)); // traditional + DMA
        _cfg.SetRamSize(128UL << 20);
        _cfg.SetCpuCount(1, 4);
        Assert.Equal(128UL << 20, BinaryPrimitives.ReadUInt64LittleEndian(ReadItem(FwCfg.KeyRamSize, 8)));
        Assert.Equal(new byte[] { 1, 0 }, ReadItem(FwCfg.KeyNbCpus, 2));
        Assert.Equal(new byte[] { 4, 0 }, ReadItem(FwCfg.KeyMaxCpus, 2));
        Assert.Equal(new byte[] { 0, 0 }, ReadItem(0x1234, 2)); // unknown key reads zeros

        var noDma = new FwCfg();
        var ports = new PortBus();
        noDma.Attach(ports);
        ports.Write(0x510, 2, FwCfg.KeyId);
        Assert.Equal(1u, ports.Read(0x511, 1));
        Assert.Null(ports.DeviceAt(0x518));
    }

    [Fact]
    public void File_directory_lists_files_sorted_with_big_endian_fields()
    {
        _cfg.SetBootFailWait(5000);
        _cfg.SetE820([new E820Entry(0, 128UL << 20, E820Entry.Ram), new E820Entry(0xFFFC0000, 0x40000, E820Entry.Reserved)]);
        _cfg.SetBootOrder(["/pci@i0cf8/ide@1,1/drive@0/disk@0", "/rom@genroms/vgaroms"]);
        var count = ReadItem(FwCfg.KeyFileDir, 4);
        Assert.Equal(3u, BinaryPrimitives.ReadUInt32BigEndian(count));
        var names = new List<string>();
        var entries = new List<(uint Size, ushort Select)>();
        for (int i = 0; i < 3; i++)
        {
            var e = new byte[64];
            for (int j = 0; j < 64; j++) e[j] = (byte)_ports.Read(0x511, 1);
            entries.Add((BinaryPrimitives.ReadUInt32BigEndian(e), BinaryPrimitives.ReadUInt16BigEndian(e.AsSpan(4))));
            names.Add(Encoding.ASCII.GetString(e, 8, 56).TrimEnd('\0'));
        }
        Assert.Equal(new[] { "bootorder", "etc/boot-fail-wait", "etc/e820" }, names);
        Assert.Equal((4u, (ushort)0x21), entries[1]);
        Assert.Equal(new byte[] { 0x88, 0x13, 0, 0 }, ReadItem(entries[1].Select, 4));
        var e820 = ReadItem(entries[2].Select, (int)entries[2].Size);
        Assert.Equal(40, e820.Length);
        Assert.Equal(0xFFFC0000UL, BinaryPrimitives.ReadUInt64LittleEndian(e820.AsSpan(20)));
        Assert.Equal(2u, BinaryPrimitives.ReadUInt32LittleEndian(e820.AsSpan(36)));
        var boot = Encoding.ASCII.GetString(ReadItem(entries[0].Select, (int)entries[0].Size));
        Assert.Equal("/pci@i0cf8/ide@1,1/drive@0/disk@0\n/rom@genroms/vgaroms\0", boot);
    }

    [Fact]
    public void Dma_select_and_read_fills_guest_memory_and_clears_control()
    {
        _cfg.AddFile("etc/test", "hello fw_cfg"u8.ToArray());
        uint status = Dma((0x19u << 16) | 0x08 | 0x02, 4, 0x2000);
        Assert.Equal(0u, status);
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32BigEndian(_ram.Bytes.AsSpan(0x2000)));

        _ram.Bytes.AsSpan(0x3000, 32).Fill(0xAA);
        Assert.Equal(0u, Dma((0x20u << 16) | 0x08 | 0x04, 6, 0)); // select file, skip "hello "
        Assert.Equal(0u, Dma(0x02, 10, 0x3000));                   // read past the end: zeros follow
        Assert.Equal("fw_cfg\0\0\0\0", Encoding.ASCII.GetString(_ram.Bytes, 0x3000, 10));
        Assert.Equal(0xAA, _ram.Bytes[0x300A]);
    }

    [Fact]
    public void Dma_errors_are_reported_in_the_control_word()
    {
        Assert.Equal(1u, Dma((0x19u << 16) | 0x08 | 0x10, 4, 0x2000)); // write: nothing is writable
        Assert.Equal(1u, Dma(0x02, 0x100, 0xFFFF0)); // beyond guest RAM
    }

    [Fact]
    public void Bad_file_names_and_duplicates_are_refused()
    {
        Assert.Throws<ArgumentException>(() => _cfg.AddFile(new string('x', 56), []));
        Assert.Throws<ArgumentException>(() => _cfg.AddFile("", []));
        _cfg.AddFile("etc/a", [1]);
        var ex = Assert.Throws<ArgumentException>(() => _cfg.AddFile("etc/a", [2]));
        Assert.Contains("etc/a", ex.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => _cfg.SetItem(0x25, [1]));     // file range
        Assert.Throws<ArgumentOutOfRangeException>(() => _cfg.SetItem(FwCfg.KeyFileDir, [1]));
        _cfg.SetItem(0x8002, [1, 0, 0, 0]);                                             // arch-local IRQ0 override
        Assert.Equal(new byte[] { 1, 0, 0, 0 }, ReadItem(0x8002, 4));
    }

    [Fact]
    public void State_round_trip_keeps_the_read_cursor()
    {
        _ports.Write(0x510, 2, FwCfg.KeySignature);
        _ports.Read(0x511, 1);
        var ms = new MemoryStream();
        _cfg.SaveState(new StateWriter(ms));
        var copy = new FwCfg();
        var ports = new PortBus();
        copy.Attach(ports);
        ms.Position = 0;
        copy.LoadState(new StateReader(ms, "fwcfg"), 1);
        Assert.Equal((uint)'E', ports.Read(0x511, 1));
        Assert.Throws<StateFormatException>(() => copy.LoadState(new StateReader(new MemoryStream([1]), "fwcfg"), 1));
    }
}
