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
/// QMP's human-monitor-command, which returns the HMP text without the terminal's echo.
/// </summary>
public sealed class MonitorQemuComparisonTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("minivm-monq").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>nasm -f bin paged-halt.asm, without the zero padding up to the boot signature.</summary>
    private const string BootSectorHex =
        "fa31c08ed88ec08ed0bc0070b0ffe621e6a1dbe3d9e8d9ebbf00906631c0b90008fcf366ab66c706009007a0000066c706049083000000" +
        "bf00a066b803000000b9000166890566050010000083c704e2f266c70600ac057000000f0116e07c66b8009000000f22d80f20e06683c8" +
        "100f22e00f20c0660d010000800f22c0ea837c080066b810008ed88ec08ed08ee08ee8bcf06f0000a1007c4000b844332211bb88776655" +
        "b9ccbbaa99ba00ffeeddbe67452301bfefcdab89bd98badcfe39d8faf4ebfd909090900000000000000000ffff0000009bcf00ffff0000" +
        "0093cf001700c87c000041275c0a0d00ff807a7f2001fecabeba";

    /// <summary>The address after the HLT where both CPUs rest.</summary>
    private const uint HaltedEip = 0x7cc2;

    private static byte[] BootSector()
    {
        var sector = new byte[512];
        Convert.FromHexString(BootSectorHex).CopyTo(sector, 0);
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

        using var qemu = QemuMonitor.Start(floppy, _dir);
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
        foreach (string command in SameAnswer)
            Assert.True(Lines(qemu.Command(command)).SequenceEqual(Lines(monitor.Execute(command))),
                $"'{command}':\nQEMU:\n{qemu.Command(command)}\nMiniVM:\n{monitor.Execute(command)}");

        // x /i: the same addresses, bytes and mnemonics (operand spelling is each disassembler's own).
        string[] ours = Lines(monitor.Execute("x /3i 0x7cc1")), theirs = Lines(qemu.Command("x /3i 0x7cc1"));
        Assert.Equal(theirs.Length, ours.Length);
        for (int i = 0; i < ours.Length; i++) Assert.Equal(theirs[i][..45].TrimEnd(), ours[i][..Math.Min(45, ours[i].Length)].TrimEnd());

        Assert.Matches(@"^\* CPU #0: thread_id=\d+$", qemu.Command("info cpus").Trim());
        Assert.Matches(@"^\* CPU #0: thread_id=\d+$", monitor.Execute("info cpus"));
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

        public static QemuMonitor Start(string floppy, string dir)
        {
            string qmp = Path.Combine(dir, "qmp.sock");
            var psi = new ProcessStartInfo("qemu-system-i386") { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var a in new[] { "-nodefaults", "-display", "none", "-m", "32", "-boot", "a", "-serial", "none",
                         "-drive", $"if=floppy,index=0,format=raw,readonly=on,file={floppy}", "-qmp", $"unix:{qmp},server=on,wait=off" })
                psi.ArgumentList.Add(a);
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
