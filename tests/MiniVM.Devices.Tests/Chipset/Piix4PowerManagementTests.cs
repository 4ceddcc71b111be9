using MiniVM.Devices;
using MiniVM.Devices.Pci;

namespace MiniVM.Devices.Tests.Chipset;

public class Piix4PowerManagementTests
{
    private const ushort PmBase = 0x600, Pm1Sts = PmBase, Pm1En = PmBase + 2, Pm1Cnt = PmBase + 4, PmTmr = PmBase + 8;

    private readonly VirtualClock _clock = new();
    private readonly PortBus _ports = new();
    private readonly PciHostBridge _host = new();
    private readonly RecordingIrqLine _sci;
    private readonly Piix4PowerManagement _pm;
    private int _powerOffs;

    public Piix4PowerManagementTests()
    {
        _host.Attach(_ports);
        _sci = new RecordingIrqLine(_clock);
        _pm = new Piix4PowerManagement(_clock).Wired(_sci);
        _pm.Attach(_ports);
        _host.AddFunction(_pm);
        _pm.PowerOffRequested += () => _powerOffs++;
    }

    private uint ConfigRead(int offset, int size = 4)
    {
        _ports.Write(0xCF8, 4, 0x8000_0000u | (1u << 11) | (3u << 8) | (uint)(offset & 0xFC));
        return _ports.Read((ushort)(0xCFC + (offset & 3)), size);
    }

    private void ConfigWrite(int offset, int size, uint value)
    {
        _ports.Write(0xCF8, 4, 0x8000_0000u | (1u << 11) | (3u << 8) | (uint)(offset & 0xFC));
        _ports.Write((ushort)(0xCFC + (offset & 3)), size, value);
    }

    /// <summary>What SeaBIOS's pciinit piix4_pm_setup writes (src/fw/pciinit.c, piix4_pm_config_setup).</summary>
    private void ProgramLikeSeaBios()
    {
        ConfigWrite(0x3C, 1, 9);
        ConfigWrite(0x40, 4, PmBase | 1u);
        ConfigWrite(0x80, 1, 0x01);
        ConfigWrite(0x90, 4, (PmBase + 0x100) | 1u);
        ConfigWrite(0xD2, 1, 0x09);
    }

    [Fact]
    public void Config_space_identifies_piix4_pm_and_says_smm_is_already_set_up()
    {
        Assert.Equal(0x7113_8086u, ConfigRead(0x00));
        Assert.Equal(0x0680_0003u, ConfigRead(0x08));      // class 06/80 (other bridge), revision 3
        Assert.Equal(0x0280u, ConfigRead(0x06, 2));         // fast back-to-back, DEVSEL medium
        Assert.Equal(1u, ConfigRead(0x3D, 1));              // INTA#
        Assert.Equal(0x0000_0001u, ConfigRead(0x40));       // PMBA: I/O space indicator only
        Assert.Equal(0x0200_0000u, ConfigRead(0x58));       // DEVACTB.APMC_EN: SeaBIOS skips SMM init
        Assert.Equal(0x08u, ConfigRead(0x67, 1));           // DRSC: COM1 decoded
        Assert.Equal(0u, ConfigRead(0x80, 1));              // PM I/O off
    }

    [Fact]
    public void Pmba_keeps_its_fixed_bits_and_the_block_is_decoded_only_with_pmregmisc()
    {
        ConfigWrite(0x40, 4, 0xFFFF_FFFF);
        Assert.Equal(0x0000_FFC1u, ConfigRead(0x40));       // bits 15:6, bit 0 reads 1
        ConfigWrite(0x40, 4, PmBase | 1u);
        Assert.Equal(0x601u, ConfigRead(0x40));
        Assert.Null(_pm.PmBase);
        Assert.Equal(0xFFFFu, _ports.Read(Pm1Cnt, 2));      // not decoded yet: floats high

        ConfigWrite(0x80, 1, 0x01);
        Assert.Equal((ushort)PmBase, _pm.PmBase);
        Assert.Equal(0u, _ports.Read(Pm1Cnt, 2));

        ConfigWrite(0x40, 4, 0xB000 | 1u);                  // moved: the old base floats, the new one answers
        Assert.Equal((ushort)0xB000, _pm.PmBase);
        Assert.Equal(0xFFFFu, _ports.Read(Pm1Cnt, 2));
        Assert.Equal(0u, _ports.Read(0xB004, 2));

        ConfigWrite(0x80, 1, 0x00);
        Assert.Null(_pm.PmBase);
        Assert.Equal(0xFFFFu, _ports.Read(0xB004, 2));

        ConfigWrite(0x90, 4, 0xFFFF_FFFF);
        Assert.Equal(0x0000_FFF1u, ConfigRead(0x90));       // SMBus base: bits 15:4, bit 0 reads 1
    }

    [Fact]
    public void Pm_timer_counts_3_579545_MHz_of_virtual_time()
    {
        ProgramLikeSeaBios();
        Assert.Equal(0u, _ports.Read(PmTmr, 4));
        _clock.AdvanceTo(1_000_000_000);
        Assert.Equal(3_579_545u, _ports.Read(PmTmr, 4));
        _clock.AdvanceTo(1_100_000_000);
        Assert.Equal(3_937_499u, _ports.Read(PmTmr, 4));   // floor(1.1 s x 3579545)
        // Over 10 ms windows the rate is exact to the tick, wherever the window starts.
        uint a = _ports.Read(PmTmr, 4);
        _clock.AdvanceTo(1_110_000_000);
        uint b = _ports.Read(PmTmr, 4);
        Assert.InRange(b - a, 35_795u, 35_796u);
        Assert.Equal((byte)(b >> 16), (byte)_ports.Read(PmTmr + 2, 1)); // byte accesses reach the register
        Assert.Equal(0u, _ports.Read(PmTmr + 3, 1));        // 24-bit timer: the top byte is zero
    }

    [Fact]
    public void Pm_timer_wraps_at_24_bits()
    {
        ProgramLikeSeaBios();
        long wrap = AcpiPmTimer.NanosecondsAt(1L << 24);     // about 4.687 s
        Assert.InRange(wrap, 4_686_000_000, 4_688_000_000);
        _clock.AdvanceTo(wrap - 1);
        Assert.Equal(0xFF_FFFFu, _ports.Read(PmTmr, 4));
        _clock.AdvanceTo(wrap);
        Assert.Equal(0u, _ports.Read(PmTmr, 4));
        _clock.AdvanceTo(2 * wrap + 1_000_000_000);
        Assert.Equal((uint)(AcpiPmTimer.TicksAt(2 * wrap + 1_000_000_000) & 0xFF_FFFF), _ports.Read(PmTmr, 4));
    }

    [Fact]
    public void Timer_carry_sets_tmr_sts_raises_the_sci_when_enabled_and_clears_by_writing_one()
    {
        ProgramLikeSeaBios();
        _ports.Write(Pm1En, 2, Piix4PowerManagement.TmrSts);
        long carry = AcpiPmTimer.NanosecondsAt(0x80_0000);  // bit 23 first changes at 8388608 ticks
        _clock.AdvanceTo(carry - 1);
        Assert.Equal(0u, _ports.Read(Pm1Sts, 2));
        Assert.False(_sci.Level);
        _clock.AdvanceTo(carry + 5_000);
        Assert.Equal(new[] { carry }, _sci.RisingEdges);            // raised at the exact virtual time of the carry
        Assert.Equal(1u, _ports.Read(Pm1Sts, 2));

        _ports.Write(Pm1Sts, 2, 0);                         // writing zero clears nothing
        Assert.Equal(1u, _ports.Read(Pm1Sts, 2));
        Assert.True(_sci.Level);
        _ports.Write(Pm1Sts, 2, 1);
        Assert.Equal(0u, _ports.Read(Pm1Sts, 2));
        Assert.False(_sci.Level);

        _clock.AdvanceTo(AcpiPmTimer.NanosecondsAt(0x100_0000));
        Assert.Equal(new[] { carry, AcpiPmTimer.NanosecondsAt(0x100_0000) }, _sci.RisingEdges);
    }

    [Fact]
    public void Timer_status_latches_without_an_sci_while_the_event_is_disabled()
    {
        ProgramLikeSeaBios();
        _clock.AdvanceTo(AcpiPmTimer.NanosecondsAt(0x80_0000));
        Assert.Equal(1u, _ports.Read(Pm1Sts, 2) & 1);
        Assert.Empty(_sci.RisingEdges);
    }

    [Fact]
    public void Power_button_status_is_write_one_to_clear_and_only_its_bit_clears()
    {
        ProgramLikeSeaBios();
        Assert.False(_pm.PressPowerButton());               // no OS enabled the event
        Assert.Equal(0u, _ports.Read(Pm1Sts, 2));
        _ports.Write(Pm1En, 2, Piix4PowerManagement.PwrbtnSts | Piix4PowerManagement.TmrSts);
        Assert.Equal(0x0101u, _ports.Read(Pm1En, 2));
        _clock.AdvanceTo(AcpiPmTimer.NanosecondsAt(0x80_0000));
        Assert.True(_pm.PressPowerButton());
        Assert.Equal(0x0101u, _ports.Read(Pm1Sts, 2));
        _ports.Write(Pm1Sts + 1, 1, 0x01);                  // byte write of the high half: PWRBTN_STS only
        Assert.Equal(0x0001u, _ports.Read(Pm1Sts, 2));
        Assert.True(_sci.Level);                            // the timer carry still pends
    }

    [Fact]
    public void Apm_control_port_enables_and_disables_acpi_mode()
    {
        ProgramLikeSeaBios();
        Assert.Equal(0u, _ports.Read(Pm1Cnt, 2));
        _ports.Write(0xB2, 1, 0xF1);                        // FADT.ACPI_ENABLE written to FADT.SMI_CMD
        Assert.Equal(1u, _ports.Read(Pm1Cnt, 2));
        Assert.True(_pm.SciEnabled);
        Assert.Equal(0xF1u, _ports.Read(0xB2, 1));
        _ports.Write(0xB2, 1, 0x42);                        // any other command leaves SCI_EN alone
        Assert.Equal(1u, _ports.Read(Pm1Cnt, 2));
        _ports.Write(0xB2, 1, 0xF0);
        Assert.Equal(0u, _ports.Read(Pm1Cnt, 2));
        _ports.Write(0xB3, 1, 0x5A);
        Assert.Equal(0x5Au, _ports.Read(0xB3, 1));
    }

    [Fact]
    public void Slp_en_with_the_s5_type_powers_off_and_other_writes_do_not()
    {
        ProgramLikeSeaBios();
        _ports.Write(0xB2, 1, 0xF1);
        _ports.Write(Pm1Cnt, 2, 0x0001 | (5 << 10));        // SLP_TYP alone: nothing yet
        _ports.Write(Pm1Cnt, 2, 0x0001 | (1 << 10) | 0x2000); // S3 type: this machine offers no suspend
        Assert.Equal(0, _powerOffs);
        Assert.Equal(0x0401u, _ports.Read(Pm1Cnt, 2));      // SLP_EN is write-only
        // Linux (acpi_hw_legacy_sleep) writes SLP_TYP, then SLP_TYP|SLP_EN; S5 is package {0, 0} in SeaBIOS's SSDT.
        _ports.Write(Pm1Cnt, 2, 0x0001);
        _ports.Write(Pm1Cnt, 2, 0x0001 | 0x2000);
        Assert.Equal(1, _powerOffs);
        // SeaBIOS's APM power-off (apm_shutdown) writes 0x2000 as a word; byte writes work alike.
        _ports.Write(Pm1Cnt + 1, 1, 0x20);
        Assert.Equal(2, _powerOffs);
    }

    [Fact]
    public void Gpe0_enable_reads_back_and_status_cannot_be_set_by_the_guest()
    {
        Assert.Equal(0u, _ports.Read(0xAFE0, 4));
        _ports.Write(0xAFE2, 2, 0x0006);
        _ports.Write(0xAFE0, 2, 0xFFFF);
        Assert.Equal(0x0006_0000u, _ports.Read(0xAFE0, 4));
        Assert.False(_sci.Level);
        Assert.Equal(0u, _ports.Read(0xAE0C, 4));           // PCRM: no hot-pluggable slot
        Assert.Equal(0u, _ports.Read(0xAE00, 4));
    }

    [Fact]
    public void Reset_returns_to_power_on_state()
    {
        ProgramLikeSeaBios();
        _ports.Write(0xB2, 1, 0xF1);
        _ports.Write(Pm1En, 2, 0x0100);
        ConfigWrite(0x58, 4, 0);
        _pm.Reset();
        Assert.Null(_pm.PmBase);
        Assert.Equal(0x0000_0001u, ConfigRead(0x40));
        Assert.Equal(0x0200_0000u, ConfigRead(0x58));
        Assert.False(_pm.SciEnabled);
        ConfigWrite(0x80, 1, 1);
        Assert.Null(_pm.PmBase);                            // PMBA 0 after reset: base 0 is never decoded
    }

    [Fact]
    public void Snapshot_round_trip_restores_registers_mapping_sci_and_the_pending_timer_event()
    {
        ProgramLikeSeaBios();
        _ports.Write(0xB2, 1, 0xF1);
        _ports.Write(0xB3, 1, 0x33);
        _ports.Write(Pm1En, 2, Piix4PowerManagement.PwrbtnSts | Piix4PowerManagement.TmrSts);
        _ports.Write(0xAFE2, 2, 0x0002);
        _clock.AdvanceTo(1_000_000_000);
        _pm.PressPowerButton();
        var ms = new MemoryStream();
        _pm.SaveState(new StateWriter(ms));

        var clock = new VirtualClock();
        clock.Reset(1_000_000_000);
        var ports = new PortBus();
        var sci = new RecordingIrqLine(clock);
        var copy = new Piix4PowerManagement(clock).Wired(sci);
        copy.Attach(ports);
        ms.Position = 0;
        copy.LoadState(new StateReader(ms, copy.SectionId), copy.SectionVersion);

        Assert.Equal((ushort)PmBase, copy.PmBase);
        Assert.Equal(0x0100u, ports.Read(Pm1Sts, 2));
        Assert.Equal(0x0101u, ports.Read(Pm1En, 2));
        Assert.Equal(1u, ports.Read(Pm1Cnt, 2));
        Assert.Equal(_ports.Read(PmTmr, 4), ports.Read(PmTmr, 4));
        Assert.Equal(0xF1u, ports.Read(0xB2, 1));
        Assert.Equal(0x33u, ports.Read(0xB3, 1));
        Assert.Equal(0x0002_0000u, ports.Read(0xAFE0, 4));
        Assert.Equal(9u, copy.ReadConfig(0x3C, 1));
        Assert.True(sci.Level);
        ports.Write(Pm1Sts, 2, 0x0100);
        Assert.False(sci.Level);
        clock.AdvanceTo(AcpiPmTimer.NanosecondsAt(0x80_0000));
        Assert.Equal(new[] { AcpiPmTimer.NanosecondsAt(0x80_0000) }, sci.RisingEdges.Skip(1));

        Assert.Throws<StateFormatException>(() =>
            copy.LoadState(new StateReader(new MemoryStream(ms.ToArray()[..200]), copy.SectionId), copy.SectionVersion));
        Assert.Throws<StateFormatException>(() =>
            copy.LoadState(new StateReader(new MemoryStream(ms.ToArray()), copy.SectionId), 2));
        var bad = ms.ToArray();
        bad[260 + 5] = 0x20; // PM1a_CNT high byte with SLP_EN
        Assert.Throws<StateFormatException>(() =>
            copy.LoadState(new StateReader(new MemoryStream(bad), copy.SectionId), copy.SectionVersion));
    }
}
