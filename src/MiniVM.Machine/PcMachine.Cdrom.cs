using MiniVM.Block;
using MiniVM.Devices.Storage;
using MiniVM.Machine.Configuration;
using MiniVM.Machine.Monitor;

namespace MiniVM.Machine;

/// <summary>
/// The CD-ROM drives: created from `media = cdrom` drives, named as QEMU names them (ide1-cd0 for the secondary
/// master, where --cdrom puts it), media opened read-only through the block layer in any format, and changed or
/// ejected by the monitor while the guest runs.
/// </summary>
public sealed partial class PcMachine
{
    private ImageFormats? _mediumFormats;

    private AtapiCdrom AddCdrom(ImageFormats formats, DriveOptions d)
    {
        _mediumFormats = formats;
        var cd = new AtapiCdrom($"ide{d.Index / 2}-cd{d.Index % 2}", serial: $"MVMCD{d.Index:D4}")
        {
            OpenMedium = file => OpenMedium(file, null),
        };
        if (!string.IsNullOrEmpty(d.File))
        {
            if (!File.Exists(d.File)) throw new FileNotFoundException($"drive {d.Label} (cdrom): file '{d.File}' not found", d.File);
            cd.Insert(OpenMedium(d.File, d.Format), d.File);
        }
        _cdroms.Add(cd);
        return cd;
    }

    private IBlockDriver OpenMedium(string file, string? format) =>
        _mediumFormats!.Open(file, format, new ImageOpenContext { ReadOnly = true, Registry = _mediumFormats });

    /// <summary>The CD-ROM drive called <paramref name="name"/> (ide1-cd0), for the monitor.</summary>
    public AtapiCdrom FindCdrom(string name, string command) =>
        _cdroms.FirstOrDefault(c => c.Name == name)
        ?? throw new MonitorException(_cdroms.Count == 0
            ? $"{command}: this machine has no CD-ROM drive"
            : $"{command}: no removable drive '{name}' (CD-ROM drives: {string.Join(", ", _cdroms.Select(c => c.Name))})");

    /// <summary>Monitor `change`: the new medium is opened first, so a bad file leaves the old one in the drive.</summary>
    public void ChangeMedium(string drive, string file, string? format)
    {
        var cd = FindCdrom(drive, "change");
        if (!File.Exists(file)) throw new MonitorException($"change: file '{file}' not found");
        IBlockDriver medium;
        try { medium = OpenMedium(Path.GetFullPath(file), format); }
        catch (Exception e) when (e is ImageFormatException or IOException or UnauthorizedAccessException)
        {
            throw new MonitorException($"change: {e.Message}");
        }
        cd.Insert(medium, Path.GetFullPath(file));
    }
}
