using MiniVM.Block;

namespace MiniVM.Cli.Tests;

/// <summary>
/// issue 11 item 5: a guest writes a qcow2 header naming a host file as its backing file into sector 0 of its
/// probed raw disk, hoping the next open probes qcow2 and shows it the host file. As in QEMU, writes that would
/// change what a probed raw image probes as are refused; with format=raw given they are the guest's business.
/// </summary>
public sealed class ProbeAttackTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>The first sector of a qcow2 image whose backing file is secret.txt beside it.</summary>
    private byte[] EvilHeader()
    {
        File.WriteAllText(_dir.File("secret.txt"), "host secret\n");
        string evil = _dir.File("evil.qcow2");
        CliResult.Run("img", "create", "-f", "qcow2", "-b", "secret.txt", "-F", "raw", evil, "1M").AssertSuccess();
        var sector = File.ReadAllBytes(evil)[..512];
        Assert.Equal("qcow2", ImageFormats.Default.Probe(sector, evil)?.Name);
        return sector;
    }

    private string RawDisk(string name, byte[]? bootSector = null, byte[]? secondSector = null)
    {
        string path = _dir.File(name);
        var bytes = new byte[1 << 20];
        bootSector?.CopyTo(bytes, 0);
        secondSector?.CopyTo(bytes, 512);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void Write_that_would_make_a_probed_raw_image_probe_as_qcow2_is_refused()
    {
        var header = EvilHeader();
        string disk = RawDisk("disk.img");
        string? warning = null;
        using (var d = ImageFormats.Default.Open(disk, null, new ImageOpenContext { Warning = w => warning = w }))
        {
            var e = Assert.Throws<ImageFormatException>(() => d.Write(0, header));
            Assert.Contains("would then probe as qcow2, not raw", e.Message);
            // Writes that keep it raw, in sector 0 or elsewhere, go through.
            d.Write(0, new byte[512]);
            d.Write(4096, header);
            d.Write(2, header.AsSpan(0, 4)); // the magic, but not at the start
        }
        Assert.StartsWith("WARNING: Image format was not specified for '" + disk + "' and probing guessed raw.", warning);
        Assert.Equal("raw", ImageFormats.Default.Probe(disk).Name);
        Assert.Equal(header, File.ReadAllBytes(disk)[4096..4608]);
    }

    [Fact]
    public void Given_format_raw_or_read_only_opens_are_not_restricted()
    {
        var header = EvilHeader();
        string disk = RawDisk("disk.img");
        string? warning = null;
        using (var d = ImageFormats.Default.Open(disk, "raw", new ImageOpenContext { Warning = w => warning = w }))
            d.Write(0, header);
        Assert.Null(warning);
        Assert.Equal("qcow2", ImageFormats.Default.Probe(disk).Name); // the attack is real without the rule
        using var ro = ImageFormats.Default.Open(RawDisk("ro.img"), null, new ImageOpenContext { ReadOnly = true, Warning = w => warning = w });
        Assert.Null(warning);
        Assert.IsNotType<ProbedRawImage>(ro);
    }

    /// <summary>
    /// Real mode boot sector: INT 13h reads sector 2 (the qcow2 header) to 0:8000, writes it over sector 1 (itself,
    /// LBA 0), then prints 'W' (written) or 'E' (the BIOS reported an error) on COM1 and halts.
    /// </summary>
    private static byte[] AttackBootSector()
    {
        byte[] code =
        [
            0x31, 0xC0, 0x8E, 0xD8, 0x8E, 0xC0, 0x8E, 0xD0, 0xBC, 0x00, 0x7C, // xor ax,ax; ds=es=ss=0; sp=7C00
            0xB8, 0x01, 0x02, 0xBB, 0x00, 0x80, 0xB9, 0x02, 0x00, 0xB6, 0x00, 0xCD, 0x13, // read 1 sector: C0 H0 S2 -> 0:8000
            0xB8, 0x01, 0x03, 0xBB, 0x00, 0x80, 0xB9, 0x01, 0x00, 0xB6, 0x00, 0xCD, 0x13, // write it to C0 H0 S1
            0xB0, (byte)'W', 0x73, 0x02, 0xB0, (byte)'E',                                   // al = CF ? 'E' : 'W'
            0xBA, 0xF8, 0x03, 0xEE, 0xB0, 0x0A, 0xEE,                                       // out 3F8h: al, '\n'
            0xFA, 0xF4,                                                                     // cli; hlt
        ];
        var sector = new byte[512];
        code.CopyTo(sector, 0);
        sector[510] = 0x55;
        sector[511] = 0xAA;
        return sector;
    }

    [Fact]
    public void A_guest_cannot_turn_its_probed_raw_disk_into_qcow2()
    {
        string disk = RawDisk("disk.img", AttackBootSector(), EvilHeader());
        string serial = _dir.File("com1.txt");
        var r = CliResult.Run("run", "--hda", disk, "--boot", "c", "--serial", "file:" + serial, "--timeout", "300");
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.Err}");
        Assert.Contains("minivm: WARNING: Image format was not specified for '" + disk + "' and probing guessed raw.", r.Err);
        Assert.Equal("E\n", File.ReadAllText(serial)); // the guest saw its write fail, as under QEMU (EPERM)
        Assert.Equal("raw", ImageFormats.Default.Probe(disk).Name);
        Assert.Equal(AttackBootSector(), File.ReadAllBytes(disk)[..512]);
    }
}
