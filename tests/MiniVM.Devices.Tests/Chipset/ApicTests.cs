using MiniVM.Devices;

namespace MiniVM.Devices.Tests.Chipset;

/// <summary>
/// The local APIC and the I/O APIC against the SDM (vol. 3 ch. 10) and the 82093AA datasheet: timer modes on the
/// virtual clock, priorities (TPR/PPR), EOI, masking, the ExtINT path to the 8259, level-triggered remote IRR.
/// </summary>
public class ApicTests
{
    private readonly VirtualClock _clock = new();
    private readonly DualPic _pic = new();
    private readonly LocalApic _lapic;
    private readonly IoApic _ioapic;
    private readonly PortBus _ports = new();

    public ApicTests()
    {
        (_lapic, _ioapic) = WiredDevice.Apics(_clock, _pic);
        _pic.Attach(_ports);
    }

    private uint Read(uint reg) => _lapic.ReadMmio(reg, 4);
    private void Write(uint reg, uint value) => _lapic.WriteMmio(reg, 4, value);

    private void Enable() => Write(0xF0, 0x1FF); // SVR: software enable, spurious vector 0xFF

    private void WriteRedirection(int pin, ulong entry)
    {
        _ioapic.WriteMmio(0x00, 4, (uint)(0x10 + 2 * pin));
        _ioapic.WriteMmio(0x10, 4, (uint)entry);
        _ioapic.WriteMmio(0x00, 4, (uint)(0x11 + 2 * pin));
        _ioapic.WriteMmio(0x10, 4, (uint)(entry >> 32));
    }

    private uint ReadIoApic(int reg)
    {
        _ioapic.WriteMmio(0x00, 4, (uint)reg);
        return _ioapic.ReadMmio(0x10, 4);
    }

    /// <summary>Takes every interrupt the APIC offers now (INTA), in order.</summary>
    private List<int> TakeAll()
    {
        var taken = new List<int>();
        while (_lapic.InterruptPending && taken.Count < 64) taken.Add(_lapic.Acknowledge());
        return taken;
    }

    [Fact]
    public void Power_on_state_reports_id_version_base_and_a_disabled_spurious_register()
    {
        Assert.Equal(0u, Read(0x20));
        Assert.Equal(0x0004_0011u, Read(0x30));
        Assert.Equal(0xFEE0_0900UL, _lapic.ApicBase); // base, BSP, global enable
        Assert.Equal(0xFFu, Read(0xF0));
        Assert.Equal(0x10000u, Read(0x320)); // timer masked
        Assert.Equal(0x700u, Read(0x350));   // LINT0 ExtINT: the 8259 reaches the CPU from power-on
    }

    [Fact]
    public void One_shot_timer_fires_once_after_count_times_divisor_nanoseconds()
    {
        Enable();
        Write(0x3E0, 0x3);        // divide by 16
        Write(0x320, 0x40);       // one-shot, vector 0x40
        Write(0x380, 1000);       // 1000 counts × 16 ns
        _clock.AdvanceTo(8000);
        Assert.Equal(500u, Read(0x390));
        Assert.False(_lapic.InterruptPending);
        _clock.AdvanceTo(15_999);
        Assert.False(_lapic.InterruptPending);
        _clock.AdvanceTo(16_000);
        Assert.Equal(new[] { 0x40 }, TakeAll());
        Assert.Equal(0u, Read(0x390));
        Write(0xB0, 0);
        _clock.AdvanceTo(100_000);
        Assert.Empty(TakeAll());
        Assert.Null(_lapic.NextDeadline(_clock.Now));
    }

    [Fact]
    public void Periodic_timer_fires_every_period_and_reloads_the_current_count()
    {
        Enable();
        Write(0x3E0, 0xB);        // divide by 1
        Write(0x320, 0x20031);    // periodic, vector 0x31
        Write(0x380, 10_000);
        int count = 0;
        for (long t = 0; t <= 100_000; t += 1000)
        {
            _clock.AdvanceTo(t);
            foreach (int v in TakeAll()) { Assert.Equal(0x31, v); count++; Write(0xB0, 0); }
        }
        Assert.Equal(10, count);
        _clock.AdvanceTo(102_500);
        Assert.Equal(7500u, Read(0x390));
        Assert.Equal(110_000, _lapic.NextDeadline(_clock.Now));
    }

    [Fact]
    public void A_masked_timer_counts_down_but_raises_nothing()
    {
        Enable();
        Write(0x3E0, 0xB);
        Write(0x320, 0x10050);    // masked, vector 0x50
        Write(0x380, 100);
        _clock.AdvanceTo(1000);
        Assert.Equal(0u, Read(0x390));
        Assert.Empty(TakeAll());
    }

    [Fact]
    public void Tpr_holds_back_lower_classes_and_ppr_follows_the_highest_in_service_class()
    {
        Enable();
        Write(0x80, 0x50);
        _lapic.AcceptInterrupt(0x45, level: false);
        Assert.False(_lapic.InterruptPending);            // class 4 ≤ TPR class 5
        _lapic.AcceptInterrupt(0x61, level: false);
        Assert.Equal(0x61, _lapic.Acknowledge());
        Assert.Equal(0x60u, Read(0xA0));                  // PPR = ISRV class above TPR
        _lapic.AcceptInterrupt(0x62, level: false);
        Assert.False(_lapic.InterruptPending);            // same class as the one in service
        _lapic.AcceptInterrupt(0x71, level: false);
        Assert.Equal(0x71, _lapic.Acknowledge());         // a higher class nests
        Write(0xB0, 0);                                   // EOI ends 0x71, the highest in service
        Assert.Equal(0x60u, Read(0xA0));
        Write(0xB0, 0);                                   // and then 0x61
        Assert.Equal(0x50u, Read(0xA0));
        Assert.Equal(0x62, _lapic.Acknowledge());
        Write(0x80, 0);
        Write(0xB0, 0);
        Assert.Equal(new[] { 0x45 }, TakeAll());
    }

    [Fact]
    public void Raising_the_tpr_between_request_and_acknowledge_gives_the_spurious_vector_without_isr()
    {
        Enable();
        _lapic.AcceptInterrupt(0x41, level: false);
        Assert.True(_lapic.InterruptPending);
        Write(0x80, 0xF0);
        Assert.Equal(0xFF, _lapic.Acknowledge());
        Assert.Equal(0u, Read(0x100 + 0x10 * (0x41 >> 5)));
    }

    [Fact]
    public void Self_ipi_through_the_icr_sets_irr_and_an_illegal_vector_is_an_error()
    {
        Enable();
        Write(0x370, 0xFE);                               // error LVT, vector 0xFE
        Write(0x300, 0x0004_0033);                        // shorthand self, fixed, vector 0x33
        Assert.Equal(1u << (0x33 & 31), Read(0x200 + 0x10 * (0x33 >> 5)));
        Write(0x300, 0x0004_0005);                        // vector 5 is illegal
        Write(0x280, 0);                                  // a write latches the errors
        Assert.Equal(LocalApic.ErrorSendIllegalVector | LocalApic.ErrorReceiveIllegalVector, Read(0x280));
        Assert.Equal(new[] { 0xFE }, TakeAll());           // the error interrupt first; 0x33 waits below its class
        Write(0xB0, 0);
        Assert.Equal(new[] { 0x33 }, TakeAll());
    }

    [Fact]
    public void Software_disable_masks_every_lvt_and_blocks_fixed_interrupts()
    {
        Enable();
        Write(0x320, 0x40);
        Write(0xF0, 0xFF);
        Assert.Equal(0x10040u, Read(0x320));
        Write(0x320, 0x40);                               // the mask cannot be cleared while disabled
        Assert.Equal(0x10040u, Read(0x320));
        _lapic.AcceptInterrupt(0x80, level: false);
        Assert.False(_lapic.InterruptPending);
    }

    [Fact]
    public void The_8259_is_acknowledged_through_lint0_extint_and_not_when_lint0_is_masked()
    {
        // Initialise the master 8259 at vector 0x08 with IRQ1 unmasked, then raise IRQ1.
        _ports.Write(0x20, 1, 0x11); _ports.Write(0x21, 1, 0x08); _ports.Write(0x21, 1, 0x04); _ports.Write(0x21, 1, 0x01);
        _ports.Write(0x21, 1, 0xFD);
        _pic.SetIrq(1, true);
        Assert.True(_lapic.InterruptPending);
        Enable();
        Write(0x350, 0x10700);                            // mask LINT0
        Assert.False(_lapic.InterruptPending);
        Write(0x350, 0x8700);                             // ExtINT, level (what SeaBIOS writes)
        Assert.True(_lapic.InterruptPending);
        Assert.Equal(0x09, _lapic.Acknowledge());
    }

    [Fact]
    public void With_the_apic_globally_disabled_the_8259_reaches_the_cpu_directly_and_cpuid_would_lose_the_apic()
    {
        _ports.Write(0x20, 1, 0x11); _ports.Write(0x21, 1, 0x20); _ports.Write(0x21, 1, 0x04); _ports.Write(0x21, 1, 0x01);
        _ports.Write(0x21, 1, 0xFE);
        Assert.True(_lapic.TrySetBase(0xFEE0_0000));      // bit 11 clear
        Assert.Null(_lapic.MappedAt);
        Assert.False(_lapic.GloballyEnabled);
        _pic.SetIrq(0, true);
        Assert.Equal(0x20, _lapic.Acknowledge());
        Assert.False(_lapic.TrySetBase(0xFEE0_0801 | 1UL << 40)); // reserved bits
    }

    [Fact]
    public void Ioapic_reports_its_version_and_24_masked_entries_after_reset()
    {
        Assert.Equal(0x0017_0011u, ReadIoApic(1));
        for (int pin = 0; pin < IoApic.Pins; pin++) Assert.Equal(0x10000u, ReadIoApic(0x10 + 2 * pin));
    }

    [Fact]
    public void Ioapic_edge_pin_delivers_on_each_rising_edge_only_when_unmasked()
    {
        Enable();
        WriteRedirection(4, 0x0000_0000_0001_0034);      // masked, edge, vector 0x34
        _ioapic.SetInput(4, true); _ioapic.SetInput(4, false);
        Assert.Empty(TakeAll());
        WriteRedirection(4, 0x34);
        _ioapic.SetInput(4, true);
        _ioapic.SetInput(4, true);                        // no new edge
        Assert.Equal(new[] { 0x34 }, TakeAll());
        Write(0xB0, 0);
        _ioapic.SetInput(4, false); _ioapic.SetInput(4, true);
        Assert.Equal(new[] { 0x34 }, TakeAll());
    }

    [Fact]
    public void Ioapic_level_pin_sets_remote_irr_until_eoi_and_redelivers_while_still_asserted()
    {
        Enable();
        WriteRedirection(10, 0x0000_0000_0000_805A);     // level, active high (bit 13 clear), vector 0x5A
        _ioapic.SetInput(10, true);
        Assert.Equal(new[] { 0x5A }, TakeAll());
        Assert.NotEqual(0u, ReadIoApic(0x10 + 20) & (1u << 14)); // remote IRR
        Assert.Equal(1u << (0x5A & 31), Read(0x180 + 0x10 * (0x5A >> 5))); // TMR: level
        _ioapic.SetInput(10, true);
        Assert.Empty(TakeAll());                           // no second message before EOI
        Write(0xB0, 0);                                    // EOI broadcast: the line is still high
        Assert.Equal(new[] { 0x5A }, TakeAll());
        _ioapic.SetInput(10, false);
        Write(0xB0, 0);
        Assert.Equal(0u, ReadIoApic(0x10 + 20) & (1u << 14));
        Assert.Empty(TakeAll());
    }

    [Fact]
    public void Ioapic_level_pin_unmasked_while_asserted_delivers_at_once_and_logical_destination_must_match()
    {
        Enable();
        Write(0xD0, 0x0100_0000);                         // logical ID 1 (flat model)
        _ioapic.SetInput(11, true);
        WriteRedirection(11, 0x0200_0000_0001_885B);     // masked, level, logical, destination 2: not us
        WriteRedirection(11, 0x0200_0000_0000_885B);
        Assert.Empty(TakeAll());
        WriteRedirection(11, 0x0100_0000_0000_885B);     // destination 1
        Assert.Equal(new[] { 0x5B }, TakeAll());
    }

    [Fact]
    public void Isa_irq0_reaches_ioapic_pin_2_and_the_8259()
    {
        var routing = WiredDevice.IsaRouting(_pic, _ioapic);
        Enable();
        WriteRedirection(2, 0x30);
        Write(0x350, 0x10700);                            // LINT0 masked: only the I/O APIC path
        routing.GetLine(0).SetLevel(true);
        Assert.Equal(new[] { 0x30 }, TakeAll());
        Assert.Equal(1, _pic.Master.RequestRegister & 1);
    }

    [Fact]
    public void Savevm_round_trip_keeps_registers_and_the_running_timer()
    {
        Enable();
        Write(0x3E0, 0xB);
        Write(0x320, 0x20040);
        Write(0x380, 5000);
        Write(0x80, 0x20);
        _clock.AdvanceTo(1234);
        WriteRedirection(3, 0x0000_0000_0000_8044);
        var ms = new MemoryStream();
        _lapic.SaveState(new StateWriter(ms));
        _ioapic.SaveState(new StateWriter(ms));

        var clock = new VirtualClock();
        clock.AdvanceTo(1234);
        var (lapic, ioapic) = WiredDevice.Apics(clock, new DualPic());
        ms.Position = 0;
        lapic.LoadState(new StateReader(ms, "lapic"), 1);
        ioapic.LoadState(new StateReader(ms, "ioapic"), 1);
        Assert.Equal(0x20u, lapic.ReadMmio(0x80, 4));
        Assert.Equal(5000u - 1234u, lapic.ReadMmio(0x390, 4));
        Assert.Equal(5000, lapic.NextDeadline(clock.Now));
        Assert.Equal(0x8044UL, ioapic.GetRedirection(3));
        clock.AdvanceTo(5000);
        Assert.True(lapic.InterruptPending);
    }

    [Fact]
    public void Loading_a_lapic_section_with_reserved_base_bits_is_refused()
    {
        var ms = new MemoryStream();
        _lapic.SaveState(new StateWriter(ms));
        var bytes = ms.ToArray();
        bytes[0] |= 0x01; // APIC base bit 0 is reserved
        var ex = Assert.Throws<StateFormatException>(() => new LocalApic(new VirtualClock()).LoadState(new StateReader(new MemoryStream(bytes), "lapic"), 1));
        Assert.Contains("reserved", ex.Message);
    }
}
