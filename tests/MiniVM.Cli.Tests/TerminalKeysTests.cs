using System.Text;
using MiniVM.Devices;

namespace MiniVM.Cli.Tests;

/// <summary>Bytes from a raw-mode terminal (xterm, tmux) become the PC key strokes a keyboard would send.</summary>
public sealed class TerminalKeysTests
{
    private static (TerminalCommand Command, List<TerminalKey> Keys) Parse(string bytes)
    {
        var keys = new List<TerminalKey>();
        var command = new TerminalKeys().Parse(Encoding.Latin1.GetBytes(bytes), keys);
        return (command, keys);
    }

    [Fact]
    public void TextEnterAndBackspaceAreTheirKeys()
    {
        var (command, keys) = Parse("dIr\r\x7f");
        Assert.Equal(TerminalCommand.None, command);
        Assert.Equal([new(PcKey.D), new(PcKey.I, Shift: true), new(PcKey.R), new(PcKey.Enter), new(PcKey.Backspace)], keys);
    }

    [Theory]
    [InlineData("\e[A", PcKey.Up)]
    [InlineData("\e[B", PcKey.Down)]
    [InlineData("\eOC", PcKey.Right)]
    [InlineData("\e[D", PcKey.Left)]
    [InlineData("\e[H", PcKey.Home)]
    [InlineData("\e[4~", PcKey.End)]
    [InlineData("\e[3~", PcKey.Delete)]
    [InlineData("\e[5~", PcKey.PageUp)]
    [InlineData("\eOP", PcKey.F1)]
    [InlineData("\e[15~", PcKey.F5)]
    [InlineData("\e[24~", PcKey.F12)]
    [InlineData("\e", PcKey.Escape)]
    public void EscapeSequencesAreCursorEditingAndFunctionKeys(string sequence, PcKey key)
    {
        Assert.Equal([new TerminalKey(key)], Parse(sequence).Keys);
    }

    [Fact]
    public void ModifiersOfXtermSequencesControlCharactersAndMeta()
    {
        Assert.Equal([new TerminalKey(PcKey.Right, Ctrl: true)], Parse("\e[1;5C").Keys);
        Assert.Equal([new TerminalKey(PcKey.F5, Shift: true)], Parse("\e[15;2~").Keys);
        Assert.Equal([new TerminalKey(PcKey.C, Ctrl: true)], Parse("\x03").Keys);
        Assert.Equal([new TerminalKey(PcKey.X, Alt: true)], Parse("\ex").Keys);
    }

    [Fact]
    public void CtrlAStartsACommand()
    {
        Assert.Equal(TerminalCommand.Quit, Parse("\u0001x").Command);
        Assert.Equal(TerminalCommand.Monitor, Parse("\u0001c").Command);
        var (command, keys) = Parse("\x01\x01");
        Assert.Equal(TerminalCommand.None, command);
        Assert.Equal([new TerminalKey(PcKey.A, Ctrl: true)], keys);
        // The prefix spans reads: Ctrl+A in one, x in the next.
        var parser = new TerminalKeys();
        var none = new List<TerminalKey>();
        Assert.Equal(TerminalCommand.None, parser.Parse([0x01], none));
        Assert.Equal(TerminalCommand.Quit, parser.Parse("x"u8, none));
        Assert.Empty(none);
    }
}
