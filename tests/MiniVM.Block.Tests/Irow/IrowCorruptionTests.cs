using System.Buffers.Binary;
using MiniVM.Block.Irow;

namespace MiniVM.Block.Tests.Irow;

/// <summary>Hostile and damaged images: every one must give an ImageFormatException and nothing else (irow.md §9).</summary>
public class IrowCorruptionTests
{
    private const int H = IrowBytes.HeaderSize;
    private const int R = IrowBytes.RecordSize;

    /// <summary>A valid two-state image: root snapshot "a" (r.btmp) and the current state (c.btmp) on top.</summary>
    private static byte[] ValidMeta(string backing = "") => IrowBytes.Meta(4096, 9, "c.btmp", backing, false,
        new IrowBytes.Rec("1", "a", "r.btmp", "r.irvd", "", Children: 1),
        new IrowBytes.Rec("0", "current state", "c.btmp", "c.irvd", "r.btmp"));

    private static void WriteStateFiles(TempDir dir)
    {
        File.WriteAllBytes(dir.File("r.btmp"), [0x01]);
        File.WriteAllBytes(dir.File("r.irvd"), Enumerable.Repeat((byte)0x5A, 4096).ToArray());
        File.WriteAllBytes(dir.File("c.btmp"), [0x02]);
        File.WriteAllBytes(dir.File("c.irvd"), Enumerable.Repeat((byte)0x6B, 4096).ToArray());
    }

    private static ImageFormatException OpenFails(TempDir dir, byte[] meta, string expectFragment)
    {
        File.WriteAllBytes(dir.File("m.irow"), meta);
        var ex = Record.Exception(() =>
        {
            using var img = ImageFormats.Default.Open(dir.File("m.irow"), "irow");
            var b = new byte[img.Size];
            img.Read(0, b);
        });
        var ife = Assert.IsType<ImageFormatException>(ex);
        Assert.Contains(expectFragment, ife.Message);
        return ife;
    }

    private static byte[] With(Action<byte[]> corrupt, byte[]? start = null)
    {
        var m = start ?? ValidMeta();
        corrupt(m);
        return m;
    }

    private static void Be32(byte[] m, int off, uint v) => BinaryPrimitives.WriteUInt32BigEndian(m.AsSpan(off), v);
    private static void Be64(byte[] m, int off, ulong v) => BinaryPrimitives.WriteUInt64BigEndian(m.AsSpan(off), v);
    private static void Le32(byte[] m, int off, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(m.AsSpan(off), v);
    private static void Name(byte[] m, int off, int len, string s) { m.AsSpan(off, len).Clear(); IrowBytes.Str(m.AsSpan(off, len), s); }

    [Fact]
    public void The_valid_base_image_opens_and_reads_by_layer()
    {
        using var dir = new TempDir();
        WriteStateFiles(dir);
        File.WriteAllBytes(dir.File("m.irow"), ValidMeta());
        using var img = ImageFormats.Default.Open(dir.File("m.irow"));
        var b = new byte[4096];
        img.Read(0, b);
        Assert.All(b[..512], x => Assert.Equal(0x5A, x));
        Assert.All(b[512..1024], x => Assert.Equal(0x6B, x));
        Assert.All(b[1024..], x => Assert.Equal(0, x));
        Assert.True(((IImageCheck)img).Check().IsClean);
    }

    public static TheoryData<string, string> HeaderCorruptions => new()
    {
        { "magic", "magic" },
        { "version", "version" },
        { "cluster_bits_low", "cluster_bits" },
        { "cluster_bits_high", "cluster_bits" },
        { "cluster_size", "cluster_size" },
        { "sectors_per_cluster", "sectors_per_cluster" },
        { "total_clusters", "total_clusters" },
        { "disk_size_zero", "disk_size" },
        { "disk_size_huge", "disk_size" },
        { "disk_size_odd", "disk_size" },
        { "nb_snapshots_huge", "nb_snapshots" },
        { "nb_snapshots_zero", "nb_snapshots" },
        { "current_unterminated", "current_btmp" },
        { "backing_unterminated", "backing_file" },
        { "current_unknown", "current_btmp" },
        { "current_empty", "current_btmp" },
    };

    [Theory]
    [MemberData(nameof(HeaderCorruptions))]
    public void Corrupt_header_field_gives_an_image_error_naming_it(string what, string field)
    {
        using var dir = new TempDir();
        WriteStateFiles(dir);
        var m = With(m =>
        {
            switch (what)
            {
                case "magic": Be32(m, 0, 0x49524F58); break;
                case "version": Be32(m, 4, 2); break;
                case "cluster_bits_low": Be32(m, 20, 8); Be32(m, 16, 256); Be32(m, 24, 0); break;
                case "cluster_bits_high": Be32(m, 20, 22); Be32(m, 16, 1u << 22); Be32(m, 24, 1u << 13); break;
                case "cluster_size": Be32(m, 16, 1024); break;
                case "sectors_per_cluster": Be32(m, 24, 2); break;
                case "total_clusters": Be64(m, 28, 9); break;
                case "disk_size_zero": Be64(m, 36, 0); Be64(m, 28, 0); break;
                case "disk_size_huge": Be64(m, 36, ulong.MaxValue - 100); Be64(m, 28, (ulong.MaxValue - 100) >> 9); break;
                case "disk_size_odd": Be64(m, 36, 4000); break;
                case "nb_snapshots_huge": Be32(m, 12, uint.MaxValue); break;
                case "nb_snapshots_zero": Be32(m, 12, 0); break;
                case "current_unterminated": m.AsSpan(44, 256).Fill((byte)'c'); break;
                case "backing_unterminated": m.AsSpan(300, 256).Fill((byte)'b'); break;
                case "current_unknown": Name(m, 44, 256, "x.btmp"); break;
                case "current_empty": Name(m, 44, 256, ""); break;
            }
        });
        OpenFails(dir, m, field);
    }

    public static TheoryData<string, string> RecordCorruptions => new()
    {
        { "snap_magic", "snap_magic" },
        { "id_unterminated", "id_str" },
        { "name_unterminated", "name" },
        { "btmp_unterminated", "btmp_file" },
        { "irvd_unterminated", "irvd_file" },
        { "father_unterminated", "father_btmp_file" },
        { "btmp_empty", "btmp_file" },
        { "irvd_empty", "irvd_file" },
        { "name_not_utf8", "UTF-8" },
        { "is_deleted_7", "is_deleted" },
        { "current_deleted", "is_deleted" },
        { "father_missing", "father_btmp_file" },
        { "father_cycle", "cycle" },
        { "current_not_leaf", "leaf" },
        { "duplicate_btmp", "btmp_file" },
        { "duplicate_irvd", "irvd_file" },
        { "traversal_dotdot", "not a plain file name" },
        { "traversal_absolute", "not a plain file name" },
        { "traversal_subdir", "not a plain file name" },
        { "father_traversal", "" },
    };

    [Theory]
    [MemberData(nameof(RecordCorruptions))]
    public void Corrupt_record_gives_an_image_error_naming_it(string what, string fragment)
    {
        using var dir = new TempDir();
        WriteStateFiles(dir);
        const int r0 = H, r1 = H + R; // root record, current record
        var m = With(m =>
        {
            switch (what)
            {
                case "snap_magic": Be32(m, r0, 0x534E4151); break;
                case "id_unterminated": m.AsSpan(r0 + 4, 128).Fill((byte)'7'); break;
                case "name_unterminated": m.AsSpan(r0 + 132, 256).Fill((byte)'n'); break;
                case "btmp_unterminated": m.AsSpan(r0 + 388, 256).Fill((byte)'b'); break;
                case "irvd_unterminated": m.AsSpan(r0 + 644, 256).Fill((byte)'i'); break;
                case "father_unterminated": m.AsSpan(r1 + 900, 256).Fill((byte)'f'); break;
                case "btmp_empty": Name(m, r0 + 388, 256, ""); break;
                case "irvd_empty": Name(m, r0 + 644, 256, ""); break;
                case "name_not_utf8": m[r0 + 132] = 0xFF; m[r0 + 133] = 0xFE; break;
                case "is_deleted_7": Le32(m, r0 + 1180, 7); break;
                case "current_deleted": Le32(m, r1 + 1180, 1); break;
                case "father_missing": Name(m, r1 + 900, 256, "gone.btmp"); break;
                case "father_cycle": Name(m, r0 + 900, 256, "r.btmp"); break;
                case "current_not_leaf": Name(m, r0 + 900, 256, "c.btmp"); break;
                case "duplicate_btmp": Name(m, r0 + 388, 256, "c.btmp"); Name(m, r1 + 900, 256, ""); break;
                case "duplicate_irvd": Name(m, r0 + 644, 256, "c.irvd"); break;
                case "traversal_dotdot": Name(m, r1 + 644, 256, "../c.irvd"); break;
                case "traversal_absolute": Name(m, r1 + 644, 256, "/etc/passwd"); break;
                case "traversal_subdir": Name(m, r0 + 644, 256, "sub/r.irvd"); break;
                case "father_traversal": Name(m, r1 + 900, 256, "../r.btmp"); break;
            }
        });
        OpenFails(dir, m, fragment);
    }

    [Fact]
    public void A_longer_father_cycle_is_refused()
    {
        using var dir = new TempDir();
        var m = IrowBytes.Meta(4096, 9, "c.btmp", "", false,
            new IrowBytes.Rec("1", "a", "a.btmp", "a.irvd", "c2.btmp"),
            new IrowBytes.Rec("2", "b", "b.btmp", "b.irvd", "a.btmp"),
            new IrowBytes.Rec("3", "x", "c2.btmp", "c2.irvd", "b.btmp"),
            new IrowBytes.Rec("0", "current state", "c.btmp", "c.irvd", "b.btmp"));
        OpenFails(dir, m, "cycle");
    }

    [Fact]
    public void A_traversal_name_in_a_snapshot_off_the_current_chain_is_refused_at_open()
    {
        using var dir = new TempDir();
        WriteStateFiles(dir);
        var m = IrowBytes.Meta(4096, 9, "c.btmp", "", false,
            new IrowBytes.Rec("1", "a", "r.btmp", "r.irvd", "", Children: 2),
            new IrowBytes.Rec("2", "side", "s.btmp", "../../victim", "r.btmp"),
            new IrowBytes.Rec("0", "current state", "c.btmp", "c.irvd", "r.btmp"));
        OpenFails(dir, m, "'../../victim' is not a plain file name");
    }

    [Fact]
    public void Check_reports_a_second_root_as_corruption()
    {
        using var dir = new TempDir();
        WriteStateFiles(dir);
        File.WriteAllBytes(dir.File("s.btmp"), [0]);
        File.WriteAllBytes(dir.File("s.irvd"), []);
        File.WriteAllBytes(dir.File("m.irow"), IrowBytes.Meta(4096, 9, "c.btmp", "", false,
            new IrowBytes.Rec("1", "a", "r.btmp", "r.irvd", "", Children: 1),
            new IrowBytes.Rec("2", "stray", "s.btmp", "s.irvd", ""),
            new IrowBytes.Rec("0", "current state", "c.btmp", "c.irvd", "r.btmp")));
        using var img = (IrowImage)ImageFormats.Default.Open(dir.File("m.irow"));
        var r = img.Check();
        Assert.Equal(1, r.Corruptions);
        Assert.Contains(r.Messages, m => m.Contains("2 roots", StringComparison.Ordinal));
    }

    [Fact]
    public void Short_and_trailing_meta_files_are_refused()
    {
        using var dir = new TempDir();
        WriteStateFiles(dir);
        OpenFails(dir, ValidMeta()[..100], "");
        OpenFails(dir, ValidMeta()[..(H + R + 10)], "nb_snapshots");
        OpenFails(dir, [.. ValidMeta(), 0, 0, 0], "nb_snapshots");
    }

    [Theory]
    [InlineData("missing_btmp", "c.btmp")]
    [InlineData("truncated_btmp", "shorter than its")]
    [InlineData("missing_irvd", "c.irvd")]
    [InlineData("missing_father_btmp", "r.btmp")]
    [InlineData("truncated_father_btmp", "shorter than its")]
    [InlineData("missing_father_irvd", "r.irvd")]
    public void Missing_or_truncated_state_files_are_refused(string what, string fragment)
    {
        using var dir = new TempDir();
        WriteStateFiles(dir);
        switch (what)
        {
            case "missing_btmp": File.Delete(dir.File("c.btmp")); break;
            case "truncated_btmp": File.WriteAllBytes(dir.File("c.btmp"), []); break;
            case "missing_irvd": File.Delete(dir.File("c.irvd")); break;
            case "missing_father_btmp": File.Delete(dir.File("r.btmp")); break;
            case "truncated_father_btmp": File.WriteAllBytes(dir.File("r.btmp"), []); break;
            case "missing_father_irvd": File.Delete(dir.File("r.irvd")); break;
        }
        OpenFails(dir, ValidMeta(), fragment);
    }

    [Fact]
    public void A_short_irvd_reads_as_zeroes_past_its_end()
    {
        using var dir = new TempDir();
        WriteStateFiles(dir);
        File.WriteAllBytes(dir.File("c.irvd"), Enumerable.Repeat((byte)0x6B, 600).ToArray());
        File.WriteAllBytes(dir.File("m.irow"), ValidMeta());
        using var img = ImageFormats.Default.Open(dir.File("m.irow"));
        var b = new byte[512];
        img.Read(512, b);
        Assert.All(b[..88], x => Assert.Equal(0x6B, x));
        Assert.All(b[88..], x => Assert.Equal(0, x));
    }

    [Theory]
    [InlineData("../base.raw", "no such file")]
    [InlineData("/proc/self/environ", "inside /proc")]
    [InlineData("/dev/zero", "is a character device")]
    [InlineData("m.irow", "cycle")]
    [InlineData("nothere.raw", "no such file")]
    public void Hostile_backing_file_names_are_refused(string backing, string fragment)
    {
        using var dir = new TempDir();
        WriteStateFiles(dir);
        OpenFails(dir, ValidMeta(backing), fragment);
    }

    [Fact]
    public void Random_byte_damage_never_escapes_as_another_exception()
    {
        using var dir = new TempDir();
        WriteStateFiles(dir);
        var valid = ValidMeta();
        var rng = new Random(1234);
        int opened = 0, refused = 0;
        for (int i = 0; i < 400; i++)
        {
            var m = (byte[])valid.Clone();
            int flips = rng.Next(1, 4);
            for (int f = 0; f < flips; f++)
            {
                // Aim at the bytes that carry meaning (the header and each record's first 40 bytes and integers).
                int off = rng.Next(3) switch
                {
                    0 => rng.Next(0, 64),
                    1 => H + rng.Next(2) * R + rng.Next(0, 40),
                    _ => H + rng.Next(2) * R + 1156 + rng.Next(0, 28),
                };
                m[off] = (byte)rng.Next(256);
            }
            File.WriteAllBytes(dir.File("m.irow"), m);
            try
            {
                using var img = ImageFormats.Default.Open(dir.File("m.irow"), "irow");
                var b = new byte[Math.Min(img.Size, 1 << 20)];
                img.Read(0, b);
                opened++;
            }
            catch (ImageFormatException) { refused++; }
        }
        Assert.Equal(400, opened + refused);
        Assert.True(refused > 100, $"only {refused} refused");
    }
}
