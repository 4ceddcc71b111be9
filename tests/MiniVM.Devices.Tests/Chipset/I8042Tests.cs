using MiniVM.Devices;

namespace MiniVM.Devices.Tests.Chipset;

public class I8042Tests
{
    private readonly VirtualClock _clock = new();
    private readonly PortBus _ports = new();
    private readonly RecordingIrqLine _irq1 = new();
    private readonly RecordingIrqLine _irq12 = new();
    private readonly Ps2Keyboard _kbd;
    private readonly Ps2Mouse _mouse = new();
    private readonly I8042 _kbc;

    public I8042Tests()
    {
        _kbd = new Ps2Keyboard(_clock);
        _kbc = new I8042(_kbd, _mouse).Wired(_irq1, _irq12);
        _kbc.Attach(_ports);
    }

    private uint Status => _ports.Read(0x64, 1);

    private List<byte> Drain()
    {
        var bytes = new List<byte>();
        while ((Status & 1) != 0) bytes.Add((byte)_ports.Read(0x60, 1));
        return bytes;
    }

    private void Command(byte c) => _ports.Write(0x64, 1, c);
    private void Data(byte d) => _ports.Write(0x60, 1, d);

    [Fact]
    public void Controller_self_test_answers_0x55_and_sets_system_flag()
    {
        Command(0xAA);
        Assert.Equal(0x1Du, Status & 0x1D); // OBF, SYS, CMD, unlocked
        Assert.Equal(new byte[] { 0x55 }, Drain());
        Command(0xAB);
        Assert.Equal(new byte[] { 0x00 }, Drain());
    }

    [Fact]
    public void Keyboard_reset_acks_then_passes_bat_with_irq1()
    {
        Data(0xFF);
        Assert.True(_irq1.Level);
        Assert.Equal(new byte[] { 0xFA, 0xAA }, Drain());
        Assert.False(_irq1.Level);
        Assert.Equal(2, _irq1.RisingEdges.Count);
    }

    [Fact]
    public void Command_byte_read_and_write()
    {
        Command(0x20);
        Assert.Equal(new byte[] { 0x03 }, Drain());
        Command(0x60); Data(0x65);
        Command(0x20);
        Assert.Equal(new byte[] { 0x65 }, Drain());
        Assert.Equal(0x04u, Status & 0x04);
    }

    [Fact]
    public void Keys_are_translated_to_set1_when_command_byte_bit6_is_set()
    {
        Command(0x60); Data(0x61);
        _kbd.KeyDown(PcKey.A); _kbd.KeyUp(PcKey.A);
        _kbd.KeyDown(PcKey.Up); _kbd.KeyUp(PcKey.Up);
        _kbd.KeyDown(PcKey.F7); _kbd.KeyUp(PcKey.F7);
        Assert.Equal(new byte[] { 0x1E, 0x9E, 0xE0, 0x48, 0xE0, 0xC8, 0x41, 0xC1 }, Drain());
    }

    [Fact]
    public void Untranslated_keys_come_in_set2()
    {
        Command(0x60); Data(0x01);
        _kbd.KeyDown(PcKey.A); _kbd.KeyUp(PcKey.A);
        _kbd.KeyDown(PcKey.RightCtrl); _kbd.KeyUp(PcKey.RightCtrl);
        _kbd.KeyDown(PcKey.Pause);
        Assert.Equal(new byte[] { 0x1C, 0xF0, 0x1C, 0xE0, 0x14, 0xE0, 0xF0, 0x14, 0xE1, 0x14, 0x77, 0xE1, 0xF0, 0x14, 0xF0, 0x77 }, Drain());
    }

    [Fact]
    public void Keyboard_in_set1_without_translation()
    {
        Command(0x60); Data(0x01);
        Data(0xF0); Data(0x01);
        Data(0xF0); Data(0x00);
        Assert.Equal(new byte[] { 0xFA, 0xFA, 0xFA, 0xFA, 0x01 }, Drain());
        _kbd.KeyDown(PcKey.Enter); _kbd.KeyUp(PcKey.Enter);
        Assert.Equal(new byte[] { 0x1C, 0x9C }, Drain());
    }

    [Fact]
    public void Leds_typematic_echo_and_identify()
    {
        Command(0x60); Data(0x01);
        Data(0xED); Data(0x05);
        Data(0xF3); Data(0x20);
        Data(0xEE);
        Data(0xF2);
        Assert.Equal(new byte[] { 0xFA, 0xFA, 0xFA, 0xFA, 0xEE, 0xFA, 0xAB, 0x83 }, Drain());
        Assert.Equal(5, _kbd.Leds);
        Assert.Equal(0x20, _kbd.Typematic);
        Data(0x42);
        Assert.Equal(new byte[] { 0xFE }, Drain()); // unknown command
    }

    [Fact]
    public void Disabled_scanning_drops_keys()
    {
        Data(0xF5);
        Drain();
        _kbd.KeyDown(PcKey.A);
        Assert.Empty(Drain());
        Data(0xF4);
        Assert.Equal(new byte[] { 0xFA }, Drain());
        _kbd.KeyDown(PcKey.A);
        Assert.Single(Drain());
    }

    [Fact]
    public void Disabled_keyboard_interface_holds_bytes_until_enabled()
    {
        Command(0xAD);
        _kbd.KeyDown(PcKey.A);
        Assert.Equal(0u, Status & 1);
        Command(0xAE);
        Assert.Equal(new byte[] { 0x1C }, Drain());
    }

    [Fact]
    public void A20_through_the_output_port_and_fast_commands()
    {
        var a20 = new List<bool>();
        int resets = 0;
        _kbc.A20Changed += a20.Add;
        _kbc.ResetRequested += () => resets++;
        Command(0xD1); Data(0xDD); // A20 off
        Command(0xD1); Data(0xDF); // A20 on
        Command(0xDD);
        Command(0xDF);
        Command(0xD0);
        Assert.Equal(0x02u, Drain()[0] & 0x03u & 0x02u);
        Assert.Equal(new[] { false, true, false, true }, a20);
        Assert.Equal(0, resets);
        Assert.True(_kbc.A20Enabled);
    }

    [Fact]
    public void Reset_pulse_command_requests_cpu_reset()
    {
        int resets = 0;
        _kbc.ResetRequested += () => resets++;
        Command(0xFE);
        Assert.Equal(1, resets);
        Command(0xFF); // pulses nothing
        Assert.Equal(1, resets);
    }

    [Fact]
    public void Typed_text_arrives_paced_in_order_and_translated()
    {
        Command(0x60); Data(0x61);
        _kbd.TypeText("Hi\n");
        var got = new List<byte>();
        for (int step = 1; step <= 40; step++)
        {
            _clock.AdvanceTo(step * 20_000_000L);
            got.AddRange(Drain());
        }
        Assert.Equal(new byte[] { 0x2A, 0x23, 0xA3, 0xAA, 0x17, 0x97, 0x1C, 0x9C }, got);
        Assert.Equal(0, _kbd.PendingTypedEvents);
        Assert.Throws<ArgumentException>(() => _kbd.TypeText("é"));
    }

    [Fact]
    public void Keyboard_reset_drops_unread_bytes_but_keeps_text_to_type()
    {
        Command(0x60); Data(0x61);
        Data(0xF0); Data(0x01); // switch to set 1
        Drain();
        _kbd.KeyDown(PcKey.A);
        _kbd.TypeText("b");
        _kbd.Reset();
        _kbc.Reset();
        Assert.Equal(2, _kbd.ScanCodeSet);
        Assert.Equal(2, _kbd.PendingTypedEvents);
        Command(0x60); Data(0x61);
        var got = new List<byte>();
        for (int step = 1; step <= 10; step++) { _clock.AdvanceTo(step * 20_000_000L); got.AddRange(Drain()); }
        Assert.Equal(new byte[] { 0x30, 0xB0 }, got); // only the typed 'b', in set 2 translated
    }

    [Fact]
    public void Mouse_answers_through_aux_with_irq12()
    {
        Command(0xD4); Data(0xF2);
        Assert.Equal(0x21u, Status & 0x21);
        Assert.True(_irq12.Level);
        Assert.False(_irq1.Level);
        Assert.Equal(new byte[] { 0xFA, 0x00 }, Drain());
        Command(0xD4); Data(0xFF);
        Assert.Equal(new byte[] { 0xFA, 0xAA, 0x00 }, Drain());
        Command(0xD4); Data(0xF4);
        Drain();
        _mouse.Move(5, -3, 1);
        Assert.Equal(new byte[] { 0x29, 0x05, 0xFD }, Drain());
    }

    [Fact]
    public void State_round_trip_of_controller_and_keyboard()
    {
        Command(0x60); Data(0x61);
        _kbd.KeyDown(PcKey.B);
        _kbd.KeyDown(PcKey.C);
        var kbcState = new MemoryStream();
        var kbdState = new MemoryStream();
        _kbc.SaveState(new StateWriter(kbcState));
        _kbd.SaveState(new StateWriter(kbdState));

        var kbd2 = new Ps2Keyboard(new VirtualClock());
        var kbc2 = new I8042(kbd2, new Ps2Mouse()).Wired(new RecordingIrqLine(), new RecordingIrqLine());
        var ports2 = new PortBus();
        kbc2.Attach(ports2);
        kbdState.Position = 0; kbcState.Position = 0;
        kbd2.LoadState(new StateReader(kbdState, "ps2kbd"), 1);
        kbc2.LoadState(new StateReader(kbcState, "i8042"), 1);
        Assert.Equal(0x30u, ports2.Read(0x60, 1)); // B, translated
        Assert.Equal(0x2Eu, ports2.Read(0x60, 1)); // C
        Assert.Throws<StateFormatException>(() => kbc2.LoadState(new StateReader(new MemoryStream(new byte[5]), "i8042"), 1));
    }
}
