using MiniVM.Devices;

namespace MiniVM.Devices.Tests.Chipset;

/// <summary>
/// The controller and keyboard as Linux 6.1's i8042 and atkbd drivers probe them (drivers/input/serio/i8042.c,
/// drivers/input/keyboard/atkbd.c), byte for byte, then a typed key reaching the driver on IRQ1 in set 1.
/// </summary>
public class I8042LinuxProbeTests
{
    private const byte CtrKbdInt = 0x01, CtrAuxInt = 0x02, CtrKbdDis = 0x10, CtrAuxDis = 0x20, CtrXlate = 0x40;
    private const byte StrObf = 0x01, StrAuxData = 0x20;

    private readonly VirtualClock _clock = new();
    private readonly PortBus _ports = new();
    private readonly RecordingIrqLine _irq1 = new();
    private readonly RecordingIrqLine _irq12 = new();
    private readonly Ps2Keyboard _kbd;
    private readonly I8042 _kbc;

    public I8042LinuxProbeTests()
    {
        _kbd = new Ps2Keyboard(_clock);
        _kbc = new I8042(_kbd, new Ps2Mouse()).Wired(_irq1, _irq12);
        _kbc.Attach(_ports);
    }

    private byte Status => (byte)_ports.Read(0x64, 1);

    /// <summary>i8042_wait_write then the command, as i8042_command() does.</summary>
    private void Command(byte c)
    {
        Assert.True((Status & 0x02) == 0, "input buffer full");
        _ports.Write(0x64, 1, c);
    }

    private void Data(byte d) => _ports.Write(0x60, 1, d);

    /// <summary>i8042_wait_read then a data read: the byte must be there already (the driver polls with a timeout).</summary>
    private (byte Value, bool Aux) Read()
    {
        byte s = Status;
        Assert.True((s & StrObf) != 0, "no byte in the output buffer where the driver expects one");
        return ((byte)_ports.Read(0x60, 1), (s & StrAuxData) != 0);
    }

    private byte ReadCtr()
    {
        Command(0x20);
        return Read().Value;
    }

    private void WriteCtr(byte ctr)
    {
        Command(0x60);
        Data(ctr);
    }

    /// <summary>i8042_flush: reads whatever the firmware left, until the output buffer is empty.</summary>
    private void Flush()
    {
        for (int i = 0; i < 16 && (Status & StrObf) != 0; i++) _ports.Read(0x60, 1);
        Assert.Equal(0, Status & StrObf);
    }

    /// <summary>ps2_command through the keyboard port: the bytes the driver receives (its interrupt handler reads them).</summary>
    private List<byte> KeyboardCommand(params byte[] bytes)
    {
        var got = new List<byte>();
        foreach (byte b in bytes)
        {
            Data(b);
            while ((Status & StrObf) != 0)
            {
                Assert.True(_irq1.Level, "keyboard byte without IRQ1 while KBDINT is set");
                got.Add(Read().Value);
            }
        }
        return got;
    }

    [Fact]
    public void Linux_probe_sequence_then_typed_keys_arrive_translated_on_irq1()
    {
        // SeaBIOS left the controller translating with interrupts on, and maybe a byte in the buffer.
        WriteCtr(CtrKbdInt | CtrAuxInt | CtrXlate | 0x04);
        _kbd.KeyDown(PcKey.Enter);

        // i8042_controller_check + i8042_controller_selftest.
        Flush();
        Command(0xAA);
        Assert.Equal(0x55, Read().Value);

        // i8042_controller_init: read CTR, disable the keyboard port and its interrupt while probing.
        byte ctr = ReadCtr();
        Assert.Equal(CtrXlate, ctr & CtrXlate);
        ctr = (byte)((ctr | CtrKbdDis) & ~CtrKbdInt);
        WriteCtr(ctr);
        Assert.Equal(ctr, ReadCtr());
        Flush();

        // i8042_check_aux: AUX_LOOP echoes through the aux side, then A7/A8 toggle CTR bit 5.
        Command(0xD3); Data(0x5A);
        Assert.Equal(((byte)0x5A, true), Read());
        Command(0xA7);
        Assert.Equal(CtrAuxDis, ReadCtr() & CtrAuxDis);
        Command(0xA8);
        Assert.Equal(0, ReadCtr() & CtrAuxDis);

        // i8042_setup_kbd → i8042_enable_kbd_port, after the keyboard interface test.
        Command(0xAB);
        Assert.Equal(0x00, Read().Value);
        ctr = (byte)((ctr & ~CtrKbdDis) | CtrKbdInt);
        WriteCtr(ctr);

        // atkbd_probe: GETID (the 8042 translates the id's second byte: 0x83 → 0x41, accepted as 0xab41),
        // then deactivate; atkbd_select_set keeps set 2 under translation; atkbd_reset_state; atkbd_activate.
        Assert.Equal(new byte[] { 0xFA, 0xAB, 0x41 }, KeyboardCommand(0xF2));
        Assert.Equal(new byte[] { 0xFA }, KeyboardCommand(0xF5));
        Assert.Equal(new byte[] { 0xFA, 0xFA }, KeyboardCommand(0xED, 0x00));
        Assert.Equal(new byte[] { 0xFA, 0xFA }, KeyboardCommand(0xF3, 0x00));
        Assert.Equal(new byte[] { 0xFA }, KeyboardCommand(0xF4));
        Assert.Equal(2, _kbd.ScanCodeSet);
        Assert.True(_kbd.ScanningEnabled);

        // The console types "ls" + Enter: set 1 make/break codes, each byte announced by a rising edge on IRQ1.
        int edges = _irq1.RisingEdges.Count;
        _kbd.TypeText("ls\n");
        var got = new List<byte>();
        for (int step = 1; step <= 20; step++)
        {
            _clock.AdvanceTo(step * _kbd.TypingIntervalNs);
            while ((Status & StrObf) != 0)
            {
                Assert.True(_irq1.Level);
                got.Add(Read().Value);
            }
        }
        Assert.Equal(new byte[] { 0x26, 0xA6, 0x1F, 0x9F, 0x1C, 0x9C }, got);
        Assert.Equal(edges + 6, _irq1.RisingEdges.Count);
        Assert.False(_irq12.Level);
    }
}
