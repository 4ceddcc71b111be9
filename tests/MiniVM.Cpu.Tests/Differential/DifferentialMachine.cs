using Iced.Intel;
using MiniVM.Cpu.Tests.Support;
using static Iced.Intel.AssemblerRegisters;
using static MiniVM.Cpu.Tests.Differential.GuestLayout;

namespace MiniVM.Cpu.Tests.Differential;

/// <summary>
/// One CPU under one engine, set up for <see cref="RandomProgram"/>s: descriptor tables, exception handlers that log
/// each exception (vector, error code, EIP, CS, EFLAGS, CR2) and resume where the program said, page tables, and a
/// run loop that calls <see cref="X86Cpu.Run"/> with a schedule of budgets and records what every call returned.
/// A program's code is written once and then run several times from the same initial state, so code that tiers up
/// after a few executions is exercised warm as well as cold.
/// </summary>
public sealed class DifferentialMachine
{
    /// <summary>Instructions a run may take before the harness stops it (programs normally halt far earlier).</summary>
    public const int InstructionCap = 60_000;

    private readonly TestMachine _m = new();
    private readonly List<string> _exceptions = [];
    private readonly List<int> _vectors = [];
    private RandomProgram? _loaded;

    public DifferentialMachine(string engine)
    {
        Engine = engine;
        _m.Cpu.Use(engine);
        _m.Cpu.ExceptionRaised += (v, e) =>
        {
            _vectors.Add(v);
            if (_exceptions.Count < 200)
                _exceptions.Add($"#{v} err {e:X} at {_m.Cpu.GetSegment(SegmentRegister.Cs).Selector:X4}:{_m.Cpu.Eip:X8} after {_m.Cpu.InstructionCount}");
        };
    }

    public string Engine { get; }
    public X86Cpu Cpu => _m.Cpu;
    public PhysicalMemory Memory => _m.Memory;

    /// <summary>Runs <paramref name="program"/> from its initial state with the budgets <paramref name="schedule"/> gives.</summary>
    public Observation Run(RandomProgram program, RunSchedule schedule)
    {
        if (!ReferenceEquals(program, _loaded))
        {
            LoadCode(program);
            _loaded = program;
        }
        ResetData(program);
        _exceptions.Clear();
        _vectors.Clear();
        _m.Interrupts.Pending = null;
        var cpu = _m.Cpu;
        cpu.Reset();
        if (program.Mode == GuestMode.Real)
        {
            cpu.SetSegmentReal(SegmentRegister.Cs, RealCs);
            cpu.Eip = RealIp;
        }
        else
        {
            cpu.SetSegmentReal(SegmentRegister.Cs, 0);
            cpu.Eip = BootStub;
        }
        var obs = new Observation();
        ulong start = cpu.InstructionCount;
        long total = 0;
        for (int call = 0; total < InstructionCap && !cpu.Halted && !cpu.ShutdownPending; call++)
        {
            var (budget, interrupt) = schedule.Next();
            if (interrupt) _m.Interrupts.Pending ??= (byte)ExternalVector;
            int executed = cpu.Run(budget);
            total += executed;
            string at = $"Run #{call} (budget {budget}{(interrupt ? ", INTR" : "")})";
            obs.Add($"{at}: executed", executed);
            obs.Add($"{at}: EIP", cpu.Eip);
            obs.Add($"{at}: EFLAGS", cpu.Eflags);
            for (int r = 0; r < 8; r++) obs.Add($"{at}: {(GeneralRegister)r}", cpu.GetRegister((GeneralRegister)r));
            obs.Add($"{at}: instruction count", (long)cpu.InstructionCount);
        }
        obs.Add("halted", cpu.Halted ? 1 : 0);
        obs.Add("shutdown", cpu.ShutdownPending ? 1 : 0);
        obs.Add("EIP", cpu.Eip);
        obs.Add("EFLAGS", cpu.Eflags);
        for (int r = 0; r < 8; r++) obs.Add(((GeneralRegister)r).ToString(), cpu.GetRegister((GeneralRegister)r));
        for (int s = 0; s < 6; s++)
        {
            var c = cpu.GetSegment((SegmentRegister)s);
            obs.Add($"{(SegmentRegister)s}", $"{c.Selector:X4} base {c.Base:X8} limit {c.Limit:X8} attr {c.Attributes:X4}");
        }
        obs.Add("CR0", cpu.Cr0);
        obs.Add("CR2", cpu.Cr2);
        obs.Add("CPL", cpu.CurrentPrivilegeLevel);
        obs.Add("instruction count", (long)cpu.InstructionCount);
        obs.Add("exceptions", string.Join("; ", _exceptions));
        var memory = new byte[Compared];
        _m.Memory.Read(0, memory);
        obs.Memory = memory;
        obs.Halted = cpu.Halted;
        obs.Instructions = (long)(cpu.InstructionCount - start);
        obs.Vectors.AddRange(_vectors);
        return obs;
    }

    // ---- setup ----

    private void LoadCode(RandomProgram p)
    {
        // Clear everything the previous program may have left (code pages included: they are rewritten below).
        _m.Memory.Write(0, new byte[Compared]);
        if (p.Mode == GuestMode.Real) LoadRealModeHandlers();
        else LoadProtectedModeCode(p);
        _m.Memory.Write(p.LoadAddress, p.Code);
    }

    /// <summary>Everything a run can write, back to the program's initial contents (code pages are left alone).</summary>
    private void ResetData(RandomProgram p)
    {
        if (p.Mode == GuestMode.Real)
        {
            _m.Memory.Write((uint)RealCs * 16 + RealLog, new byte[0x1000]);
            _m.Memory.Write(0x20000, new byte[0x60000]);
        }
        else
        {
            _m.Memory.Write(Log32 & ~0xFFFu, new byte[0x1000]);
            _m.Memory.Write(Data, new byte[Compared - Data]);
            WriteTables(p);
        }
        foreach (var (at, bytes) in p.Data) _m.Memory.Write(at, bytes);
    }

    private void WriteTables(RandomProgram p)
    {
        _m.WriteDescriptor(GdtBase, 0, 0);
        _m.WriteDescriptor(GdtBase, 1, TestMachine.Descriptor(0, 0xFFFFF, 0x9A));
        _m.WriteDescriptor(GdtBase, 2, TestMachine.Descriptor(0, 0xFFFFF, 0x92));
        for (int i = 3; i < 7; i++) _m.WriteDescriptor(GdtBase, i, 0);
        _m.WriteDescriptor(GdtBase, CallGate >> 3, TestMachine.Gate(Code32, p.FarFunction, 0xC, 0));
        _m.WriteDescriptor(GdtBase, Code16 >> 3, TestMachine.Descriptor(0, 0xFFFF, 0x9A, 0));
        _m.WriteDescriptor(GdtBase, Data16 >> 3, TestMachine.Descriptor(0, 0xFFFF, 0x92, 0));
        _m.WriteDescriptor(GdtBase, LimitedData >> 3, TestMachine.Descriptor(0, Data + SafeData - 1, 0x92, 0x4));
        _m.WriteDescriptor(GdtBase, OffsetData >> 3, TestMachine.Descriptor(Data, 0xFFFFF, 0x92));
        _m.WriteDescriptor(GdtBase, ReadOnlyData >> 3, TestMachine.Descriptor(0, 0xFFFFF, 0x90));
        _m.WriteU16(0x4F0, GdtEntries * 8 - 1);
        _m.WriteU32(0x4F2, GdtBase);
        _m.WriteU16(0x4F8, 256 * 8 - 1);
        _m.WriteU32(0x4FA, IdtBase);
        for (int v = 0; v < 256; v++)
        {
            uint handler = v < 32 || v == SoftwareVector ? Handlers + (uint)v * 16 : v == ExternalVector ? ExternalHandler : 0;
            _m.SetIdt(v, handler == 0 ? 0 : TestMachine.Gate(Code32, handler, 0xE, 0));
        }
        if (p.Mode == GuestMode.Paged32)
        {
            _m.WriteU32(PageDirectory, PageTable | 0x3);
            for (uint i = 0; i < 1024; i++) _m.WriteU32(PageTable + i * 4, (i << 12) | 0x3);
            _m.WriteU32(PageTable + (ReadOnlyPage >> 12) * 4, ReadOnlyPage | 0x1);
            _m.WriteU32(PageTable + (MissingPage >> 12) * 4, 0);
        }
    }

    private void LoadProtectedModeCode(RandomProgram p)
    {
        bool paged = p.Mode == GuestMode.Paged32;
        _m.Load(16, BootStub, a =>
        {
            a.cli();
            a.lgdt(__[0x4F0]);
            a.lidt(__[0x4F8]);
            a.mov(eax, cr0);
            a.or(eax, 1);
            a.mov(cr0, eax);
            a.jmp(Code32, Setup32);
        });
        _m.Load(32, Setup32, a =>
        {
            a.mov(ax, Data32);
            a.mov(ds, ax);
            a.mov(es, ax);
            a.mov(ss, ax);
            a.mov(ax, LimitedData);
            a.mov(fs, ax);
            a.mov(ax, OffsetData);
            a.mov(gs, ax);
            a.mov(esp, StackTop);
            if (paged)
            {
                a.mov(eax, PageDirectory);
                a.mov(cr3, eax);
                a.mov(eax, cr0);
                a.or(eax, unchecked((int)0x80010000u)); // PG | WP
                a.mov(cr0, eax);
            }
            a.mov(eax, CodeBase);
            a.jmp(eax);
        });
        for (int v = 0; v < 256; v++)
        {
            if (v >= 32 && v != SoftwareVector) continue;
            int vector = v;
            _m.Load(32, Handlers + (uint)v * 16, a =>
            {
                if (!HasErrorCode(vector)) a.push(0);
                a.push(vector);
                a.jmp(CommonHandler);
            });
        }
        _m.Load(32, CommonHandler, a =>
        {
            a.push(ebp);
            a.mov(ebp, esp);
            a.push(eax);
            a.push(ebx);
            a.push(ds);
            a.mov(ax, Data32);
            a.mov(ds, ax);
            a.mov(ebx, __dword_ptr[Log32]);
            a.inc(__dword_ptr[Log32]);
            a.and(ebx, 63);
            a.shl(ebx, 5);
            a.add(ebx, Log32 + 16);
            for (int k = 0; k < 5; k++)
            {
                a.mov(eax, __dword_ptr[ebp + 4 + 4 * k]); // vector, error code, EIP, CS, EFLAGS
                a.mov(__dword_ptr[ebx + 4 * k], eax);
            }
            a.mov(eax, cr2);
            a.mov(__dword_ptr[ebx + 20], eax);
            a.mov(eax, __dword_ptr[Resume32]);
            a.mov(__dword_ptr[ebp + 12], eax);
            a.mov(__dword_ptr[ebp + 16], Code32);
            a.pop(ds);
            a.pop(ebx);
            a.pop(eax);
            a.pop(ebp);
            a.add(esp, 8);
            a.iretd();
        });
        _m.Load(32, ExternalHandler, a =>
        {
            a.push(eax);
            a.push(ds);
            a.mov(ax, Data32);
            a.mov(ds, ax);
            a.inc(__dword_ptr[Log32 + 4]);
            a.mov(eax, __dword_ptr[esp + 8]); // the EIP the interrupt arrived before
            a.mov(__dword_ptr[Log32 + 8], eax);
            a.pop(ds);
            a.pop(eax);
            a.iretd();
        });
        _m.Memory.Write(Code16Function, p.Code16);
    }

    private void LoadRealModeHandlers()
    {
        for (int v = 0; v < 256; v++)
        {
            uint handler = v < 32 || v == SoftwareVector ? Handlers + (uint)v * 16 : v == ExternalVector ? ExternalHandler : 0;
            _m.WriteU32((uint)v * 4, handler); // segment 0
            if (handler == 0 || v == ExternalVector) continue;
            int vector = v;
            _m.Load(16, handler, a =>
            {
                a.push(vector);
                a.jmp(CommonHandler);
            });
        }
        const ushort log = RealLog;
        _m.Load(16, CommonHandler, a =>
        {
            a.push(bp);
            a.mov(bp, sp);
            a.push(ax);
            a.push(bx);
            a.push(ds);
            a.mov(ax, RealCs);
            a.mov(ds, ax);
            a.mov(bx, __word_ptr[log]);
            a.inc(__word_ptr[log]);
            a.and(bx, 63);
            a.shl(bx, 4);
            a.add(bx, log + 16);
            for (int k = 0; k < 4; k++)
            {
                a.mov(ax, __word_ptr[bp + 2 + 2 * k]); // vector, IP, CS, FLAGS
                a.mov(__word_ptr[bx + 2 * k], ax);
            }
            a.mov(ax, __word_ptr[RealResume]);
            a.mov(__word_ptr[bp + 4], ax);
            a.mov(__word_ptr[bp + 6], RealCs);
            a.pop(ds);
            a.pop(bx);
            a.pop(ax);
            a.pop(bp);
            a.add(sp, 2);
            a.iret();
        });
        _m.Load(16, ExternalHandler, a =>
        {
            a.push(bp);
            a.mov(bp, sp);
            a.push(ax);
            a.push(ds);
            a.mov(ax, RealCs);
            a.mov(ds, ax);
            a.inc(__word_ptr[log + 2]);
            a.mov(ax, __word_ptr[bp + 2]); // the IP the interrupt arrived before
            a.mov(__word_ptr[log + 4], ax);
            a.pop(ds);
            a.pop(ax);
            a.pop(bp);
            a.iret();
        });
    }
}
