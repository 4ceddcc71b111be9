using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using MiniVM.Machine.Monitor;
using MiniVM.Machine.Tests.Boot;

namespace MiniVM.Machine.Tests.Monitor;

/// <summary>
/// The monitor's dumps beside QEMU's: the same boot sector (paged-halt.asm: protected mode, paging with 4 KiB and
/// 4 MiB pages, known registers and FPU stack, then HLT with interrupts off) runs under qemu-system-i386 and in
/// MiniVM, and the answers of both monitors to the same commands are compared line by line. QEMU answers through
/// QMP's human-monitor-command, which returns the HMP text without the terminal's echo. The instruction forms of
/// forms32.asm/forms16.asm are put at 16 MiB in both machines and disassembled with `xp /i`.
/// </summary>
public sealed class MonitorQemuComparisonTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("minivm-monq").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>nasm -f bin paged-halt.asm, without the zero padding up to the boot signature.</summary>
    private const string BootSectorHex =
        "fa31c08ed88ec08ed0bc0070b0ffe621e6a1dbe3d9e8d9ebbf00906631c0b90008fcf366ab66c706009007a0000066c706049083000000bf" +
        "00a066b803000000b9000166890566050010000083c704e2f266c70600ac057000000f0116e07c66b8009000000f22d80f20e06683c8100f" +
        "22e00f20c0660d010000800f22c0ea837c080066b810008ed88ec08ed08ee08ee8bcf06f0000a1007c4000b844332211bb88776655b9ccbb" +
        "aa99ba00ffeeddbe67452301bfefcdab89bd98badcfe39d8faf4ebfd909090900000000000000000ffff0000009bcf00ffff00000093cf00" +
        "1700c87c000041275c0a0d00ff807a7f2001fecabeba90909090909090909090b87856341266b8ffffc60080c705001000000100000083c3" +
        "f083e0f083c8ff66f70300806aff6800ffffff6bc3fd8944b3108b4df80fbf544be00fb6068d048d100000008b0424268b0364a130000000" +
        "368a45043e8b03e87b000000ebde0f84fa000000eb00ff5004ffe0ea007c00000800ff1bc20800cbe2fef3a4f2aeab91cd10e460e6ffd1e0" +
        "c8f0ff01c90f95c0d8c3dcc3dec1dbf1d928dd5b080f0115807c00000f22c0";

    /// <summary>The address after the HLT where both CPUs rest.</summary>
    private const uint HaltedEip = 0x7cc2;

    /// <summary>nasm -f bin real-halt.asm, the same way: CLI, HLT in real mode, 16-bit instructions at 0x7c10.</summary>
    private const string RealModeSectorHex =
        "faf4ebfd909090909090909090909090b8341266b878563412c707ffff83e0fe83e8ff6a126aff8940108b4ef88b4380a1feff66678b04b3" +
        "8d01268b072e8b5404368a46003e8a4602e87d00ebde743eeb00ff5704ffe0ea5be000f0669a785600003412ff1fc3ca0200cfe2fef3a5a7" +
        "ac91cd13ece680c80800000f0116807cc41e40";

    /// <summary>The instructions of paged-halt.asm (0x7d00, 32-bit) and real-halt.asm (0x7c10, 16-bit).</summary>
    private const int Instructions32 = 51, Instructions16 = 40;

    private static byte[] BootSector(string hex = BootSectorHex)
    {
        var sector = new byte[512];
        Convert.FromHexString(hex).CopyTo(sector, 0);
        sector[510] = 0x55;
        sector[511] = 0xAA;
        return sector;
    }

    /// <summary>Commands whose answers must be identical, character for character.</summary>
    public static readonly string[] SameAnswer =
    [
        "info mem",
        "info tlb",
        "x /16xb 0x7ce6",
        "x /8xh 0x7ce6",
        "x /4xw 0x7ce6",
        "x /2xg 0x7ce6",
        "x /16cb 0x7ce6",
        "x /2dg 0x7ce6",
        "x /8db 0x7ce6",
        "x /4ub 0x7ce6",
        "x /4ob 0x7ce6",
        "x /3ow 0x7ce6",
        "x /5uh 0x7ce6",
        "x /2xw 0x300ce6",
        "x /2xw 0x407ce6",
        "xp /4xb 0x7ce6",
        "xp /2xw 0x1fffffc",
        "x /2xw 0x800000",
        "xp /2xw 0x2000000",
        "x /2xw $esp+0xcf6",
        "x /2xw 0x7ce0+6",
        "x /2xw ($eip-0xc2)*2/2",
        "x /c 0x7ce7",
        "x /2i 0x800000",   // unmapped: QEMU's "unable to read memory"
        "x /2i 0x7ffffe",   // the last instruction of the mapped 4 MiB page, then the unmapped one
        "xp /2i 0x10000000", // beyond RAM
    ];

    [Fact]
    public void Register_dump_page_tables_and_memory_dumps_match_qemu_for_the_same_halted_boot_sector()
    {
        string floppy = Path.Combine(_dir, "paged-halt.img");
        var options = MiniVmProcess.FloppyBootOptions(floppy, BootSector());
        using var machine = new PcMachine(options, new MachineOutputs());
        for (int slice = 0; slice < 20_000 && !(machine.Cpu.Halted && machine.Cpu.Eip == HaltedEip); slice++) machine.RunSlice(100_000);
        Assert.True(machine.Cpu.Halted && machine.Cpu.Eip == HaltedEip, $"MiniVM did not reach the HLT (EIP={machine.Cpu.Eip:x8})");
        var monitor = new HumanMonitor(machine);
        byte[] forms = LoadForms(machine, DisassemblyForms.Code32Hex);

        using var qemu = QemuMonitor.Start(floppy, _dir, LoaderArguments(forms));
        var deadline = Stopwatch.StartNew();
        string qemuRegisters;
        while (!(qemuRegisters = qemu.Command("info registers")).Contains($"EIP={HaltedEip:x8}") || !qemuRegisters.Contains("HLT=1"))
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromMinutes(3), "QEMU did not reach the HLT:\n" + qemuRegisters);
            Thread.Sleep(200);
        }

        // The register dump: identical but for the XMM lines (QEMU's default CPU has SSE and MiniVM's P6 not; both show
        // zeros here) — so every line is compared.
        Assert.Equal(Lines(qemuRegisters), Lines(monitor.Execute("info registers")));
        Assert.Equal(Lines(qemu.Command("info registers -a")), Lines(monitor.Execute("info registers -a")));
        foreach (string command in SameAnswer)
            Assert.True(Lines(qemu.Command(command)).SequenceEqual(Lines(monitor.Execute(command))),
                $"'{command}':\nQEMU:\n{qemu.Command(command)}\nMiniVM:\n{monitor.Execute(command)}");

        // x /i in 32-bit code: every line as QEMU prints it (capstone's AT&T spelling), the HLT and the instruction list.
        foreach (string command in new[] { "x /3i 0x7cc1", $"x /{Instructions32}i 0x7d00" })
            Assert.Equal(Lines(qemu.Command(command)), Lines(monitor.Execute(command)));

        CompareForms(qemu, monitor, forms);

        Assert.Matches(@"^\* CPU #0: thread_id=\d+$", qemu.Command("info cpus").Trim());
        Assert.Matches(@"^\* CPU #0: thread_id=\d+$", monitor.Execute("info cpus"));
    }

    [Fact]
    public void Disassembly_of_16_bit_code_matches_qemu_line_for_line()
    {
        const uint haltedIp = 0x7c02;
        string floppy = Path.Combine(_dir, "real-halt.img");
        var options = MiniVmProcess.FloppyBootOptions(floppy, BootSector(RealModeSectorHex));
        using var machine = new PcMachine(options, new MachineOutputs());
        for (int slice = 0; slice < 20_000 && !(machine.Cpu.Halted && machine.Cpu.Eip == haltedIp); slice++) machine.RunSlice(100_000);
        Assert.True(machine.Cpu.Halted && machine.Cpu.Eip == haltedIp, $"MiniVM did not reach the HLT (EIP={machine.Cpu.Eip:x8})");
        var monitor = new HumanMonitor(machine);
        byte[] forms = LoadForms(machine, DisassemblyForms.Code16Hex);

        using var qemu = QemuMonitor.Start(floppy, _dir, LoaderArguments(forms));
        var deadline = Stopwatch.StartNew();
        string registers;
        while (!(registers = qemu.Command("info registers")).Contains($"EIP={haltedIp:x8}") || !registers.Contains("HLT=1"))
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromMinutes(3), "QEMU did not reach the HLT:\n" + registers);
            Thread.Sleep(200);
        }
        // Real mode: the segment lines without descriptor decoding, no paging. The stack (SeaBIOS left a different
        // one) and the x87 control/tag words (MiniVM powers the FPU on as the SDM says, FCW 0040, QEMU as after FNINIT)
        // are the guest state, not the monitor's layout: those two lines are left out.
        static string[] Layout(string dump) => Lines(dump).Where(l => !l.StartsWith("ESI=", StringComparison.Ordinal) && !l.StartsWith("FCW=", StringComparison.Ordinal)).ToArray();
        Assert.Equal(Layout(registers), Layout(monitor.Execute("info registers")));
        Assert.Contains("ES =0000 00000000 0000ffff 00009300", Lines(registers));
        foreach (string item in new[] { "info mem", "info tlb" })
            Assert.Equal(Lines(qemu.Command(item)), Lines(monitor.Execute(item))); // PG disabled
        string command = $"x /{Instructions16}i 0x7c10";
        string[] theirs = Lines(qemu.Command(command));
        Assert.Equal(Instructions16, theirs.Length); // one line each: none of these is longer than eight bytes
        Assert.Equal(theirs, Lines(monitor.Execute(command)));
        Assert.Equal(Lines(qemu.Command("x /2i 0x7c00")), Lines(monitor.Execute("x /2i 0x7c00")));
        CompareForms(qemu, monitor, forms);
    }

    /// <summary>The bytes of forms32.asm/forms16.asm, written into MiniVM's RAM at <see cref="DisassemblyForms.Address"/>.</summary>
    private static byte[] LoadForms(PcMachine machine, string hex)
    {
        byte[] forms = Convert.FromHexString(hex);
        machine.Memory.Write(DisassemblyForms.Address, forms);
        return forms;
    }

    /// <summary>QEMU's generic loader puts the same bytes at the same physical address before the firmware starts.</summary>
    private string[] LoaderArguments(byte[] forms)
    {
        string file = Path.Combine(_dir, "forms.bin");
        File.WriteAllBytes(file, forms);
        return ["-device", $"loader,file={file},addr=0x{DisassemblyForms.Address:x},force-raw=on"];
    }

    /// <summary>
    /// `xp /i` over all the forms, in the CPU's current code size, identical line for line: x87, MMX, SSE, system
    /// instructions, prefixes, and bytes that start no instruction (capstone's `.byte 0xNN`).
    /// </summary>
    private static void CompareForms(QemuMonitor qemu, HumanMonitor monitor, byte[] forms)
    {
        string command = $"xp /1000i 0x{DisassemblyForms.Address:x}";
        string[] theirs = Lines(qemu.Command(command)), ours = Lines(monitor.Execute(command));
        Assert.Contains(theirs, l => l.StartsWith($"0x{DisassemblyForms.Address + forms.Length:x8}:", StringComparison.Ordinal)); // all of it compared
        Assert.Contains(theirs, l => l.EndsWith(".byte    0x0f", StringComparison.Ordinal));
        for (int i = 0; i < theirs.Length; i++)
            Assert.True(i < ours.Length && theirs[i] == ours[i], $"'{command}' line {i + 1}:\nQEMU:   {theirs[i]}\nMiniVM: {(i < ours.Length ? ours[i] : "(none)")}");
        Assert.Equal(theirs.Length, ours.Length);
    }

    private static string[] Lines(string text) => text.Replace("\r", "").TrimEnd('\n').Split('\n');

    /// <summary>qemu-system-i386 on the floppy with a QMP socket; HMP commands go through human-monitor-command.</summary>
    private sealed class QemuMonitor : IDisposable
    {
        private readonly Process _process;
        private readonly Socket _socket;
        private readonly StreamReader _reader;
        private readonly StreamWriter _writer;

        private QemuMonitor(Process process, Socket socket)
        {
            _process = process;
            _socket = socket;
            var stream = new NetworkStream(socket);
            _reader = new StreamReader(stream, Encoding.UTF8);
            _writer = new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true, NewLine = "\n" };
        }

        public static QemuMonitor Start(string floppy, string dir, params string[] extraArguments)
        {
            string qmp = Path.Combine(dir, "qmp.sock");
            var psi = new ProcessStartInfo("qemu-system-i386") { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var a in new[] { "-nodefaults", "-display", "none", "-m", "32", "-boot", "a", "-serial", "none",
                         "-drive", $"if=floppy,index=0,format=raw,readonly=on,file={floppy}", "-qmp", $"unix:{qmp},server=on,wait=off" })
                psi.ArgumentList.Add(a);
            foreach (var a in extraArguments) psi.ArgumentList.Add(a);
            var process = Process.Start(psi)!;
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            for (var wait = Stopwatch.StartNew(); ; Thread.Sleep(100))
            {
                try { socket.Connect(new UnixDomainSocketEndPoint(qmp)); break; }
                catch (SocketException) when (wait.Elapsed < TimeSpan.FromMinutes(1) && !process.HasExited) { }
            }
            var q = new QemuMonitor(process, socket);
            q.Receive(); // greeting
            q.Execute("""{"execute":"qmp_capabilities"}""");
            return q;
        }

        public string Command(string line) =>
            Execute(JsonSerializer.Serialize(new { execute = "human-monitor-command", arguments = new Dictionary<string, string> { ["command-line"] = line } }))
                .GetString() ?? "";

        private JsonElement Execute(string json)
        {
            _writer.WriteLine(json);
            while (true)
            {
                var reply = Receive();
                if (reply.TryGetProperty("return", out var value)) return value.Clone();
                if (reply.TryGetProperty("error", out var error)) throw new InvalidOperationException("QMP: " + error);
                // An asynchronous event: wait for the reply itself.
            }
        }

        private JsonElement Receive()
        {
            string line = _reader.ReadLine() ?? throw new EndOfStreamException("QEMU closed its QMP socket");
            using var doc = JsonDocument.Parse(line);
            return doc.RootElement.Clone();
        }

        public void Dispose()
        {
            try { _writer.WriteLine("""{"execute":"quit"}"""); } catch (IOException) { }
            _socket.Dispose();
            if (!_process.WaitForExit(10_000)) _process.Kill();
            _process.Dispose();
        }
    }
}
