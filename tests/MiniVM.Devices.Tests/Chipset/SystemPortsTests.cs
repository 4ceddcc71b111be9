using System.Text;
using MiniVM.Devices;

namespace MiniVM.Devices.Tests.Chipset;

public class SystemPortsTests
{
    private readonly PortBus _ports = new();

    [Fact]
    public void Debug_console_logs_writes_and_identifies_itself()
    {
        var log = new List<byte>();
        var con = new DebugConsole(log.Add);
        con.Attach(_ports);
        con.Attach(_ports, DebugConsole.BochsPort);
        Assert.Equal(0xE9u, _ports.Read(0x402, 1));
        foreach (char c in "SeaBIOS") _ports.Write(0x402, 1, c);
        _ports.Write(0xE9, 2, 0x0A21); // "!\n"
        Assert.Equal("SeaBIOS!\n", Encoding.ASCII.GetString(log.ToArray()));
    }

    [Fact]
    public void Post_code_latches_the_last_value()
    {
        var post = new PostCode();
        post.Attach(_ports);
        var codes = new List<byte>();
        post.CodeWritten += codes.Add;
        _ports.Write(0x80, 1, 0x12);
        _ports.Write(0x80, 1, 0x34);
        Assert.Equal(0x34u, _ports.Read(0x80, 1));
        Assert.Equal(new byte[] { 0x12, 0x34 }, codes);
    }

    [Fact]
    public void Port92_drives_a20_and_resets_on_rising_bit0()
    {
        var p = new FastA20Reset();
        p.Attach(_ports);
        var a20 = new List<bool>();
        int resets = 0;
        p.A20Changed += a20.Add;
        p.ResetRequested += () => resets++;
        _ports.Write(0x92, 1, 0x02);
        Assert.Equal(0x02u, _ports.Read(0x92, 1));
        _ports.Write(0x92, 1, 0x03);
        _ports.Write(0x92, 1, 0x03); // no new edge
        _ports.Write(0x92, 1, 0x00);
        Assert.Equal(new[] { true, false }, a20);
        Assert.Equal(1, resets);
    }

    [Fact]
    public void Cf9_resets_on_rst_cpu_with_hard_flag_from_sys_rst()
    {
        var rc = new ResetControl();
        rc.Attach(_ports);
        var resets = new List<bool>();
        rc.ResetRequested += resets.Add;
        _ports.Write(0xCF9, 1, 0x02);
        Assert.Equal(0x02u, _ports.Read(0xCF9, 1));
        Assert.Empty(resets);
        _ports.Write(0xCF9, 1, 0x06);
        _ports.Write(0xCF9, 1, 0x04);
        Assert.Equal(new[] { true, false }, resets);
    }

    [Fact]
    public void Small_devices_refuse_bad_state()
    {
        var p = new FastA20Reset();
        var ex = Assert.Throws<StateFormatException>(() => p.LoadState(new StateReader(new MemoryStream([0x80]), "port92"), 1));
        Assert.Contains("port92", ex.Message);
        Assert.Throws<StateFormatException>(() => new ResetControl().LoadState(new StateReader(new MemoryStream([0x04]), "rcr"), 1));
        Assert.Throws<StateFormatException>(() => new PostCode().LoadState(new StateReader(new MemoryStream(), "post"), 1));
    }
}
