using MiniVM.Devices;

namespace MiniVM.Display.Sdl.Tests;

public sealed class MonitorLineTests
{
    private static string? Tap(MonitorLine line, PcKey key)
    {
        string? done = line.Key(key, down: true);
        return line.Key(key, down: false) ?? done;
    }

    [Fact]
    public void KeysBecomeUsLayoutTextAndEnterHandsTheLineOver()
    {
        var line = new MonitorLine();
        foreach (var k in new[] { PcKey.S, PcKey.A, PcKey.V, PcKey.E, PcKey.V, PcKey.M, PcKey.Space }) Assert.Null(Tap(line, k));
        line.Key(PcKey.LeftShift, down: true);
        Tap(line, PcKey.B);
        Tap(line, PcKey.Minus);    // shifted: _
        line.Key(PcKey.LeftShift, down: false);
        Tap(line, PcKey.D1);
        Tap(line, PcKey.X);
        Tap(line, PcKey.Backspace);
        Assert.Equal("savevm B_1", line.Text);
        Assert.Equal("savevm B_1", Tap(line, PcKey.Enter));
        Assert.Equal("", line.Text);
    }

    [Fact]
    public void KeysWithoutTextAreIgnoredAndBackspaceStopsAtTheStart()
    {
        var line = new MonitorLine();
        Tap(line, PcKey.Backspace);
        Tap(line, PcKey.F1);
        Tap(line, PcKey.Up);
        Tap(line, PcKey.LeftCtrl);
        Assert.Equal("", line.Text);
        Assert.Equal("", Tap(line, PcKey.KeypadEnter));
    }
}
