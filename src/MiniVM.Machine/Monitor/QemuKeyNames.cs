using MiniVM.Devices;

namespace MiniVM.Machine.Monitor;

/// <summary>
/// QEMU's `sendkey` key names (qapi QKeyCode, lower case) mapped to PC keys. A combination such as
/// <c>ctrl-alt-delete</c> presses its keys left to right and releases them right to left, as QEMU does.
/// </summary>
public static class QemuKeyNames
{
    private static readonly Dictionary<string, PcKey> Keys = Build();

    private static Dictionary<string, PcKey> Build()
    {
        var d = new Dictionary<string, PcKey>(StringComparer.OrdinalIgnoreCase)
        {
            ["shift"] = PcKey.LeftShift, ["shift_r"] = PcKey.RightShift, ["ctrl"] = PcKey.LeftCtrl, ["ctrl_r"] = PcKey.RightCtrl,
            ["alt"] = PcKey.LeftAlt, ["alt_r"] = PcKey.RightAlt, ["altgr"] = PcKey.RightAlt, ["meta_l"] = PcKey.LeftGui,
            ["meta_r"] = PcKey.RightGui, ["menu"] = PcKey.Menu, ["esc"] = PcKey.Escape, ["ret"] = PcKey.Enter,
            ["spc"] = PcKey.Space, ["tab"] = PcKey.Tab, ["backspace"] = PcKey.Backspace, ["caps_lock"] = PcKey.CapsLock,
            ["num_lock"] = PcKey.NumLock, ["scroll_lock"] = PcKey.ScrollLock, ["minus"] = PcKey.Minus, ["equal"] = PcKey.Equals,
            ["bracket_left"] = PcKey.LeftBracket, ["bracket_right"] = PcKey.RightBracket, ["backslash"] = PcKey.Backslash,
            ["semicolon"] = PcKey.Semicolon, ["apostrophe"] = PcKey.Apostrophe, ["grave_accent"] = PcKey.Backquote,
            ["comma"] = PcKey.Comma, ["dot"] = PcKey.Period, ["slash"] = PcKey.Slash, ["less"] = PcKey.NonUsBackslash,
            ["insert"] = PcKey.Insert, ["delete"] = PcKey.Delete, ["home"] = PcKey.Home, ["end"] = PcKey.End,
            ["pgup"] = PcKey.PageUp, ["pgdn"] = PcKey.PageDown, ["up"] = PcKey.Up, ["down"] = PcKey.Down,
            ["left"] = PcKey.Left, ["right"] = PcKey.Right, ["print"] = PcKey.PrintScreen, ["sysrq"] = PcKey.PrintScreen,
            ["pause"] = PcKey.Pause, ["kp_divide"] = PcKey.KeypadDivide, ["kp_multiply"] = PcKey.KeypadMultiply,
            ["kp_subtract"] = PcKey.KeypadMinus, ["kp_add"] = PcKey.KeypadPlus, ["kp_enter"] = PcKey.KeypadEnter,
            ["kp_decimal"] = PcKey.KeypadPeriod,
        };
        for (char c = 'a'; c <= 'z'; c++) d[c.ToString()] = Enum.Parse<PcKey>(char.ToUpperInvariant(c).ToString());
        for (int i = 0; i <= 9; i++) { d[i.ToString()] = Enum.Parse<PcKey>("D" + i); d["kp_" + i] = Enum.Parse<PcKey>("Keypad" + i); }
        for (int i = 1; i <= 12; i++) d["f" + i] = Enum.Parse<PcKey>("F" + i);
        return d;
    }

    /// <summary>Parses "ctrl-alt-delete"; throws <see cref="MonitorException"/> naming the unknown key.</summary>
    public static IReadOnlyList<PcKey> ParseCombination(string keys)
    {
        var result = new List<PcKey>();
        foreach (var name in keys.Split('-'))
        {
            if (!Keys.TryGetValue(name, out var key)) throw new MonitorException($"sendkey: unknown key '{name}' (QEMU names: a, shift, ctrl, alt, ret, spc, esc, delete, f1, kp_1, …)");
            result.Add(key);
        }
        if (result.Count > 8) throw new MonitorException("sendkey: more than 8 keys in one combination");
        return result;
    }
}
