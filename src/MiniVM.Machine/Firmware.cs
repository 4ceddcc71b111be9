using System.Diagnostics;
using MiniVM.Machine.Configuration;

namespace MiniVM.Machine;

/// <summary>Loads SeaBIOS and SeaVGABIOS, fetching them with firmware/fetch-seabios.sh when they are missing.</summary>
public static class Firmware
{
    public static byte[] LoadBios(string path)
    {
        EnsurePresent(path);
        var data = HostInput.ReadAll(path, "firmware.bios", 0x100000);
        if (data.Length < 0x10000 || data.Length > 0x100000 || data.Length % 0x10000 != 0)
            throw new VmConfigException($"config: firmware.bios '{path}' is {data.Length} bytes; a BIOS image is 64 KiB..1 MiB in 64 KiB steps");
        if (data.Length < 0x20000) // the ISA alias at 0xE0000 is 128 KiB: pad small images at the bottom
        {
            var padded = new byte[0x20000];
            data.CopyTo(padded, padded.Length - data.Length);
            data = padded;
        }
        return data;
    }

    public static byte[] LoadVgaBios(string path)
    {
        EnsurePresent(path);
        var data = HostInput.ReadAll(path, "firmware.vgabios", 0x20000);
        if (data.Length < 512 || data.Length > 0x20000 || data[0] != 0x55 || data[1] != 0xAA)
            throw new VmConfigException($"config: firmware.vgabios '{path}' is not an option ROM (no 55 AA signature or bad size)");
        return data;
    }

    /// <summary>Runs the fetch script that sits in the firmware file's folder, once, when the file is missing.</summary>
    private static void EnsurePresent(string path)
    {
        if (File.Exists(path)) return;
        string script = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".", "fetch-seabios.sh");
        if (!File.Exists(script))
            throw new VmConfigException($"config: firmware file '{path}' not found (and no fetch-seabios.sh beside it)");
        var psi = new ProcessStartInfo("bash", [script]) { RedirectStandardError = true, RedirectStandardOutput = true };
        using var p = Process.Start(psi) ?? throw new VmConfigException($"firmware: cannot start {script}");
        string err = p.StandardError.ReadToEnd();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0 || !File.Exists(path))
            throw new VmConfigException($"firmware: {path} is missing and {script} failed: {err.Trim().Split('\n').LastOrDefault()}");
    }
}
