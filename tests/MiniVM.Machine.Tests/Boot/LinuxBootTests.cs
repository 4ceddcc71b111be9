using System.Diagnostics;

namespace MiniVM.Machine.Tests.Boot;

/// <summary>
/// The Debian i386 Linux 6.1 guest (images/build-linux.sh) boots from IDE to its busybox init, which prints
/// MINIVM-LINUX-READY on the serial port. The image is built here when missing (CI runs as root with apt).
/// </summary>
[Collection("boots")]
[Trait("Category", "Boot")]
public sealed class LinuxBootTests : IDisposable
{
    private readonly MiniVmWorkDir _work = new("minivm-linux", TimeSpan.FromMinutes(16));

    public void Dispose() => _work.Dispose();

    private static string Image(string name) => GuestImages.Get("images/build-linux.sh", name);

    private string CopyIrow(string name) => GuestImages.CopyIrow("images/build-linux.sh", name, _work);

    /// <summary>
    /// A copy of the boot disk whose kernel command line ends with <paramref name="extra"/>: converted to raw, its
    /// syslinux.cfg edited with mtools (the FAT partition starts at 1 MiB), converted back to iROW.
    /// </summary>
    private string IrowWithKernelArguments(string extra)
    {
        string raw = _work.PathOf("linux-args.raw");
        _work.RunOk("img", "convert", "-O", "raw", CopyIrow("linux.irow"), raw);
        const long partition = 1 << 20;
        string cfg = Mtools.Type(raw, partition, "::syslinux.cfg");
        Assert.Contains("APPEND console=tty0", cfg);
        cfg = string.Join('\n', cfg.Split('\n').Select(l => l.TrimStart().StartsWith("APPEND ") ? l.TrimEnd() + " " + extra : l));
        Mtools.Write(raw, partition, "::syslinux.cfg", cfg);
        string irow = _work.PathOf("linux-args.irow");
        _work.RunOk("img", "convert", "-O", "irow", raw, irow);
        return irow;
    }

    /// <summary>
    /// From iROW over IDE with `noapic` on the kernel command line (issue 15): Linux leaves the I/O APIC alone and
    /// takes the 8259's interrupts through the local APIC's LINT0 (virtual wire); /proc/interrupts shows XT-PIC.
    /// </summary>
    [Fact]
    public void BootsToTheReadyMarkerFromIrowOverIdeWithNoapic()
    {
        var lines = new[] { new MiniVmProcess.TypedLine("minivm# ", $"{PerfDmesg}; cat /proc/interrupts; poweroff -f") };
        var r = MiniVmProcess.RunTyping(_work.Root, TimeSpan.FromMinutes(16), lines, "run",
            "--drive", $"if=ide,index=0,file={IrowWithKernelArguments("noapic")},format=irow",
            "--serial", "stdio", "--timeout", "900");
        Assert.True(r.ExitCode == 0, $"minivm run: exit {r.ExitCode}: {r.Stderr}\n{r.Stdout}");
        Assert.Contains("MINIVM-LINUX-READY 6.1.", r.Stdout);
        Assert.Contains("XT-PIC", r.Stdout);
        Assert.DoesNotContain("IO-APIC", r.Stdout);
        AssertP6PerformanceCounters(r.Stdout);
    }

    /// <summary>
    /// The kernel's performance-events lines (loglevel=4 keeps the informational one off the console). The typed
    /// command's echo holds neither asserted line whole.
    /// </summary>
    private const string PerfDmesg = "dmesg | grep -e 'Performance Events' -e 'perfctr'";

    /// <summary>
    /// Issue 15: Linux finds the P6 performance counters (MSRs and RDPMC) and uses them up to its poweroff, which the
    /// caller has already seen complete (exit 0).
    /// </summary>
    private static void AssertP6PerformanceCounters(string stdout)
    {
        Assert.Contains("Performance Events: p6 PMU driver.", stdout);
        Assert.DoesNotContain("Failed to access perfctr msr", stdout);
    }

    /// <summary>
    /// Over virtio-blk (modern transport, the default VM) with the iROW data disk mounted: at the serial shell the
    /// guest writes a file to the data disk, syncs and powers off, and minivm exits 0. The host then converts the
    /// data disk to raw and reads the file with mtools: exactly the content the guest wrote (issue 5).
    /// </summary>
    [Fact]
    public void GuestWritesAFileToTheIrowDataDiskOverVirtioThatTheHostReadsBack()
    {
        string data = CopyIrow("data.irow");
        string content = "minivm-" + Guid.NewGuid().ToString("N");
        // The shell's prompt (PS1 from the image's init) after the marker: only then is ttyS0 open and read.
        var lines = new[]
        {
            new MiniVmProcess.TypedLine("minivm# ", $"{PerfDmesg}; cat /proc/interrupts /sys/devices/system/clockevents/clockevent0/current_device"),
            new MiniVmProcess.TypedLine("minivm# ", $"echo {content} > /mnt/data/guest.txt && sync && poweroff -f"),
        };
        var r = MiniVmProcess.RunTyping(_work.Root, TimeSpan.FromMinutes(16), lines, "run",
            "--drive", $"if=virtio,index=0,file={CopyIrow("linux.irow")},format=irow",
            "--drive", $"if=virtio,index=1,file={data},format=irow",
            "--serial", "stdio", "--timeout", "900");
        Assert.True(r.ExitCode == 0, $"minivm run: exit {r.ExitCode}: {r.Stderr}\n{r.Stdout}");
        Assert.Contains("data disk /dev/vdb mounted on /mnt/data", r.Stdout);
        Assert.Contains("MINIVM-LINUX-READY 6.1.", r.Stdout);
        // The local APIC and I/O APIC (issue 15): SeaBIOS's MP table lists the processor, interrupts arrive through
        // the I/O APIC and the local APIC timer is the clock event device.
        Assert.DoesNotContain("MP table errors", r.Stdout);
        Assert.DoesNotContain("no processors registered", r.Stdout);
        Assert.Contains("IO-APIC", r.Stdout);
        Assert.Contains("lapic", r.Stdout);
        AssertP6PerformanceCounters(r.Stdout);

        _work.RunOk("img", "check", data);
        string raw = _work.PathOf("data.raw");
        _work.RunOk("img", "convert", "-O", "raw", data, raw);
        // build-linux.sh makes data.raw a whole-disk FAT16 (no partition table): the file system starts at byte 0.
        Assert.Equal(content + "\n", Mtools.Type(raw, 0, "::guest.txt"));
    }
}
