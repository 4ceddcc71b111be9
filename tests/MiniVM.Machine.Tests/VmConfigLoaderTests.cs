using MiniVM.Machine.Configuration;

namespace MiniVM.Machine.Tests;

public sealed class VmConfigLoaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("minivm-cfg").FullName;
    private static readonly Dictionary<string, string?> NoEnv = new();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Json(string text)
    {
        string p = Path.Combine(_dir, "vm.json");
        File.WriteAllText(p, text);
        return p;
    }

    private static VmOptions Load(string? file, string[]? sets = null, (string, string)[]? sh = null,
        List<DriveDocument>? drives = null, Dictionary<string, string?>? env = null) =>
        VmConfigLoader.Load(file, sets ?? [], sh ?? [], drives ?? [], env ?? NoEnv);

    [Fact]
    public void FileValuesBindAndRelativePathsResolveNextToTheFile()
    {
        var o = Load(Json("""{ "machine": { "memory": 256 }, "drives": [ { "interface": "virtio", "file": "disk.irow", "format": "irow" } ] }"""));
        Assert.Equal(256, o.Machine.Memory);
        Assert.Equal(Path.Combine(_dir, "disk.irow"), o.Drives[0].File);
        // No firmware beside this vm.json: MiniVM's own (the source tree's firmware/, or the installed tool's).
        Assert.Equal(Path.Combine(VmConfigLoader.InstallationRoot()!, "firmware", "bios.bin"), o.Firmware.Bios);
    }

    [Fact]
    public void FirmwareBesideTheConfigurationFileIsPreferred()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "firmware"));
        File.WriteAllBytes(Path.Combine(_dir, "firmware", "bios.bin"), new byte[0x20000]);
        var o = Load(Json("""{ "drives": [ { "interface": "ide", "file": "disk.img" } ] }"""));
        Assert.Equal(Path.Combine(_dir, "firmware", "bios.bin"), o.Firmware.Bios);
        Assert.Equal(Path.Combine(VmConfigLoader.InstallationRoot()!, "firmware", "vgabios-stdvga.bin"), o.Firmware.VgaBios);
    }

    [Fact]
    public void EnvironmentOverridesFileAndSetOverridesEnvironment()
    {
        string f = Json("""{ "machine": { "memory": 256 } }""");
        var env = new Dictionary<string, string?> { ["MINIVM__machine__memory"] = "512", ["MINIVM__clock"] = "realtime" };
        Assert.Equal(512, Load(f, env: env).Machine.Memory);
        var o = Load(f, sets: ["machine.memory=64"], env: env);
        Assert.Equal(64, o.Machine.Memory);
        Assert.Equal(ClockMode.Realtime, o.Clock);
    }

    [Fact]
    public void ShorthandMapsToTheSameKey()
    {
        var o = Load(Json("{}"), sh: [("--memory", "32"), ("--serial", "file:/tmp/s.log")]);
        Assert.Equal(32, o.Machine.Memory);
        Assert.Equal(SerialSink.ToFile("/tmp/s.log"), o.Serial);
    }

    [Fact]
    public void CommandLineDrivesReplaceTheFileDrives()
    {
        string f = Json("""{ "drives": [ { "interface": "virtio", "file": "linux.irow" } ] }""");
        var fda = VmConfigLoader.ParseDrive("if=floppy,file=a.img", _dir);
        var o = Load(f, drives: [fda]);
        var d = Assert.Single(o.Drives);
        Assert.Equal(DriveInterface.Floppy, d.Interface);
    }

    [Theory]
    [InlineData("""{ "machine": { "memory": "lots" } }""", "machine.memory = 'lots' is not a valid whole number")]
    [InlineData("""{ "machine": { "memory": 0 } }""", "machine.memory = 0")]
    [InlineData("""{ "machine": { "ram": 5 } }""", "unknown key machine.ram")]
    [InlineData("""{ "serial": "com9" }""", "serial = 'com9'")]
    [InlineData("""{ "monitor": "tcp:0.0.0.0:4444" }""", "loopback only")]
    [InlineData("""{ "drives": [ { "interface": "scsi", "file": "x" } ] }""", "drives.0.interface = 'scsi'")]
    [InlineData("""{ "drives": [ { "interface": "ide", "index": 7, "file": "x" } ] }""", "drives.0.index = 7")]
    [InlineData("""{ "machine": { "memory": 1 """, "vm.json")]
    [InlineData("""{ "drives": [ { "interface": "ide", "media": "tape", "file": "x" } ] }""", "drives.0.media = 'tape': use disk or cdrom")]
    [InlineData("""{ "drives": [ { "interface": "virtio", "media": "cdrom", "file": "x" } ] }""", "drives.0.media = cdrom: a CD-ROM drive is on the ide interface")]
    [InlineData("""{ "drives": [ { "interface": "ide", "file": "" } ] }""", "drives.0.file is empty")]
    [InlineData("""{ "monitor": "stdio" }""", "monitor = stdio and serial = stdio cannot share stdio")]
    [InlineData("""{ "drives": [ { "interface": "virtio", "file": "x", "transport": "pci" } ] }""", "drives.0.transport = 'pci': use legacy or modern")]
    public void WrongValuesGiveOneLineNamingTheKey(string json, string expected)
    {
        var e = Assert.Throws<VmConfigException>(() => Load(Json(json)));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void ValuesBecomeTypedOnceInTheLoader()
    {
        var o = Load(Json("""
            { "machine": { "cpu-engine": "JIT", "rtc": "2026-01-01T00:00:00" }, "serial": "none", "monitor": "tcp:127.0.0.1:4444",
              "display": "headless", "clock": "auto", "boot": "CA", "drives": [ { "interface": "Virtio", "file": "d.irow", "transport": "legacy" } ] }
            """));
        Assert.Equal(MiniVM.Cpu.CpuEngine.Jit, o.Machine.CpuEngine);
        Assert.Equal(new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc), o.Machine.RtcStart());
        Assert.Equal(DateTimeKind.Utc, o.Machine.Rtc!.Value.Kind);
        Assert.Equal(SerialSink.None, o.Serial);
        Assert.Equal((MonitorKind.Tcp, 4444), (o.Monitor.Kind, o.Monitor.Port));
        Assert.Equal(DisplayKind.None, o.Display);
        Assert.Null(o.Clock); // auto: the front end decides
        Assert.Equal("ca", o.Boot);
        var d = Assert.Single(o.Drives);
        Assert.Equal((DriveInterface.Virtio, VirtioTransport.Legacy, DriveMedia.Disk, "virtio0"), (d.Interface, d.Transport, d.Media, d.Label));
        // The stdio monitor is fine beside a serial port in a file.
        Assert.Equal(MonitorKind.Stdio, Load(Json("""{ "monitor": "stdio", "serial": "file:com1.log" }""")).Monitor.Kind);
    }

    [Fact]
    public void CdromDrivesAreReadOnlyAndMayBeEmpty()
    {
        var o = Load(Json("""{ "boot": "dc", "drives": [ { "interface": "ide", "index": 2, "media": "cdrom", "file": "" }, { "interface": "ide", "index": 3, "media": "cdrom", "file": "x.iso" } ] }"""));
        Assert.Equal("dc", o.Boot);
        Assert.All(o.Drives, d => Assert.True(d.IsCdrom && d.ReadOnly));
        Assert.Equal("", o.Drives[0].File);
        var cd = VmConfigLoader.ParseDrive("if=ide,index=2,media=cdrom,file=a.iso", _dir);
        Assert.True(Load(Json("{}"), drives: [cd]).Drives[0] is { IsCdrom: true, ReadOnly: true, Index: 2 });
    }

    [Fact]
    public void DriveShorthandRejectsUnknownKeys()
    {
        var e = Assert.Throws<VmConfigException>(() => VmConfigLoader.ParseDrive("if=ide,file=x,cache=none", _dir));
        Assert.Contains("unknown key 'cache'", e.Message);
    }
}
