using MiniVM.Devices;
using MiniVM.Devices.Storage;

namespace MiniVM.Devices.Tests.Storage;

public class Dma8237Tests
{
    private readonly PortBus _ports = new();
    private readonly FlatGuestMemory _memory = new(1 << 20);
    private readonly Dma8237 _dma;

    public Dma8237Tests()
    {
        _dma = new Dma8237(_memory);
        _dma.Attach(_ports);
    }

    private void Out(int port, byte v) => _ports.Write((ushort)port, 1, v);
    private byte In(int port) => (byte)_ports.Read((ushort)port, 1);

    private void Program8(int channel, ushort address, ushort count, byte mode, byte page, int pagePort)
    {
        Out(0x0A, (byte)(0x04 | channel));
        Out(0x0C, 0);
        Out(channel * 2, (byte)address); Out(channel * 2, (byte)(address >> 8));
        Out(channel * 2 + 1, (byte)count); Out(channel * 2 + 1, (byte)(count >> 8));
        Out(0x0B, (byte)(mode | channel));
        Out(pagePort, page);
        Out(0x0A, (byte)channel);
    }

    private static byte[] Bytes(int n, int seed) => Enumerable.Range(0, n).Select(i => (byte)(i * 3 + seed)).ToArray();

    [Fact]
    public void PortEightyStaysFreeForThePostCodeDevice()
    {
        Assert.Null(_ports.DeviceAt(0x80));
        Assert.Same(_dma, _ports.DeviceAt(0x81));
        Assert.Same(_dma, _ports.DeviceAt(0x8F));
        Assert.Same(_dma, _ports.DeviceAt(0xDE));
    }

    [Fact]
    public void ChannelTwoWritesAtPageAndAddressAndStopsAtTerminalCount()
    {
        Program8(2, 0x1234, 9, 0x44, 0x05, 0x81);
        int n = _dma.WriteMemory(2, Bytes(16, 1), out bool tc);
        Assert.Equal(10, n);
        Assert.True(tc);
        Assert.Equal(Bytes(10, 1), _memory.Bytes.AsSpan(0x51234, 10).ToArray());
        Assert.Equal(0, _memory.Bytes[0x5123E]);
        Assert.Equal(0x04, In(0x08) & 0x0F); // TC bit of channel 2, cleared by the read
        Assert.Equal(0x00, In(0x08) & 0x0F);
        Assert.Equal(0x04, In(0x0F) & 0x04);  // masked itself at TC (no autoinit)
        Assert.False(_dma.IsActive(2));
        // Current address and count read back through the flip-flop.
        Out(0x0C, 0);
        Assert.Equal(0x3E, In(0x04)); Assert.Equal(0x12, In(0x04));
        Assert.Equal(0xFF, In(0x05)); Assert.Equal(0xFF, In(0x05));
    }

    [Fact]
    public void MemoryToDeviceReadsAndWrongDirectionMovesNothing()
    {
        Bytes(8, 7).CopyTo(_memory.Bytes, 0x3000);
        Program8(1, 0x3000, 7, 0x48, 0x00, 0x83);
        var buffer = new byte[8];
        Assert.Equal(0, _dma.WriteMemory(1, buffer, out _)); // channel programmed memory→device
        Assert.Equal(8, _dma.ReadMemory(1, buffer, out bool tc));
        Assert.True(tc);
        Assert.Equal(Bytes(8, 7), buffer);
    }

    [Fact]
    public void AutoinitReloadsTheBaseRegistersAtTerminalCount()
    {
        Program8(3, 0x2000, 3, 0x54, 0x00, 0x82); // write, autoinit
        Assert.Equal(4, _dma.WriteMemory(3, Bytes(6, 1), out bool tc));
        Assert.True(tc);
        Assert.True(_dma.IsActive(3));
        Assert.Equal(4, _dma.WriteMemory(3, Bytes(4, 50), out _));
        Assert.Equal(Bytes(4, 50), _memory.Bytes.AsSpan(0x2000, 4).ToArray());
    }

    [Fact]
    public void AddressCounterWrapsInsideTheSixtyFourKilobytePage()
    {
        Program8(2, 0xFFFE, 3, 0x44, 0x02, 0x81);
        Assert.Equal(4, _dma.WriteMemory(2, new byte[] { 1, 2, 3, 4 }, out _));
        Assert.Equal(new byte[] { 1, 2 }, _memory.Bytes.AsSpan(0x2FFFE, 2).ToArray());
        Assert.Equal(new byte[] { 3, 4 }, _memory.Bytes.AsSpan(0x20000, 2).ToArray());
        Assert.Equal(0, _memory.Bytes[0x30000]);
    }

    [Fact]
    public void DecrementModeFillsDownwards()
    {
        Program8(0, 0x1003, 3, 0x64, 0x00, 0x87);
        Assert.Equal(4, _dma.WriteMemory(0, new byte[] { 1, 2, 3, 4 }, out _));
        Assert.Equal(new byte[] { 4, 3, 2, 1 }, _memory.Bytes.AsSpan(0x1000, 4).ToArray());
    }

    [Fact]
    public void SixteenBitChannelsCountWordsAndIgnorePageBitZero()
    {
        Out(0xDA, 0);                        // master clear DMA2: everything masked
        Out(0xD4, 0x00);                     // unmask cascade channel 4
        Out(0xD8, 0);
        Out(0xC4, 0x00); Out(0xC4, 0x10);    // channel 5 word address 0x1000
        Out(0xC6, 0x02); Out(0xC6, 0x00);    // 3 words
        Out(0xD6, 0x45);                     // single, write, channel 5
        Out(0x8B, 0x03);                     // page 3 → bit 0 ignored: 0x20000
        Out(0xD4, 0x01);
        Assert.Equal(6, _dma.WriteMemory(5, Bytes(10, 2), out bool tc));
        Assert.True(tc);
        Assert.Equal(Bytes(6, 2), _memory.Bytes.AsSpan(0x22000, 6).ToArray());
    }

    [Fact]
    public void RequestWhileMaskedIsServicedWhenTheChannelIsUnmasked()
    {
        var client = new CountingClient();
        _dma.Connect(2, client);
        Out(0x0A, 0x06);
        _dma.SetRequest(2, true);
        Assert.Equal(0, client.Calls);
        Out(0x0A, 0x02);
        Assert.Equal(1, client.Calls);
        Assert.Equal(0x40, In(0x08) & 0x40); // DREQ 2 visible in the status register
        Assert.Throws<InvalidOperationException>(() => _dma.Connect(2, new CountingClient()));
    }

    [Fact]
    public void PageRegistersWithoutChannelsAreScratchBytes()
    {
        Out(0x84, 0x5A);
        Out(0x81, 0x12);
        Assert.Equal(0x5A, In(0x84));
        Assert.Equal(0x12, In(0x81));
    }

    [Fact]
    public void SnapshotRoundTripKeepsProgrammedChannels()
    {
        Program8(2, 0x4000, 0x1FF, 0x46, 0x01, 0x81);
        var stream = new MemoryStream();
        _dma.SaveState(new StateWriter(stream));
        var other = new Dma8237(_memory);
        stream.Position = 0;
        other.LoadState(new StateReader(stream, "dma"), 1);
        Assert.Equal(512, other.RemainingBytes(2));
        Assert.Equal(512, other.WriteMemory(2, Bytes(600, 4), out _));
        Assert.Equal(Bytes(512, 4), _memory.Bytes.AsSpan(0x14000, 512).ToArray());
        Assert.Throws<StateFormatException>(() => other.LoadState(new StateReader(new MemoryStream(stream.ToArray()[..30]), "dma"), 1));
    }

    [Fact]
    public void ResetMasksEveryChannelAndClearsTheRegisters()
    {
        Program8(2, 0x4000, 0x1FF, 0x46, 0x01, 0x81);
        Out(0x84, 0x77);
        _dma.Reset();
        Assert.False(_dma.IsActive(2));
        Assert.Equal(0x0F, In(0x0F) & 0x0F);
        Assert.Equal(0x00, In(0x81));
        Assert.Equal(0x00, In(0x84));
        Assert.Equal(0, _dma.WriteMemory(2, new byte[4], out _));
    }

    private sealed class CountingClient : IDmaClient
    {
        public int Calls;
        public void ServiceDma(Dma8237 dma, int channel) => Calls++;
    }
}
