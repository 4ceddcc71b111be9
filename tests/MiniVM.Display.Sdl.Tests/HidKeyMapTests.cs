using MiniVM.Devices;

namespace MiniVM.Display.Sdl.Tests;

public sealed class HidKeyMapTests
{
    [Theory]
    [InlineData(0x04, PcKey.A)]            // HID usage 4 is the key labelled A on a US board
    [InlineData(0x1D, PcKey.Z)]
    [InlineData(0x1E, PcKey.D1)]
    [InlineData(0x27, PcKey.D0)]
    [InlineData(0x28, PcKey.Enter)]
    [InlineData(0x29, PcKey.Escape)]
    [InlineData(0x35, PcKey.Backquote)]
    [InlineData(0x32, PcKey.Backslash)]    // ISO # shares the US \ position and its PS/2 code
    [InlineData(0x64, PcKey.NonUsBackslash)]
    [InlineData(0x3A, PcKey.F1)]
    [InlineData(0x45, PcKey.F12)]
    [InlineData(0x48, PcKey.Pause)]
    [InlineData(0x4F, PcKey.Right)]
    [InlineData(0x52, PcKey.Up)]
    [InlineData(0x58, PcKey.KeypadEnter)]
    [InlineData(0x59, PcKey.Keypad1)]
    [InlineData(0x62, PcKey.Keypad0)]
    [InlineData(0xE0, PcKey.LeftCtrl)]
    [InlineData(0xE6, PcKey.RightAlt)]
    [InlineData(0xE7, PcKey.RightGui)]
    public void MapsUsageToTheSet2Key(int usage, PcKey expected)
    {
        Assert.True(HidKeyMap.TryMap(usage, out var key));
        Assert.Equal(expected, key);
    }

    [Theory]
    [InlineData(0)]       // SDL_SCANCODE_UNKNOWN
    [InlineData(0x68)]    // F13: no such key on a PC/AT keyboard
    [InlineData(0x7F)]    // Mute
    [InlineData(0xE8)]
    [InlineData(511)]     // SDL_NUM_SCANCODES - 1
    [InlineData(-1)]
    [InlineData(int.MaxValue)]
    public void KeysAPcLacksAreNotMapped(int usage) => Assert.False(HidKeyMap.TryMap(usage, out _));

    [Fact]
    public void EveryPcKeyHasExactlyOneHostKeyExceptTheIsoAlias()
    {
        var seen = new Dictionary<PcKey, int>();
        for (int usage = 0; usage < 256; usage++)
            if (HidKeyMap.TryMap(usage, out var key)) seen[key] = seen.GetValueOrDefault(key) + 1;
        foreach (var key in Enum.GetValues<PcKey>())
            Assert.True(seen.GetValueOrDefault(key) == (key == PcKey.Backslash ? 2 : 1), $"{key} is reached from {seen.GetValueOrDefault(key)} host keys");
    }
}
