using MiniVM.Devices;

namespace MiniVM.Devices.Tests.Chipset;

public class CmosRtcTests
{
    private static readonly DateTime Start = new(2024, 2, 29, 23, 59, 58);
    private readonly VirtualClock _clock = new();
    private readonly PortBus _ports = new();
    private readonly RecordingIrqLine _irq8;
    private readonly CmosRtc _rtc;

    public CmosRtcTests()
    {
        _irq8 = new RecordingIrqLine(_clock);
        _rtc = new CmosRtc(_clock, Start).Wired(_irq8);
        _rtc.Attach(_ports);
    }

    private byte Read(int index)
    {
        _ports.Write(0x70, 1, (uint)index);
        return (byte)_ports.Read(0x71, 1);
    }

    private void Write(int index, byte value)
    {
        _ports.Write(0x70, 1, (uint)index);
        _ports.Write(0x71, 1, value);
    }

    [Fact]
    public void Time_reads_in_bcd_and_rolls_over_a_leap_day()
    {
        Assert.Equal(new byte[] { 0x58, 0x59, 0x23, 0x29, 0x02, 0x24, 0x20 },
            new[] { Read(0), Read(2), Read(4), Read(7), Read(8), Read(9), Read(0x32) });
        Assert.Equal(5, Read(6)); // Thursday
        _clock.AdvanceTo(2_000_000_000);
        Assert.Equal(new byte[] { 0x00, 0x00, 0x00, 0x01, 0x03, 0x24 },
            new[] { Read(0), Read(2), Read(4), Read(7), Read(8), Read(9) });
    }

    [Fact]
    public void Binary_and_12_hour_formats_follow_register_b()
    {
        Write(0x0B, 0x04); // binary, 12-hour
        Assert.Equal(0x80 | 11, Read(4));
        Assert.Equal(58, Read(0));
        Assert.Equal(24, Read(9));
    }

    [Fact]
    public void Setting_the_time_with_the_set_bit_then_running()
    {
        Write(0x0B, 0x82); // SET, 24h, BCD
        Write(0, 0x30); Write(2, 0x15); Write(4, 0x10); Write(7, 0x05); Write(8, 0x07); Write(9, 0x99); Write(0x32, 0x19);
        _clock.AdvanceTo(5_000_000_000);
        Assert.Equal(0x30, Read(0)); // frozen while SET
        Write(0x0B, 0x02);
        _clock.AdvanceTo(8_000_000_000);
        Assert.Equal(0x33, Read(0));
        Assert.Equal(new DateTime(1999, 7, 5, 10, 15, 33), _rtc.CurrentTime);
    }

    [Fact]
    public void Update_in_progress_is_set_only_just_before_the_second_changes()
    {
        Assert.Equal(0x26, Read(0x0A));
        _clock.AdvanceTo(999_800_000);
        Assert.Equal(0xA6, Read(0x0A));
        _clock.AdvanceTo(1_000_000_000);
        Assert.Equal(0x26, Read(0x0A));
    }

    [Fact]
    public void Periodic_interrupt_at_1024_hz_raises_irq8_until_register_c_is_read()
    {
        Write(0x0B, 0x42); // PIE
        _clock.AdvanceTo(976_562);
        Assert.False(_irq8.Level);
        _clock.AdvanceTo(976_563);
        Assert.True(_irq8.Level);
        Assert.Equal(0xC0, _rtc.GetByte(0x0C)); // inspecting does not acknowledge
        Assert.True(_irq8.Level);
        Assert.Equal(0xC0, Read(0x0C));
        Assert.False(_irq8.Level);
        Assert.Equal(0x00, Read(0x0C));
        _clock.AdvanceTo(10_000_000);
        Assert.Equal(new[] { 976_563L, 1_953_125L }, _irq8.RisingEdges);
    }

    [Fact]
    public void Update_ended_and_alarm_interrupts()
    {
        Write(1, 0x03); Write(3, 0xFF); Write(5, 0xFF); // alarm at second 03 of any minute/hour
        Write(0x0B, 0x32); // AIE, UIE
        _clock.AdvanceTo(2_000_000_000);
        Assert.True(_irq8.Level);
        Assert.Equal(0x90, Read(0x0C)); // UF at 23:59:59 -> 00:00:00 boundaries
        _clock.AdvanceTo(5_000_000_000);
        Assert.Equal(0xB0, Read(0x0C)); // 00:00:03: alarm too
        Assert.Equal(1_000_000_000L, _irq8.RisingEdges[0]);
    }

    [Fact]
    public void Register_d_reports_valid_ram_and_nmi_mask_follows_bit7()
    {
        Assert.Equal(0x80, Read(0x0D));
        _ports.Write(0x70, 1, 0x8D);
        Assert.True(_rtc.NmiMasked);
        Assert.Equal(0x80u, _ports.Read(0x71, 1));
        _ports.Write(0x70, 1, 0x0D);
        Assert.False(_rtc.NmiMasked);
    }

    [Fact]
    public void Memory_size_bytes_and_checksum_as_qemu_writes_them_for_128_mib()
    {
        _rtc.SetMemorySize(128L << 20, 0);
        Assert.Equal((0x80, 0x02), (Read(0x15), Read(0x16)));   // 640 KiB base
        Assert.Equal((0xFF, 0xFF), (Read(0x17), Read(0x18)));   // extended KiB, capped
        Assert.Equal((0xFF, 0xFF), (Read(0x30), Read(0x31)));
        Assert.Equal((0x00, 0x07), (Read(0x34), Read(0x35)));   // 1792 x 64 KiB above 16 MiB
        Assert.Equal(0, Read(0x5B));
        int sum = 0;
        for (int i = 0x10; i <= 0x2D; i++) sum += Read(i);
        Assert.Equal(sum, (Read(0x2E) << 8) | Read(0x2F));
    }

    [Fact]
    public void Boot_order_and_floppy_types()
    {
        _rtc.SetBootOrder("cda");
        Assert.Equal(0x32, Read(0x3D));
        Assert.Equal(0x10, Read(0x38));
        _rtc.SetFloppyTypes(CmosFloppyType.Mb1_44, CmosFloppyType.Kb720);
        Assert.Equal(0x43, Read(0x10));
        Assert.Equal(0x47, Read(0x14));
        var ex = Assert.Throws<ArgumentException>(() => _rtc.SetBootOrder("cx"));
        Assert.Contains("'x'", ex.Message);
    }

    [Fact]
    public void Reset_pin_clears_interrupts_but_keeps_time_and_ram()
    {
        _rtc.SetByte(0x40, 0x77);
        Write(0x0B, 0x42);
        _clock.AdvanceTo(1_000_000);
        Assert.True(_irq8.Level);
        _rtc.Reset();
        Assert.False(_irq8.Level);
        Assert.Equal(0x02, Read(0x0B));
        Assert.Equal(0x00, Read(0x0C));
        _clock.AdvanceTo(50_000_000);
        Assert.False(_irq8.Level); // periodic timer stopped
        Assert.Equal(0x77, Read(0x40));
        Assert.Equal(0x58, Read(0));
    }

    [Fact]
    public void State_round_trip_preserves_time_ram_and_periodic_timer()
    {
        _rtc.SetByte(0x50, 0xAB);
        Write(0x0B, 0x42);
        _clock.AdvanceTo(3_000_000_000);
        Read(0x0C);
        var ms = new MemoryStream();
        _rtc.SaveState(new StateWriter(ms));

        var clock2 = new VirtualClock();
        clock2.Reset(_clock.Now);
        var irq2 = new RecordingIrqLine(clock2);
        var rtc2 = new CmosRtc(clock2, new DateTime(2000, 1, 1)).Wired(irq2);
        ms.Position = 0;
        rtc2.LoadState(new StateReader(ms, "cmos"), 1);
        Assert.Equal(_rtc.CurrentTime, rtc2.CurrentTime);
        Assert.Equal(0xAB, rtc2.GetByte(0x50));
        clock2.AdvanceTo(3_001_000_000);
        Assert.True(irq2.Level);

        var truncated = new MemoryStream(ms.ToArray()[..60]);
        Assert.Throws<StateFormatException>(() => rtc2.LoadState(new StateReader(truncated, "cmos"), 1));
    }
}
