using System.Globalization;
using System.Text;
using MiniVM.Cpu;

namespace MiniVM.Machine.Monitor;

/// <summary>
/// `info registers` in the layout of QEMU's qemu-system-i386 (target/i386/cpu-dump.c, x86_cpu_dump_state with
/// CPU_DUMP_FPU), so a dump can be read, diffed and scripted the same way. The P6 model has no SSE and no EFER:
/// MXCSR, EFER and the XMM lines show those registers' reset values, as QEMU does for a CPU model without them.
/// </summary>
public static class RegisterDump
{
    private static readonly string[] SegmentNames = ["ES", "CS", "SS", "DS", "FS", "GS"];
    private static readonly SegmentRegister[] SegmentOrder =
        [SegmentRegister.Es, SegmentRegister.Cs, SegmentRegister.Ss, SegmentRegister.Ds, SegmentRegister.Fs, SegmentRegister.Gs];

    private static readonly string[] SystemTypes =
    [
        "Reserved", "TSS16-avl", "LDT", "TSS16-busy", "CallGate16", "TaskGate", "IntGate16", "TrapGate16",
        "Reserved", "TSS32-avl", "Reserved", "TSS32-busy", "CallGate32", "Reserved", "IntGate32", "TrapGate32",
    ];

    public static string Format(X86Cpu cpu)
    {
        var sb = new StringBuilder();
        void Line(string text) => sb.Append(text).Append('\n');
        uint f = cpu.Eflags;
        Line(I($"EAX={cpu.Eax:x8} EBX={cpu.Ebx:x8} ECX={cpu.Ecx:x8} EDX={cpu.Edx:x8}"));
        Line(I($"ESI={cpu.Esi:x8} EDI={cpu.Edi:x8} EBP={cpu.Ebp:x8} ESP={cpu.Esp:x8}"));
        string flags = string.Concat(Flag(f, 10, 'D'), Flag(f, 11, 'O'), Flag(f, 7, 'S'), Flag(f, 6, 'Z'), Flag(f, 4, 'A'), Flag(f, 2, 'P'), Flag(f, 0, 'C'));
        Line(I($"EIP={cpu.Eip:x8} EFL={f:x8} [{flags}] CPL={cpu.CurrentPrivilegeLevel} II={(cpu.InterruptShadow ? 1 : 0)} A20={(cpu.A20Enabled ? 1 : 0)} SMM=0 HLT={(cpu.Halted ? 1 : 0)}"));
        for (int i = 0; i < SegmentOrder.Length; i++) Line(Segment(cpu, SegmentNames[i], cpu.GetSegment(SegmentOrder[i])));
        Line(Segment(cpu, "LDT", cpu.LdtRegister));
        Line(Segment(cpu, "TR", cpu.TaskRegister));
        Line(I($"GDT=     {cpu.Gdtr.Base:x8} {cpu.Gdtr.Limit:x8}"));
        Line(I($"IDT=     {cpu.Idtr.Base:x8} {cpu.Idtr.Limit:x8}"));
        Line(I($"CR0={cpu.Cr0:x8} CR2={cpu.Cr2:x8} CR3={cpu.Cr3:x8} CR4={cpu.Cr4:x8}"));
        Line(I($"DR0={cpu.GetDebugRegister(0):x8} DR1={cpu.GetDebugRegister(1):x8} DR2={cpu.GetDebugRegister(2):x8} DR3={cpu.GetDebugRegister(3):x8} "));
        Line(I($"DR6={cpu.GetDebugRegister(6):x8} DR7={cpu.GetDebugRegister(7):x8}"));
        Line("EFER=0000000000000000");
        var fpu = cpu.Fpu;
        int abridgedTags = 0;
        for (int physical = 0; physical < 8; physical++)
            if (!fpu.IsStackEmpty((physical - fpu.Top) & 7)) abridgedTags |= 1 << physical;
        Line(I($"FCW={fpu.ControlWord:x4} FSW={fpu.StatusWord:x4} [ST={fpu.Top}] FTW={abridgedTags:x2} MXCSR=00001f80"));
        for (int physical = 0; physical < 8; physical++)
        {
            var r = fpu.GetPhysicalRegister(physical);
            sb.Append(I($"FPR{physical}={r.Significand:x16} {r.SignExponent:x4}")).Append((physical & 1) == 1 ? '\n' : ' ');
        }
        for (int i = 0; i < 8; i++)
            sb.Append(I($"XMM{i:d2}=0000000000000000 0000000000000000")).Append((i & 1) == 1 ? '\n' : ' ');
        return sb.ToString().TrimEnd('\n');
    }

    private static char Flag(uint eflags, int bit, char name) => (eflags & (1u << bit)) != 0 ? name : '-';

    /// <summary>cpu_x86_dump_seg_cache: selector, base, limit, descriptor flags; decoded in protected mode when present.</summary>
    private static string Segment(X86Cpu cpu, string name, SegmentCache s)
    {
        uint flags = (uint)s.Attributes << 8;
        string line = I($"{name,-3}={s.Selector:x4} {s.Base:x8} {s.Limit:x8} {flags:x8}");
        if (!cpu.ProtectedMode || !s.Present) return line;
        line += I($" DPL={s.Dpl} ");
        if (s.IsSystem) return line + SystemTypes[s.Type];
        int type = s.Type;
        if (s.IsCode)
            line += (s.Big ? "CS32" : "CS16") + $" [{((type & 4) != 0 ? 'C' : '-')}{((type & 2) != 0 ? 'R' : '-')}";
        else
            line += (s.Big ? "DS  " : "DS16") + $" [{((type & 4) != 0 ? 'E' : '-')}{((type & 2) != 0 ? 'W' : '-')}";
        return line + ((type & 1) != 0 ? "A]" : "-]");
    }

    private static string I(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
