using MiniVM.Devices;

namespace MiniVM.Devices.Tests.Chipset;

public class PitTests
{
    private readonly VirtualClock _clock = new();
    private readonly PortBus _ports = new();
    private readonly RecordingIrqLine _irq0;
    private readonly Pit8254 _pit;
    private readonly SystemControlPortB _port61;

    public PitTests()
    {
        _irq0 = new RecordingIrqLine(_clock);
        _pit = new Pit8254(_clock).Wired(_irq0);
        _port61 = new SystemControlPortB(_pit, _clock);
        _pit.Attach(_ports);
        _port61.Attach(_ports);
    }

    /// <summary>First virtual nanosecond at which <paramref name="ticks"/> PIT clocks have elapsed.</summary>
    private static long At(long ticks) => (ticks * 1_000_000_000 + Pit8254.FrequencyHz - 1) / Pit8254.FrequencyHz;

    private void Program(int channel, int mode, int count)
    {
        _ports.Write(0x43, 1, (uint)((channel << 6) | 0x30 | (mode << 1)));
        _ports.Write((ushort)(0x40 + channel), 1, (uint)(count & 0xFF));
        _ports.Write((ushort)(0x40 + channel), 1, (uint)(count >> 8));
    }

    [Fact]
    public void Mode2_rate_generator_raises_irq0_every_period()
    {
        Program(0, 2, 1193);
        Assert.True(_irq0.Level); // OUT is high until the count reaches 1
        _irq0.RisingEdges.Clear();
        _clock.AdvanceTo(5_000_000);
        Assert.Equal(new[] { At(1193), At(2 * 1193), At(3 * 1193), At(4 * 1193), At(5 * 1193) }, _irq0.RisingEdges);
    }

    [Fact]
    public void Bios_default_mode3_count_zero_gives_18_2_hz()
    {
        _ports.Write(0x43, 1, 0x36);
        _ports.Write(0x40, 1, 0);
        _ports.Write(0x40, 1, 0);
        _irq0.RisingEdges.Clear();
        _clock.AdvanceTo(1_000_000_000);
        Assert.Equal(18, _irq0.RisingEdges.Count);
        Assert.Equal(At(65536), _irq0.RisingEdges[0]);
    }

    [Fact]
    public void Latched_count_reads_lsb_then_msb_and_freezes()
    {
        Program(0, 2, 0x1000);
        _clock.AdvanceTo(At(0x100) + 10);
        _ports.Write(0x43, 1, 0x00); // latch channel 0
        _clock.AdvanceTo(At(0x200));
        uint lo = _ports.Read(0x40, 1), hi = _ports.Read(0x40, 1);
        Assert.Equal(0x1000 - 0x100, (int)(lo | (hi << 8)));
        lo = _ports.Read(0x40, 1); hi = _ports.Read(0x40, 1);
        Assert.Equal(0x1000 - 0x200, (int)(lo | (hi << 8)));
    }

    [Fact]
    public void Channel2_mode0_as_seabios_calibrates_sets_port61_bit5_at_terminal_count()
    {
        // SeaBIOS calibrate_tsc: gate on, speaker off, mode 0 count 1193 (1 ms), poll bit 5 of port 0x61.
        _ports.Write(0x61, 1, (_ports.Read(0x61, 1) & ~0x2u) | 0x1);
        _ports.Write(0x43, 1, 0xB0);
        _ports.Write(0x42, 1, 1193 & 0xFF);
        _ports.Write(0x42, 1, 1193 >> 8);
        Assert.Equal(0u, _ports.Read(0x61, 1) & 0x20);
        _clock.AdvanceTo(At(1193) - 1);
        Assert.Equal(0u, _ports.Read(0x61, 1) & 0x20);
        _clock.AdvanceTo(At(1193));
        Assert.Equal(0x20u, _ports.Read(0x61, 1) & 0x20);
        Assert.Equal(0x01u, _ports.Read(0x61, 1) & 0x0F);
    }

    [Fact]
    public void Gate_low_suspends_mode0_counting()
    {
        _ports.Write(0x61, 1, 1);
        Program(2, 0, 1000);
        _clock.AdvanceTo(At(400));
        _ports.Write(0x61, 1, 0);
        _clock.AdvanceTo(At(5000));
        Assert.Equal(600, _pit.GetCount(2));
        Assert.False(_pit.GetOutput(2));
        _ports.Write(0x61, 1, 1);
        long resumed = _clock.Now;
        _clock.AdvanceTo(resumed + At(600) + 1);
        Assert.True(_pit.GetOutput(2));
    }

    [Fact]
    public void Refresh_bit_toggles_every_15_microseconds()
    {
        uint a = _ports.Read(0x61, 1) & 0x10;
        _clock.AdvanceTo(15_085);
        uint b = _ports.Read(0x61, 1) & 0x10;
        _clock.AdvanceTo(30_170);
        uint c = _ports.Read(0x61, 1) & 0x10;
        Assert.NotEqual(a, b);
        Assert.Equal(a, c);
    }

    [Fact]
    public void Read_back_status_reports_output_access_mode_and_null_count()
    {
        _ports.Write(0x43, 1, 0x34); // ch0, lsb/msb, mode 2
        _ports.Write(0x43, 1, 0xE2); // read-back status of ch0
        Assert.Equal(0x80u | 0x40 | 0x30 | 0x04, _ports.Read(0x40, 1));
        _ports.Write(0x40, 1, 0x10); _ports.Write(0x40, 1, 0x00);
        _ports.Write(0x43, 1, 0xC2); // read-back count and status
        Assert.Equal(0x80u | 0x30 | 0x04, _ports.Read(0x40, 1));
        Assert.Equal(0x10u, _ports.Read(0x40, 1));
        Assert.Equal(0x00u, _ports.Read(0x40, 1));
    }

    [Fact]
    public void Bcd_mode_counts_in_decimal()
    {
        _ports.Write(0x43, 1, 0x31); // ch0, lsb/msb, mode 0, BCD
        _ports.Write(0x40, 1, 0x00); _ports.Write(0x40, 1, 0x10); // 1000 decimal
        _clock.AdvanceTo(At(1));
        _ports.Write(0x43, 1, 0x00);
        Assert.Equal(0x99u, _ports.Read(0x40, 1));
        Assert.Equal(0x09u, _ports.Read(0x40, 1));
        _clock.AdvanceTo(At(1000));
        Assert.True(_irq0.Level);
    }

    [Fact]
    public void Mode0_first_byte_of_a_new_count_stops_the_counter()
    {
        Program(0, 0, 1000);
        _clock.AdvanceTo(At(100));
        _ports.Write(0x40, 1, 0x20); // LSB of the next count
        Assert.False(_irq0.Level);
        _clock.AdvanceTo(At(5000));
        Assert.False(_irq0.Level);   // held: the old count never reached zero
        Assert.Equal(900, _pit.GetCount(0));
        _ports.Write(0x40, 1, 0x00); // MSB: count 0x20 starts now
        long start = _clock.Now;
        _clock.AdvanceTo(start + At(0x20));
        Assert.True(_irq0.Level);
    }

    [Fact]
    public void Lsb_only_access_mode()
    {
        _ports.Write(0x43, 1, 0x10); // ch0, lsb only, mode 0
        _ports.Write(0x40, 1, 50);
        _clock.AdvanceTo(At(20));
        Assert.Equal(30u, _ports.Read(0x40, 1));
        Assert.Equal(30u, _ports.Read(0x40, 1));
    }

    [Fact]
    public void Mode3_square_wave_is_high_for_the_first_half()
    {
        Program(2, 3, 100);
        _ports.Write(0x61, 1, 1);
        long start = _clock.Now;
        _clock.AdvanceTo(start + At(49));
        Assert.True(_pit.GetOutput(2));
        _clock.AdvanceTo(start + At(50) + 1);
        Assert.False(_pit.GetOutput(2));
        _clock.AdvanceTo(start + At(100) + 1);
        Assert.True(_pit.GetOutput(2));
    }

    [Fact]
    public void Mode4_software_strobe_pulses_once()
    {
        Program(0, 4, 10);
        _irq0.RisingEdges.Clear();
        _clock.AdvanceTo(At(100));
        // High from the control word on, low for the one clock at terminal count, then high for good.
        Assert.Equal(new[] { At(11) }, _irq0.RisingEdges);
        Assert.True(_irq0.Level);
    }

    [Fact]
    public void State_round_trip_keeps_the_timer_going()
    {
        Program(0, 2, 1193);
        _clock.AdvanceTo(At(500));
        _irq0.RisingEdges.Clear();
        var ms = new MemoryStream();
        _pit.SaveState(new StateWriter(ms));

        var clock2 = new VirtualClock();
        clock2.Reset(_clock.Now);
        var irq2 = new RecordingIrqLine(clock2);
        var pit2 = new Pit8254(clock2).Wired(irq2);
        ms.Position = 0;
        pit2.LoadState(new StateReader(ms, "pit"), 1);
        irq2.RisingEdges.Clear();
        clock2.AdvanceTo(At(1193 * 2));
        Assert.Equal(new[] { At(1193), At(2 * 1193) }, irq2.RisingEdges);

        var bad = ms.ToArray();
        bad[0] = 0; bad[1] = 0; bad[2] = 0; bad[3] = 0; // count 0 is impossible
        var ex = Assert.Throws<StateFormatException>(() => pit2.LoadState(new StateReader(new MemoryStream(bad), "pit"), 1));
        Assert.Contains("count", ex.Message);
    }
}
