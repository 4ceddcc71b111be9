namespace MiniVM.Machine.Tests.Boot;

/// <summary>
/// `--serial stdio` on a terminal (a tmux pane): the terminal is put in raw mode, so a key reaches the guest's COM1
/// as it is typed, without waiting for Enter; Ctrl+C still ends the run, and the terminal is as it was afterwards
/// (canonical input and echo back on).
/// </summary>
public sealed class SerialStdioTerminalTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("minivm-serial-tty").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>
    /// Boot sector: prints ECHO-READY on COM1, then answers every byte it receives with "[byte]" (busy-polls the
    /// UART's line status register). nasm source:
    /// <code>
    ///     cli / xor ax,ax / mov ds,ax / mov si,msg
    /// .p: lodsb / test al,al / jz wait_rx / call putc / jmp .p
    /// wait_rx: mov dx,0x3fd
    /// .w: in al,dx / test al,1 / jz .w / mov dx,0x3f8 / in al,dx / mov bl,al
    ///     mov al,'[' / call putc / mov al,bl / call putc / mov al,']' / call putc / jmp wait_rx
    /// putc: mov ah,al / mov dx,0x3fd
    /// .t: in al,dx / test al,0x20 / jz .t / mov dx,0x3f8 / mov al,ah / out dx,al / ret
    /// msg db 'ECHO-READY',13,10,0
    /// </code>
    /// </summary>
    private static readonly byte[] EchoBootSector =
    [
        0xFA, 0x31, 0xC0, 0x8E, 0xD8, 0xBE, 0x42, 0x7C, 0xAC, 0x84, 0xC0, 0x74, 0x05, 0xE8, 0x21, 0x00, 0xEB, 0xF6, 0xBA, 0xFD,
        0x03, 0xEC, 0xA8, 0x01, 0x74, 0xFB, 0xBA, 0xF8, 0x03, 0xEC, 0x88, 0xC3, 0xB0, 0x5B, 0xE8, 0x0C, 0x00, 0x88, 0xD8, 0xE8,
        0x07, 0x00, 0xB0, 0x5D, 0xE8, 0x02, 0x00, 0xEB, 0xE1, 0x88, 0xC4, 0xBA, 0xFD, 0x03, 0xEC, 0xA8, 0x20, 0x74, 0xFB, 0xBA,
        0xF8, 0x03, 0x88, 0xE0, 0xEE, 0xC3, 0x45, 0x43, 0x48, 0x4F, 0x2D, 0x52, 0x45, 0x41, 0x44, 0x59, 0x0D, 0x0A, 0x00,
    ];

    [Fact]
    public void AKeyReachesTheGuestWithoutEnterAndTheTerminalIsRestoredAfterCtrlC()
    {
        string floppy = Path.Combine(_dir, "echo.img");
        var sector = new byte[512];
        EchoBootSector.CopyTo(sector, 0);
        sector[510] = 0x55;
        sector[511] = 0xAA;
        using (var f = File.Create(floppy))
        {
            f.Write(sector);
            f.SetLength(1_474_560);
        }
        string minivm = Path.Combine(AppContext.BaseDirectory, "minivm.dll");
        string command = $"dotnet exec '{minivm}' run --drive 'if=floppy,format=raw,file={floppy}' --boot a --serial stdio --display none "
            + "--clock virtual --timeout 300; echo MINIVM-EXIT=$?; stty -a | tr ' ;' '\\n\\n' | grep -x -E -- '-?(icanon|echo)' | tr '\\n' ' '; echo; sleep 60";
        using var pane = new TmuxPane(_dir, command);

        pane.WaitFor(s => s.Contains("ECHO-READY"), "the guest's ECHO-READY");
        pane.SendKeys("q");                              // no Enter: a cooked terminal would hold it back
        string screen = pane.WaitFor(s => s.Contains("[q]"), "the guest's echo of a key typed without Enter", TimeSpan.FromSeconds(60));
        Assert.DoesNotContain("q[q]", screen);           // the terminal did not echo it itself

        pane.SendKeys("C-c");
        screen = pane.WaitFor(s => s.Contains("MINIVM-EXIT=") && s.Contains("icanon"), "minivm to end and stty's report");
        Assert.Contains("MINIVM-EXIT=0", screen);
        Assert.Contains("icanon echo", screen);          // not -icanon / -echo: raw mode was undone
    }
}
