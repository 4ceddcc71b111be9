using System.Runtime.InteropServices;

namespace MiniVM.Cli;

/// <summary>
/// The terminal in raw mode for the text display (keys arrive one by one, unechoed, Ctrl+C and Ctrl+A as bytes),
/// put back as it was on <see cref="Dispose"/>. libc's tcgetattr/cfmakeraw/tcsetattr on standard input, in this
/// process: an `stty raw` child would be undone by .NET, which re-applies its own terminal settings when a child exits.
/// The termios structure stays opaque (a buffer larger than glibc's 60 bytes): only libc reads it.
/// </summary>
public sealed partial class TerminalMode : IDisposable
{
    private const int StandardInput = 0, SetNow = 0, TermiosBytes = 256, LocalFlagsOffset = 12;
    private const byte LinuxIsig = 1;
    private readonly byte[] _saved;

    private TerminalMode(byte[] saved) { _saved = saved; }

    /// <summary>
    /// Raw mode, or null when standard input is not a terminal (or this is not a Unix). With
    /// <paramref name="keepSignals"/> (Linux), Ctrl+C still interrupts the process as it does on a cooked terminal
    /// (ISIG, as QEMU's `-serial stdio`): the serial console has no escape key of its own.
    /// </summary>
    public static TerminalMode? EnterRaw(bool keepSignals = false)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS() && !OperatingSystem.IsFreeBSD()) return null;
        var saved = new byte[TermiosBytes];
        if (GetAttributes(StandardInput, saved) != 0) return null;
        var raw = (byte[])saved.Clone();
        MakeRaw(raw);
        // glibc's struct termios starts with four 32-bit flag words; c_lflag is the fourth, ISIG its bit 0.
        if (keepSignals && OperatingSystem.IsLinux()) raw[LocalFlagsOffset] |= LinuxIsig;
        if (SetAttributes(StandardInput, SetNow, raw) != 0) return null;
        return new TerminalMode(saved);
    }

    public void Dispose() => SetAttributes(StandardInput, SetNow, _saved);

    /// <summary>
    /// Standard input as the bytes the terminal sends, each read returning what has arrived. Not
    /// <see cref="Console.OpenStandardInput()"/>: on a terminal that stream is .NET's line editor (it echoes keys and
    /// hands over nothing before Enter), so Ctrl+A x and single keys would never arrive as typed.
    /// </summary>
    public static Stream OpenInput() =>
        new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(StandardInput, ownsHandle: false), FileAccess.Read, bufferSize: 0);

    [LibraryImport("libc", EntryPoint = "tcgetattr")]
    private static partial int GetAttributes(int fd, [Out] byte[] termios);

    [LibraryImport("libc", EntryPoint = "tcsetattr")]
    private static partial int SetAttributes(int fd, int when, [In] byte[] termios);

    [LibraryImport("libc", EntryPoint = "cfmakeraw")]
    private static partial void MakeRaw([In, Out] byte[] termios);
}
