using MiniVM.Devices;

namespace MiniVM.Display.Sdl;

/// <summary>
/// Host key → PC key: SDL scancodes are USB HID usage IDs (HID Usage Tables, Keyboard/Keypad page 0x07), the
/// physical key position whatever the host layout, which is what a PS/2 scan code names too. The guest applies
/// its own layout, as on a real PC. A flat table: one lookup per key event.
/// </summary>
public static class HidKeyMap
{
    private static readonly PcKey[] Table = Build();

    /// <summary>The PC key at HID usage <paramref name="usage"/>, or false for keys a 102-key PC keyboard lacks.</summary>
    public static bool TryMap(int usage, out PcKey key)
    {
        key = (uint)usage < (uint)Table.Length ? Table[usage] : default;
        return key != default;
    }

    private static PcKey[] Build()
    {
        var t = new PcKey[232];
        PcKey[] letters =
        [
            PcKey.A, PcKey.B, PcKey.C, PcKey.D, PcKey.E, PcKey.F, PcKey.G, PcKey.H, PcKey.I, PcKey.J, PcKey.K, PcKey.L, PcKey.M,
            PcKey.N, PcKey.O, PcKey.P, PcKey.Q, PcKey.R, PcKey.S, PcKey.T, PcKey.U, PcKey.V, PcKey.W, PcKey.X, PcKey.Y, PcKey.Z,
        ];
        for (int i = 0; i < letters.Length; i++) t[0x04 + i] = letters[i];
        PcKey[] digits = [PcKey.D1, PcKey.D2, PcKey.D3, PcKey.D4, PcKey.D5, PcKey.D6, PcKey.D7, PcKey.D8, PcKey.D9, PcKey.D0];
        for (int i = 0; i < digits.Length; i++) t[0x1E + i] = digits[i];
        t[0x28] = PcKey.Enter; t[0x29] = PcKey.Escape; t[0x2A] = PcKey.Backspace; t[0x2B] = PcKey.Tab; t[0x2C] = PcKey.Space;
        t[0x2D] = PcKey.Minus; t[0x2E] = PcKey.Equals; t[0x2F] = PcKey.LeftBracket; t[0x30] = PcKey.RightBracket;
        t[0x31] = PcKey.Backslash;
        t[0x32] = PcKey.Backslash; // Non-US # sits where US \ is and sends the same PS/2 code (0x5D)
        t[0x33] = PcKey.Semicolon; t[0x34] = PcKey.Apostrophe; t[0x35] = PcKey.Backquote; t[0x36] = PcKey.Comma;
        t[0x37] = PcKey.Period; t[0x38] = PcKey.Slash; t[0x39] = PcKey.CapsLock;
        PcKey[] fkeys =
            [PcKey.F1, PcKey.F2, PcKey.F3, PcKey.F4, PcKey.F5, PcKey.F6, PcKey.F7, PcKey.F8, PcKey.F9, PcKey.F10, PcKey.F11, PcKey.F12];
        for (int i = 0; i < fkeys.Length; i++) t[0x3A + i] = fkeys[i];
        t[0x46] = PcKey.PrintScreen; t[0x47] = PcKey.ScrollLock; t[0x48] = PcKey.Pause;
        t[0x49] = PcKey.Insert; t[0x4A] = PcKey.Home; t[0x4B] = PcKey.PageUp; t[0x4C] = PcKey.Delete; t[0x4D] = PcKey.End;
        t[0x4E] = PcKey.PageDown; t[0x4F] = PcKey.Right; t[0x50] = PcKey.Left; t[0x51] = PcKey.Down; t[0x52] = PcKey.Up;
        t[0x53] = PcKey.NumLock; t[0x54] = PcKey.KeypadDivide; t[0x55] = PcKey.KeypadMultiply; t[0x56] = PcKey.KeypadMinus;
        t[0x57] = PcKey.KeypadPlus; t[0x58] = PcKey.KeypadEnter;
        PcKey[] keypad =
        [
            PcKey.Keypad1, PcKey.Keypad2, PcKey.Keypad3, PcKey.Keypad4, PcKey.Keypad5, PcKey.Keypad6, PcKey.Keypad7,
            PcKey.Keypad8, PcKey.Keypad9, PcKey.Keypad0,
        ];
        for (int i = 0; i < keypad.Length; i++) t[0x59 + i] = keypad[i];
        t[0x63] = PcKey.KeypadPeriod; t[0x64] = PcKey.NonUsBackslash; t[0x65] = PcKey.Menu;
        t[0xE0] = PcKey.LeftCtrl; t[0xE1] = PcKey.LeftShift; t[0xE2] = PcKey.LeftAlt; t[0xE3] = PcKey.LeftGui;
        t[0xE4] = PcKey.RightCtrl; t[0xE5] = PcKey.RightShift; t[0xE6] = PcKey.RightAlt; t[0xE7] = PcKey.RightGui;
        return t;
    }
}
