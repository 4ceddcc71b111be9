namespace MiniVM.Machine.Tests.Boot;

/// <summary>`minivm run --eip-samples FILE [--eip-sample-interval N]` as a user runs it.</summary>
[Collection("boots")]
public sealed class EipSamplesCliTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(4);
    private readonly string _dir = Directory.CreateTempSubdirectory("minivm-eipcli").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    [Trait("Category", "Boot")]
    public void BootOsLeavesOneSampleEveryIntervalInstructions()
    {
        string samples = Path.Combine(_dir, "boot.samples");
        var r = MiniVmProcess.Run(_dir, Limit, "run", "--fda", MiniVmProcess.Guest("bootos.img"), "--until", "bootOS",
            "--serial", "none", "--timeout", "200", "--eip-samples", samples, "--eip-sample-interval", "50000");
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.Stderr}");
        long instructions = long.Parse(System.Text.RegularExpressions.Regex.Match(r.Stderr, @"\((\d+) instructions").Groups[1].Value);
        string[] lines = File.ReadAllLines(samples);
        Assert.Equal("# minivm eip samples: every 50000 instructions; columns: instructions virtual-ns cpl linear-eip(hex)", lines[0]);
        Assert.Equal(instructions / 50_000, lines.Length - 1);
        Assert.Equal("50000", lines[1].Split(' ')[0]);
        // 50,000 instructions after reset the CPU is still in SeaBIOS, whose image fills 0xE0000-0xFFFFF.
        Assert.InRange(Convert.ToUInt32(lines[1].Split(' ')[3], 16), 0xE0000u, 0xFFFFFu);
    }

    [Fact]
    public void AnIntervalOfZeroIsAConfigurationError()
    {
        var r = MiniVmProcess.Run(_dir, Limit, "run", "--fda", MiniVmProcess.Guest("bootos.img"), "--serial", "none",
            "--eip-samples", Path.Combine(_dir, "x.samples"), "--eip-sample-interval", "0");
        Assert.Equal(78, r.ExitCode);
        Assert.Equal("minivm: --eip-sample-interval must be at least 1 (got 0)", r.Stderr.Trim());
        Assert.False(File.Exists(Path.Combine(_dir, "x.samples")));
    }
}
