using System.Globalization;
using System.Text.Json;
using MiniVM.Block;
using Spectre.Console;

namespace MiniVM.Cli;

/// <summary>The snapshot list as `img info` and `img snapshot -l` show it (qemu-img's columns).</summary>
internal static class SnapshotTable
{
    public static void Write(CliContext context, IReadOnlyList<SnapshotInfo> snapshots)
    {
        if (!context.IsTerminal)
        {
            WritePlain(context.Out, snapshots);
            return;
        }
        var table = context.CreateTable("ID", "TAG", "VM SIZE", "DATE", "VM CLOCK", "ICOUNT");
        table.Columns[2].RightAligned();
        foreach (var s in snapshots)
            table.AddRow(new Text(s.Id), new Text(s.Name), new Text(QemuSize.Format(s.VmStateSize)),
                new Text(s.Date.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)),
                new Text(Clock(s.VmClockNanoseconds)), new Text(s.InstructionCount?.ToString(CultureInfo.InvariantCulture) ?? ""));
        context.CreateConsole().Write(table);
    }

    /// <summary>
    /// Piped output keeps qemu-img 7.2's fixed columns (bdrv_snapshot_dump) so scripts written for it work; ICOUNT is
    /// blank for a snapshot whose format records no instruction count.
    /// </summary>
    private static void WritePlain(TextWriter o, IReadOnlyList<SnapshotInfo> snapshots)
    {
        o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"ID",-10}{"TAG",-17}{"VM SIZE",8}{"DATE",20}{"VM CLOCK",13}{"ICOUNT",11}"));
        foreach (var s in snapshots)
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{s.Id,-9} {s.Name,-16} {QemuSize.Format(s.VmStateSize),8}{s.Date.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),20}{Clock(s.VmClockNanoseconds),13}{(s.InstructionCount is { } ic ? ic.ToString(CultureInfo.InvariantCulture) : ""),11}"));
    }

    /// <summary>Guest clock as hours:minutes:seconds.milliseconds (hours may exceed 24).</summary>
    public static string Clock(long nanoseconds)
    {
        long ms = nanoseconds / 1_000_000;
        return string.Create(CultureInfo.InvariantCulture,
            $"{ms / 3_600_000:00}:{ms / 60_000 % 60:00}:{ms / 1000 % 60:00}.{ms % 1000:000}");
    }

    /// <summary>qemu's SnapshotInfo keys.</summary>
    public static void WriteJson(Utf8JsonWriter w, SnapshotInfo s)
    {
        w.WriteStartObject();
        w.WriteString("id", s.Id);
        w.WriteString("name", s.Name);
        w.WriteNumber("vm-state-size", s.VmStateSize);
        long ticks = s.Date.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        w.WriteNumber("date-sec", s.Date.ToUnixTimeSeconds());
        w.WriteNumber("date-nsec", (ticks % TimeSpan.TicksPerSecond + TimeSpan.TicksPerSecond) % TimeSpan.TicksPerSecond * 100);
        w.WriteNumber("vm-clock-sec", s.VmClockNanoseconds / 1_000_000_000);
        w.WriteNumber("vm-clock-nsec", s.VmClockNanoseconds % 1_000_000_000);
        if (s.InstructionCount is { } icount) w.WriteNumber("icount", icount);
        if (s.ParentId is not null) w.WriteString("parent-id", s.ParentId);
        w.WriteEndObject();
    }
}
