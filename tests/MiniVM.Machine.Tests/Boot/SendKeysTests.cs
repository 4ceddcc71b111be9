using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace MiniVM.Machine.Tests.Boot;

/// <summary>
/// `--sendkeys` against a guest that, like Linux opening its tty, goes quiet and then throws away what was typed
/// before it starts reading: the quiet rule types too early, `--sendkeys-after` waits for the guest's prompt.
/// </summary>
[Collection("boots")]
[Trait("Category", "Boot")]
public sealed class SendKeysTests : IDisposable
{
    private const ushort Origin = 0x7C00, WaitText = Origin + 0x100, PromptText = Origin + 0x110;
    private readonly string _dir = Directory.CreateTempSubdirectory("minivm-sendkeys").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>
    /// A boot sector: prints "WAIT", spins 120 M instructions (1.2 s of guest time: quiet), empties the BIOS keyboard
    /// buffer, prints the prompt "GO> " and echoes every key it reads.
    /// </summary>
    private string Floppy()
    {
        var a = new Assembler(16);
        Label print = a.CreateLabel(), spin = a.CreateLabel(), flush = a.CreateLabel(), flushed = a.CreateLabel(),
            echo = a.CreateLabel(), printed = a.CreateLabel();
        a.xor(ax, ax);
        a.mov(ds, ax);
        a.mov(si, WaitText);
        a.call(print);
        a.mov(ecx, 60_000_000);
        a.Label(ref spin);
        a.dec(ecx);
        a.jnz(spin);
        a.Label(ref flush);                 // what was typed while the guest was not reading is dropped
        a.mov(ah, 1);
        a.@int(0x16);
        a.jz(flushed);
        a.mov(ah, 0);
        a.@int(0x16);
        a.jmp(flush);
        a.Label(ref flushed);
        a.mov(si, PromptText);
        a.call(print);
        a.Label(ref echo);
        a.mov(ah, 0);
        a.@int(0x16);
        a.mov(ah, 0x0E);
        a.mov(bx, 7);
        a.@int(0x10);
        a.jmp(echo);
        a.Label(ref print);
        a.lodsb();
        a.test(al, al);
        a.jz(printed);
        a.mov(ah, 0x0E);
        a.mov(bx, 7);
        a.@int(0x10);
        a.jmp(print);
        a.Label(ref printed);
        a.ret();

        var code = new MemoryStream();
        a.Assemble(new StreamCodeWriter(code), Origin);
        var sector = new byte[1_474_560];
        Assert.True(code.Length <= WaitText - Origin);
        code.ToArray().CopyTo(sector, 0);
        "WAIT\r\n\0"u8.CopyTo(sector.AsSpan(WaitText - Origin));
        "GO> \0"u8.CopyTo(sector.AsSpan(PromptText - Origin));
        sector[510] = 0x55;
        sector[511] = 0xAA;
        string path = Path.Combine(_dir, "prompt.img");
        File.WriteAllBytes(path, sector);
        return path;
    }

    private string Run(params string[] args)
    {
        string dump = Path.Combine(_dir, "screen.txt");
        var r = MiniVmProcess.Run(_dir, TimeSpan.FromMinutes(2),
            ["run", "--fda", Floppy(), "--serial", "none", "--timeout", "60", "--screen-dump", dump, .. args]);
        string screen = File.Exists(dump) ? File.ReadAllText(dump) : "";
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.Stderr}\n--- screen ---\n{screen}");
        return screen;
    }

    [Fact]
    public void KeysTypedOnQuietAloneAreLostWhileTheGuestIsNotReading()
    {
        string screen = Run("--sendkeys", @"abc\n", "--until", "GO> ");
        Assert.Contains("WAIT", screen);
        Assert.DoesNotContain("GO> abc", screen);
    }

    [Fact]
    public void SendKeysAfterThePromptReachTheGuest()
    {
        string screen = Run("--sendkeys-after", "GO> ", "--sendkeys", "abc", "--until", "GO> abc"); // "GO> " ends a row: its blank matches too
        Assert.Contains("GO> abc", screen);
    }
}
