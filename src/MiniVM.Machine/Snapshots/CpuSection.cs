using MiniVM.Cpu;
using MiniVM.Devices;

namespace MiniVM.Machine.Snapshots;

/// <summary>
/// The CPU (registers, segment caches, control registers, FPU) as the VM-state section "cpu". The CPU writes its own
/// self-checking record (X86Cpu.SaveState); the section carries it as one length-prefixed block.
/// </summary>
public sealed class CpuSection(X86Cpu cpu) : ISnapshottable
{
    /// <summary>Far above any real CPU record (a few hundred bytes), so a hostile length allocates nothing large.</summary>
    private const int MaxRecord = 1 << 16;

    public string SectionId => "cpu";
    public int SectionVersion => 1;

    public void SaveState(StateWriter writer)
    {
        var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true)) cpu.SaveState(w);
        writer.Write((int)ms.Length);
        writer.WriteBytes(ms.GetBuffer().AsSpan(0, (int)ms.Length));
    }

    public void LoadState(StateReader reader, int version)
    {
        if (version != SectionVersion) throw new StateFormatException($"section {SectionId}: version {version} is not supported (expected {SectionVersion})");
        int length = reader.ReadInt32InRange(1, MaxRecord, "record length");
        var record = new byte[length];
        reader.ReadBytes(record);
        using var r = new BinaryReader(new MemoryStream(record, writable: false));
        try { cpu.LoadState(r); }
        catch (InvalidDataException e) { throw new StateFormatException($"section {SectionId}: {e.Message}"); }
        if (r.BaseStream.Position != length) throw new StateFormatException($"section {SectionId}: {length - r.BaseStream.Position} bytes after the CPU record");
    }
}
