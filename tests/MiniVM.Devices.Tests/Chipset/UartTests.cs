using System.Text;
using MiniVM.Devices;

namespace MiniVM.Devices.Tests.Chipset;

public class UartTests
{
    private readonly VirtualClock _clock = new();
    private readonly PortBus _ports = new();
    private readonly RecordingIrqLine _irq4 = new();
    private readonly List<byte> _sent = new();
    private readonly Uart16550 _uart;

    public UartTests()
    {
        _uart = new Uart16550(_clock, _sent.Add).Wired(_irq4);
        _uart.Attach(_ports);
    }

    private uint Read(int reg) => _ports.Read((ushort)(0x3F8 + reg), 1);
    private void Write(int reg, uint v) => _ports.Write((ushort)(0x3F8 + reg), 1, v);

    private void InitLikeSeaBios()
    {
        Write(3, 0x80); Write(0, 0x01); Write(1, 0x00); Write(3, 0x03); // 115200 8N1
    }

    [Fact]
    public void Transmitted_bytes_reach_the_sink_and_lsr_shows_empty()
    {
        InitLikeSeaBios();
        foreach (char c in "Hi\n") Write(0, c);
        Assert.Equal("Hi\n", Encoding.ASCII.GetString(_sent.ToArray()));
        Assert.Equal(0x60u, Read(5));
        Write(3, 0x80);
        Assert.Equal(0x01u, Read(0)); // divisor latch reads back
        Write(3, 0x03);
        Write(7, 0x5A);
        Assert.Equal(0x5Au, Read(7));
    }

    [Fact]
    public void Received_data_raises_irq_until_read()
    {
        InitLikeSeaBios();
        Write(1, 0x01);
        Assert.Equal(2, _uart.Receive("ab"u8));
        Assert.True(_irq4.Level);
        Assert.Equal(0x04u, Read(2));
        Assert.Equal(0x61u, Read(5));
        Assert.Equal((uint)'a', Read(0));
        Assert.Equal((uint)'b', Read(0));
        Assert.Equal(0x01u, Read(2));
        Assert.False(_irq4.Level);
        Assert.Equal(0x60u, Read(5));
    }

    [Fact]
    public void Fifo_waits_for_trigger_level_then_times_out_after_four_characters()
    {
        InitLikeSeaBios();
        Write(2, 0xC7); // FIFO on, clear, trigger 14
        Write(1, 0x01);
        _uart.Receive("xyz"u8);
        Assert.False(_irq4.Level);
        Assert.Equal(0xC1u, Read(2));
        long charNs = 10L * 1_000_000_000 / 115_200;
        _clock.AdvanceTo(4 * charNs - 1);
        Assert.False(_irq4.Level);
        _clock.AdvanceTo(4 * charNs);
        Assert.True(_irq4.Level);
        Assert.Equal(0xCCu, Read(2));
        Assert.Equal((uint)'x', Read(0));
        Assert.False(_irq4.Level);
        _uart.Receive(new byte[20]);
        Assert.Equal(0xC4u, Read(2)); // 16 in the FIFO >= 14
        Assert.Equal(6, _uart.PendingInput);
    }

    [Fact]
    public void Thre_interrupt_on_enable_and_after_each_write_cleared_by_iir_read()
    {
        InitLikeSeaBios();
        Write(1, 0x02);
        Assert.True(_irq4.Level);
        Assert.Equal(0x02u, Read(2));
        Assert.False(_irq4.Level);
        Assert.Equal(0x01u, Read(2));
        Write(0, 'A');
        Assert.True(_irq4.Level);
        Write(1, 0x00);
        Assert.False(_irq4.Level);
    }

    [Fact]
    public void Loopback_returns_transmitted_bytes_and_mirrors_modem_lines()
    {
        InitLikeSeaBios();
        Write(4, 0x13); // loop, RTS, DTR
        Assert.Equal(0x30u, Read(6) & 0xF0); // CTS, DSR
        Write(0, 0x42);
        Assert.Empty(_sent);
        Assert.Equal(0x42u, Read(0));
        Write(4, 0x1C); // loop, OUT1, OUT2
        Assert.Equal(0xC0u, Read(6) & 0xF0); // RI, DCD
        Write(0, 1); Write(0, 2); // no FIFO: the second byte overruns
        Write(1, 0x04);
        Assert.Equal(0x06u, Read(2));
        Assert.Equal(0x63u, Read(5) & 0x63);
        Assert.Equal(0x61u, Read(5) & 0x63); // OE cleared by the LSR read
    }

    [Fact]
    public void State_round_trip_keeps_pending_input()
    {
        InitLikeSeaBios();
        Write(1, 0x01);
        _uart.Receive("hello"u8);
        var ms = new MemoryStream();
        _uart.SaveState(new StateWriter(ms));
        var irq = new RecordingIrqLine();
        var copy = new Uart16550(new VirtualClock(), _ => { }).Wired(irq);
        var ports = new PortBus();
        copy.Attach(ports);
        ms.Position = 0;
        copy.LoadState(new StateReader(ms, "com1"), 1);
        Assert.True(irq.Level);
        var got = new StringBuilder();
        while ((ports.Read(0x3FD, 1) & 1) != 0) got.Append((char)ports.Read(0x3F8, 1));
        Assert.Equal("hello", got.ToString());
        Assert.Throws<StateFormatException>(() => copy.LoadState(new StateReader(new MemoryStream(new byte[12]), "com1"), 1));
    }
}
