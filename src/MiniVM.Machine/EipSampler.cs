using System.Globalization;
using MiniVM.Cpu;

namespace MiniVM.Machine;

/// <summary>
/// `minivm run --eip-samples FILE`: where the guest spends its instructions. Every <see cref="Interval"/> executed
/// instructions the runner ends its slice and this records one line: instruction count, virtual time (ns), CPL and
/// the linear address of the next instruction (CS base + EIP). Sampling by instruction count, not by host time,
/// makes the profile a property of the guest (the same run gives the same file) and costs nothing between samples;
/// `bench/eip-profile.py` maps the addresses to a kernel's System.map and prints a histogram per function.
/// Idle time (HLT) executes no instructions and so takes no samples; a halted CPU that is sampled shows up as the
/// instruction after its HLT.
/// </summary>
public sealed class EipSampler : IDisposable
{
    private readonly TextWriter _output;
    private long _next;

    public EipSampler(TextWriter output, long interval)
    {
        if (interval < 1) throw new ArgumentOutOfRangeException(nameof(interval), interval, "the sample interval is at least one instruction");
        _output = output;
        Interval = interval;
        _next = interval;
        _output.WriteLine($"# minivm eip samples: every {interval} instructions; columns: instructions virtual-ns cpl linear-eip(hex)");
    }

    /// <summary>Executed instructions between two samples.</summary>
    public long Interval { get; }

    /// <summary>Samples written so far.</summary>
    public long Count { get; private set; }

    /// <summary>How many instructions the next slice may run so that it ends on the next sample (at least 1).</summary>
    public int SliceLimit(long instructions, int cap) => (int)Math.Clamp(_next - instructions, 1, cap);

    /// <summary>After a slice: records a sample when the run has reached the next sample point.</summary>
    public void AfterSlice(long instructions, long virtualNs, X86Cpu cpu)
    {
        if (instructions < _next) return;
        uint linear = cpu.GetSegment(SegmentRegister.Cs).Base + cpu.Eip;
        _output.Write(instructions.ToString(CultureInfo.InvariantCulture));
        _output.Write(' ');
        _output.Write(virtualNs.ToString(CultureInfo.InvariantCulture));
        _output.Write(' ');
        _output.Write(cpu.CurrentPrivilegeLevel.ToString(CultureInfo.InvariantCulture));
        _output.Write(' ');
        _output.WriteLine(linear.ToString("x8", CultureInfo.InvariantCulture));
        Count++;
        // The next point on the interval grid (a slice never runs past one: SliceLimit ends it there).
        _next = instructions - instructions % Interval + Interval;
    }

    public void Dispose() => _output.Dispose();
}
