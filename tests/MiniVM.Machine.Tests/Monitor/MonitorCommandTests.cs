using System.Net.Sockets;
using MiniVM.Machine.Monitor;
using MiniVM.Machine.Tests.Snapshots;

namespace MiniVM.Machine.Tests.Monitor;

/// <summary>The monitor's command answers and the script syntax, without booting a guest.</summary>
public sealed class MonitorCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("minivm-mon").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void ScriptLinesParseIntoTriggers()
    {
        var s = MonitorScript.Parse("# demo\nwhen \"C:\\>\" savevm s1\nafter 2.5s info status\nafter 300ms stop\nafter 1000i cont\nquit\n");
        Assert.Collection(s.Steps,
            a => { Assert.Equal(ScriptTrigger.Text, a.Trigger); Assert.Equal(@"C:\>", a.Text); Assert.Equal("savevm s1", a.Command); Assert.Equal(2, a.Line); },
            b => { Assert.Equal(ScriptTrigger.VirtualTime, b.Trigger); Assert.Equal(2_500_000_000, b.Amount); },
            c => { Assert.Equal(ScriptTrigger.VirtualTime, c.Trigger); Assert.Equal(300_000_000, c.Amount); },
            d => { Assert.Equal(ScriptTrigger.Instructions, d.Trigger); Assert.Equal(1000, d.Amount); },
            e => Assert.Equal(ScriptTrigger.Immediately, e.Trigger));
    }

    [Theory]
    [InlineData("info status\nfrobnicate\n", "script:2: unknown command 'frobnicate'")]
    [InlineData("when \"A:\\> savevm\n", "script:1: unterminated quoted text")]
    [InlineData("\n\nafter 5 quit\n", "script:3: '5' is not a delay")]
    [InlineData("after 2s\n", "script:1: a trigger needs a command")]
    public void ScriptErrorsNameTheLine(string text, string expected)
    {
        var e = Assert.Throws<MonitorException>(() => MonitorScript.Parse(text));
        Assert.StartsWith(expected, e.Message);
    }

    [Fact]
    public void CommandsAnswerOnOneOrAFewLines()
    {
        using var vm = new SnapshotMachine(_dir);
        var m = new HumanMonitor(vm.Machine);
        Assert.Contains("savevm [NAME]", m.Execute("help"));
        Assert.Equal("VM status: running", m.Execute("info status"));
        Assert.Equal("", m.Execute("stop"));
        Assert.Equal("VM status: paused", m.Execute("info status"));
        Assert.Equal("", m.Execute("cont"));
        Assert.Matches("^ide0: .*disk.irow \\(irow\\)", m.Execute("info block").Split('\n')[2]);
        Assert.Equal("There is no snapshot available.", m.Execute("info snapshots"));
        Assert.Equal("Error: loadvm: disk ide0 has no snapshot 'nope'", m.Execute("loadvm nope"));
        Assert.Equal("Error: sendkey: unknown key 'hyper' (QEMU names: a, shift, ctrl, alt, ret, spc, esc, delete, f1, kp_1, …)", m.Execute("sendkey ctrl-hyper"));
        Assert.Equal("", m.Execute("sendkey ctrl-alt-delete"));
        Assert.Equal(6, vm.Machine.Keyboard.PendingTypedEvents);
        Assert.Equal("unknown command: 'frob' (type 'help')", m.Execute("frob"));
        // The machine has not run: no guest has enabled ACPI's power button event (PM1_EN) yet.
        Assert.Equal("Error: system_powerdown: the guest has not enabled the ACPI power button event", m.Execute("system_powerdown"));
        Assert.Matches("^[0-9a-f]{64}$", m.Execute("info statehash"));
        string png = Path.Combine(_dir, "s.png");
        Assert.Equal("", m.Execute("screendump " + png));
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(png)[..4]);
        Assert.StartsWith("saved 's1' (id 1, VM state ", m.Execute("savevm s1"));
        Assert.Matches(@"^1\s+s1\s+\S+ \S+\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+00:00:00\.000$", m.Execute("info snapshots").Split('\n')[2]);
        Assert.Equal("", m.Execute("quit"));
        Assert.True(m.QuitRequested);
    }

    [Fact]
    public void MemoryDumpsKeepQemusFormatBetweenCommandsAndNameBadInput()
    {
        using var vm = new SnapshotMachine(_dir);
        var m = new HumanMonitor(vm.Machine);
        vm.Machine.Memory.Write(0x1000, [0x41, 0x27, 0x5c, 0x0a, 0x0d, 0x00, 0xff, 0x80, 0x7a]);
        Assert.Equal("0000000000001000: 0x41 0x27 0x5c 0x0a", m.Execute("xp /4xb 0x1000"));
        Assert.Equal("0000000000001000: 0x41 0x27", m.Execute("xp /2 0x1000"));           // format and size stick
        Assert.Equal("0000000000001000: 0x2741 0x0a5c", m.Execute("xp /2h 0x1000"));
        Assert.Equal("0000000000001000: 0x2741", m.Execute("xp 0x1000"));
        Assert.Equal("00001000: 0x0a5c2741", m.Execute("x/xw 0x1000"));                   // real mode: linear = physical
        Assert.Equal("00001000:  65  39  92  10  13   0 255 128\n00001008: 122", m.Execute("x /9ub 0x1000"));
        Assert.Equal("00001006: 33023", m.Execute("x /dh 0x1006"));                     // d of a halfword: not sign-extended, as in QEMU
        Assert.Equal(@"00001000: 'A' '\'' '\\' '\n'", m.Execute("x /4cb 0x1000"));
        Assert.Equal("00001000: 023501", m.Execute("x /oh 0x1000"));
        Assert.Equal("00002000: 0x00000000", m.Execute("x /xw 0x1000 + 0x1000 * ($eax & 0 | 1) "));
        Assert.Equal("Error: unexpected end of expression", m.Execute("x /4xh"));
        Assert.Equal("Error: invalid char in format: 'q'", m.Execute("x /4q 0x1000"));
        Assert.Equal("Error: unknown register 'xyz'", m.Execute("x $xyz"));
        Assert.Equal("0000000100000000: Cannot access memory", m.Execute("xp /x 0x100000000"));
        Assert.Equal("PG disabled", m.Execute("info mem"));
        Assert.Equal("PG disabled", m.Execute("info tlb"));
        // The reset state in real mode: segment lines without the protected-mode decoding, as QEMU prints them.
        string[] regs = m.Execute("info registers").Split('\n');
        Assert.Equal(["", "CPU#0"], regs[..2]);
        Assert.Equal("EIP=0000fff0 EFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0", regs[4]);
        Assert.Equal("CS =f000 ffff0000 0000ffff 00009b00", regs[6]);
    }

    [Fact]
    public void ScreendumpWritesPpmUnlessTheNameOrFormatSaysPng()
    {
        using var vm = new SnapshotMachine(_dir);
        var m = new HumanMonitor(vm.Machine);
        var frame = vm.Machine.Vga.Render();
        string header = $"P6\n{frame.Width} {frame.Height}\n255\n";
        foreach (var (option, name) in new[] { ("", "s.ppm"), ("", "s"), ("-f ppm ", "s.png") })
        {
            string file = Path.Combine(_dir, name);
            Assert.Equal("", m.Execute($"screendump {option}{file}"));
            byte[] bytes = File.ReadAllBytes(file);
            Assert.Equal(header, System.Text.Encoding.ASCII.GetString(bytes, 0, header.Length));
            Assert.Equal(header.Length + frame.Width * frame.Height * 3, bytes.Length);
            uint pixel = frame.Pixels[0];
            Assert.Equal([(byte)(pixel >> 16), (byte)(pixel >> 8), (byte)pixel], bytes[header.Length..(header.Length + 3)]);
            File.Delete(file);
        }
        string png = Path.Combine(_dir, "s.png");
        Assert.Equal("", m.Execute("screendump " + png));
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(png)[..4]);
        Assert.Equal("Error: screendump: unknown format 'gif' (ppm or png)", m.Execute("screendump -f gif x"));
    }

    [Fact]
    public void HelpListsEveryCommandAndInfoItem()
    {
        using var vm = new SnapshotMachine(_dir);
        var m = new HumanMonitor(vm.Machine);
        string help = m.Execute("help");
        foreach (string usage in new[] { "info registers", "info mem", "info tlb", "info cpus", "info version", "x /FMT ADDR", "xp /FMT ADDR",
                     "screendump [-f ppm|png] FILE", "change DRIVE", "eject [-f] DRIVE", "sendserial TEXT", "savevm [NAME]", "quit" })
            Assert.Contains("\n" + usage, "\n" + help);
        Assert.Matches(@"^\* CPU #0: thread_id=\d+$", m.Execute("info cpus"));
        Assert.False(string.IsNullOrWhiteSpace(m.Execute("info version")));
        Assert.StartsWith("Error: info: unknown item 'nope' (status, block, snapshots, statehash, sections, jit, jit-stops, registers, mem, tlb, cpus, version)", m.Execute("info nope"));

        // As QEMU: `help CMD` shows that command only, `help info` and `info` alone the info items.
        Assert.Equal("x /FMT ADDR                              -- dump memory at a virtual (linear) address; FMT is COUNT, FORMAT (x d u o c i) and SIZE (b h w g)",
            m.Execute("help x"));
        string infoHelp = m.Execute("help info");
        Assert.All(infoHelp.Split('\n'), l => Assert.StartsWith("info ", l));
        Assert.Contains("\ninfo tlb ", "\n" + infoHelp);
        Assert.Equal(infoHelp, m.Execute("info"));
        Assert.StartsWith("quit ", m.Execute("help q"));
        Assert.Equal("Error: help: unknown command 'nope'", m.Execute("help nope"));
        Assert.Equal(m.Execute("info registers"), m.Execute("info registers -a"));
    }

    [Fact]
    public void SendserialTypesOnComOneWithTheEscapesOfSendkeys()
    {
        using var vm = new SnapshotMachine(_dir);
        var m = new HumanMonitor(vm.Machine);
        Assert.Equal("", m.Execute(@"sendserial ls\t-l C:\W\\x\n"));
        var received = new List<byte>();
        while ((vm.Machine.Ports.Read(0x3FD, 1) & 1) != 0) received.Add((byte)vm.Machine.Ports.Read(0x3F8, 1)); // LSR.DR, RBR
        Assert.Equal("ls\t-l C:\\W\\x\r", System.Text.Encoding.ASCII.GetString([.. received])); // Enter arrives as CR
        Assert.Equal("Error: sendserial: 'é' is not ASCII", m.Execute("sendserial café"));
    }

    [Fact]
    public void SystemPowerdownPressesThePowerButtonTheGuestEnabled()
    {
        using var vm = new SnapshotMachine(_dir);
        var m = new HumanMonitor(vm.Machine);
        // What SeaBIOS and an ACPI guest do: PM I/O base at 0xB000 (PMBA, enabled by PMREGMISC), PWRBTN_EN in PM1_EN.
        vm.Machine.Power.WriteConfig(0x40, 4, 0xB001);
        vm.Machine.Power.WriteConfig(0x80, 1, 0x01);
        vm.Machine.Ports.Write(0xB002, 2, 0x0100);
        Assert.Equal(0u, vm.Machine.Ports.Read(0xB000, 2) & 0x0100);

        Assert.Equal("", m.Execute("system_powerdown"));

        Assert.Equal(0x0100u, vm.Machine.Ports.Read(0xB000, 2) & 0x0100); // PWRBTN_STS, raised for the guest's SCI handler
        Assert.False(vm.Machine.PoweredOff);                              // the guest decides; nothing is cut
    }

    [Fact]
    public void TcpMonitorListensOnLoopbackAndAnswersThroughTheChannel()
    {
        var channel = new MonitorChannel();
        using var tcp = new TcpMonitor(0, channel);
        using var client = new TcpClient("127.0.0.1", tcp.Port);
        using var stream = client.GetStream();
        using var reader = new StreamReader(stream);
        using var writer = new StreamWriter(stream) { AutoFlush = true, NewLine = "\r\n" };
        Assert.Equal(HumanMonitor.Banner, reader.ReadLine());
        writer.WriteLine("info status");
        // The machine thread's side: take the line, answer it.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        string line;
        Action<string> reply;
        while (!channel.TryTake(out line, out reply))
        {
            Assert.True(DateTime.UtcNow < deadline, "no command arrived");
            channel.WaitForCommand(TimeSpan.FromMilliseconds(50));
        }
        Assert.Equal("info status", line);
        reply("VM status: paused");
        Assert.Equal(HumanMonitor.Prompt + "VM status: paused", reader.ReadLine());
    }
}
