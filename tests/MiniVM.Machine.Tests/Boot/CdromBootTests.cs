using System.Diagnostics;

namespace MiniVM.Machine.Tests.Boot;

/// <summary>
/// The CD-ROM guests of images/build-iso.sh (built here when missing): SeaBIOS boots them by El Torito from the ATAPI drive on the secondary master (--cdrom, --boot d). One Linux boot checks
/// everything a running guest sees: the marker, /dev/sr0 mounted with the file the script put on the ISO, DMA in use
/// on the IDE disk and the CD (libata's xfer_mode in sysfs), and a medium changed by the monitor while Linux runs.
/// </summary>
[Collection("boots")]
[Trait("Category", "Boot")]
public sealed class CdromBootTests : IDisposable
{
    private readonly MiniVmWorkDir _work = new("minivm-cdrom", TimeSpan.FromMinutes(16));

    public void Dispose() => _work.Dispose();

    private static string Image(string name) => GuestImages.Get("images/build-iso.sh", name);

    private string CopyIrow(string name) => GuestImages.CopyIrow("images/build-iso.sh", name, _work);

    [Fact]
    public void LinuxBootsFromTheIsoReadsTheCdUsesDmaAndSeesTheMediumTheMonitorChanged()
    {
        string iso = Image("linux-cd.iso"), second = Image("second-cd.iso");
        // The data disk (ide0) is mounted by the image's init over ata_piix, so its dmesg line shows the DMA mode.
        string data = Path.Combine(MiniVmProcess.RepoRoot, "images", "out", "data.irow");
        if (!File.Exists(data)) Image("linux-cd.iso"); // build-iso.sh runs build-linux.sh when its cache is missing
        foreach (var f in Directory.GetFiles(Path.GetDirectoryName(data)!, "data.irow*")) File.Copy(f, _work.PathOf(Path.GetFileName(f)));
        // $((1+1)) and friends: the guest's answer differs from the echoed command line, so triggers wait for the answer.
        string script = _work.PathOf("cd.script");
        File.WriteAllText(script, $"""
            when "minivm# " sendserial mount -t iso9660 -o ro /dev/sr0 /mnt/cd && cat /mnt/cd/MINIVM-CD.TXT; grep . /sys/class/ata_device/dev*/xfer_mode; umount /mnt/cd; echo FIRST-$((1+1))\n
            when "FIRST-2" info block
            eject ide1-cd0
            info block
            change ide1-cd0 {second}
            info block
            sendserial mount -t iso9660 -o ro /dev/sr0 /mnt/cd && cat /mnt/cd/SECOND-CD.TXT; echo SECOND-$((2+1)); poweroff -f\n
            """);
        var r = _work.Run("run", "--hda", _work.PathOf("data.irow"), "--cdrom", iso, "--boot", "d", "--serial", "stdio",
            "--monitor-script", script, "--timeout", "900");
        Assert.True(r.ExitCode == 0, $"minivm run: exit {r.ExitCode}: {r.Stderr}\n{r.Stdout}");
        string o = r.Stdout;
        Assert.Contains("MINIVM-LINUX-READY 6.1.", o);
        Assert.Contains("MINIVM-CD-FILE first medium, written by images/build-iso.sh", o);
        // libata's transfer mode per device: ata1.00 the IDE disk, ata2.00 the CD-ROM.
        Assert.Matches(@"dev1\.0/xfer_mode:XFER_(MW_DMA|UDMA)_\d", o);
        Assert.Matches(@"dev2\.0/xfer_mode:XFER_(MW_DMA|UDMA)_\d", o);
        Assert.Contains($"ide1-cd0: {iso} (raw, read-only)", o);
        Assert.Contains("ide1-cd0: [not inserted]\n    Removable device: not locked, tray open", o);
        Assert.Contains($"ide1-cd0: {second} (raw, read-only)\n    Removable device: not locked, tray closed", o);
        Assert.Contains("MINIVM-SECOND-CD-FILE the medium changed while Linux ran", o);
        Assert.Contains("SECOND-3", o);
    }

    [Fact]
    public void TheIsoConvertedToIrowBootsLinuxTheSame()
    {
        string serial = _work.PathOf("serial.txt");
        _work.RunOk("run", "--drive", $"if=ide,index=2,media=cdrom,file={CopyIrow("linux-cd.irow")}", "--boot", "d",
            "--serial", $"file:{serial}", "--until", "MINIVM-LINUX-READY", "--timeout", "900");
        string text = File.ReadAllText(serial);
        Assert.Contains("ISOLINUX", text);
        Assert.Contains("MINIVM-LINUX-READY 6.1.", text);
    }

    /// <summary>
    /// Debian's grub-rescue-pc CD (GRUB 2 El Torito image, no ISOLINUX): GRUB reads its modules and grub.cfg from the
    /// ATAPI drive through the BIOS, shows its menu on the VGA text screen, and 'c' there gives the command line.
    /// </summary>
    [Fact]
    public void DebiansGrubRescueCdReachesTheGrubPrompt()
    {
        const string iso = "/usr/lib/grub-rescue/grub-rescue-cdrom.iso";
        Assert.True(File.Exists(iso), $"{iso} is missing: install Debian's grub-rescue-pc (sudo apt-get install grub-rescue-pc)");
        string screen = _work.PathOf("screen.txt");
        // The menu ends with "... before booting or `c' for a command-line."; typing c there opens the prompt.
        _work.RunOk("run", "--cdrom", iso, "--boot", "d", "--sendkeys-after", "before booting", "--sendkeys", "c",
            "--until", "grub>", "--screen-dump", screen, "--timeout", "900");
        string text = File.ReadAllText(screen);
        Assert.Contains("GNU GRUB  version 2.", text);
        Assert.Contains("grub>", text);
    }
}
