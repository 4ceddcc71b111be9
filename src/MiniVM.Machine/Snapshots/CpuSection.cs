using MiniVM.Cpu;
using MiniVM.Devices;

namespace MiniVM.Machine.Snapshots;

/// <summary>
/// The CPU (registers, segment caches, control registers, FPU) as the VM-state section "cpu": the section's body is
/// the CPU's record itself (X86Cpu.SaveState), so the stream's length and version are its only header.
/// Version 2: the record lost its own magic, version and length prefix (version 1 had all three inside the section)
/// and gained the NMI latch and the blocking-until-IRET state.
/// </summary>
public sealed class CpuSection(X86Cpu cpu) : ISnapshottable
{
    public string SectionId => "cpu";
    public int SectionVersion => 2;

    public void SaveState(StateWriter writer) => writer.WriteRecord(cpu.SaveState);

    public void LoadState(StateReader reader, int version)
    {
        if (version != SectionVersion) throw new StateFormatException($"section {SectionId}: version {version} is not supported (expected {SectionVersion})");
        try { reader.ReadRecord(cpu.LoadState); }
        catch (InvalidDataException e) { throw new StateFormatException($"section {SectionId}: {e.Message}"); }
    }
}
