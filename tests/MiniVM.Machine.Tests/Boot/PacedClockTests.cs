using System.Diagnostics;
using System.Text;

namespace MiniVM.Machine.Tests.Boot;

/// <summary>
/// `clock: paced` as a user sees it: a guest that waits on the timer with HLT waits as long on the wall clock as in
/// its own time, and while it idles the emulator process uses almost no CPU (measured from /proc, as top does).
/// </summary>
public sealed class PacedClockTests : IDisposable
{
    /// <summary>
    /// A boot sector (nasm source in the comment below) that first idles 36 BIOS timer ticks with STI/HLT (about 2 s:
    /// the paced clock catches up there whatever lag the CPU-bound BIOS boot left, so the measured wait starts with
    /// the guest level with the host), then prints TICKS-START on COM1, waits 37 ticks with STI/HLT (IRQ 0 at 18.2 Hz:
    /// 36–37 periods, 1.98–2.03 s), prints TICKS-DONE and halts for ever with interrupts on.
    /// <code>
    ///     xor ax, ax / mov ds, ax / sti
    ///     mov bx, [0x46c] / add bx, 36
    /// s:  hlt / mov ax, [0x46c] / sub ax, bx / js s
    ///     mov si, start_msg / call print
    ///     mov bx, [0x46c] / add bx, 37
    /// w:  hlt / mov ax, [0x46c] / sub ax, bx / js w
    ///     mov si, done_msg / call print
    /// i:  hlt / jmp i
    /// print: lodsb / test al, al / jz .end / mov dx, 0x3f8 / out dx, al / jmp print / .end: ret
    /// </code>
    /// </summary>
    private const string TicksSector =
        "31c08ed8fb8b1e6c0483c324f4a16c0429d878f8be3e7ce818008b1e6c0483c325f4a16c0429d878f8be4c7ce80300f4ebfdac84c07406" +
        "baf803eeebf5c35449434b532d53544152540d0a005449434b532d444f4e450d0a00";

    private readonly string _dir = Directory.CreateTempSubdirectory("minivm-paced").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static string Floppy(string directory, string hexSector)
    {
        var image = new byte[1_474_560];
        Convert.FromHexString(hexSector).CopyTo(image, 0);
        image[510] = 0x55;
        image[511] = 0xAA;
        string path = Path.Combine(directory, "boot.img");
        File.WriteAllBytes(path, image);
        return path;
    }

    [Fact]
    public void ATwoSecondTimerWaitTakesTwoWallSecondsAndTheIdleGuestCostsAlmostNoCpu()
    {
        string floppy = Floppy(_dir, TicksSector);
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in new[] { "exec", Path.Combine(AppContext.BaseDirectory, "minivm.dll"), "run", "--fda", floppy, "--clock", "paced", "--timeout", "120" })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderr = new StringBuilder();
        p.ErrorDataReceived += (_, e) => { lock (stderr) stderr.AppendLine(e.Data); };
        p.BeginErrorReadLine();
        try
        {
            var output = new StringBuilder();
            var seen = new Dictionary<string, TimeSpan>();
            var wall = Stopwatch.StartNew();
            var reader = Task.Run(() =>
            {
                int c;
                while ((c = p.StandardOutput.Read()) >= 0)
                {
                    lock (output)
                    {
                        output.Append((char)c);
                        foreach (var marker in new[] { "TICKS-START", "TICKS-DONE" })
                            if (!seen.ContainsKey(marker) && output.ToString().EndsWith(marker, StringComparison.Ordinal)) seen[marker] = wall.Elapsed;
                    }
                }
            });
            bool Seen(string m) { lock (output) return seen.ContainsKey(m); }
            while (!Seen("TICKS-DONE"))
            {
                if (p.HasExited) lock (stderr) Assert.Fail($"minivm exited {p.ExitCode}: {stderr}");
                Assert.True(wall.Elapsed < TimeSpan.FromSeconds(100), "TICKS-DONE did not appear");
                Thread.Sleep(20);
            }
            double waited;
            lock (output) waited = (seen["TICKS-DONE"] - seen["TICKS-START"]).TotalSeconds;
            Assert.InRange(waited, 1.8, 2.2);

            // The guest now halts with interrupts on: 18 timer interrupts a second, each a short wake.
            Thread.Sleep(1000);
            double before = MiniVmSession.ProcessCpuSeconds(p.Id);
            Thread.Sleep(20_000);
            double used = MiniVmSession.ProcessCpuSeconds(p.Id) - before;
            Assert.True(used < 1.0, $"the idle guest used {used:0.00} s of host CPU in 20 s");
        }
        finally
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
            p.WaitForExit();
        }
    }
}
