using Iced.Intel;
using MiniVM.Cpu.Tests.Support;
using static Iced.Intel.AssemblerRegisters;
using static MiniVM.Cpu.Tests.Support.EngineComparison;

namespace MiniVM.Cpu.Tests.Guest;

/// <summary>
/// Blocks compiled on a worker thread (<see cref="X86Cpu.JitCompileInBackground"/>): until a block is ready the
/// interpreter runs its instructions, so whenever it becomes ready the run stays the interpreter's, instruction for
/// instruction.
/// </summary>
public sealed class BackgroundCompilationTests
{
    private static void Program(Assembler a)
    {
        var top = a.CreateLabel();
        var skip = a.CreateLabel();
        a.mov(ecx, 100_000);
        a.mov(esi, 0x10000);
        a.Label(ref top);
        a.add(eax, ecx);
        a.imul(ebx, eax, 7);
        a.test(ecx, 3);
        a.jnz(skip);
        a.mov(__dword_ptr[esi + ecx], ebx);
        a.call(0x3000);
        a.Label(ref skip);
        a.dec(ecx);
        a.jnz(top);
        a.hlt();
    }

    private static void Load(TestMachine m)
    {
        m.LoadBootTo32(Program);
        m.Load(32, 0x3000, a => { a.xor(edx, ebx); a.rol(edx, 5); a.ret(); });
    }

    [Fact]
    public void BlocksBecomingReadyAtAnyMomentLeaveTheRunTheInterpreters()
    {
        var interp = new TestMachine();
        var jit = new TestMachine();
        jit.Cpu.Engine = CpuEngine.Jit;
        jit.Cpu.JitThreshold = 1;
        jit.Cpu.JitCompileInBackground = true;
        Load(interp);
        Load(jit);
        var rng = new Random(17);
        int waits = 0;
        while (!interp.Cpu.Halted)
        {
            int n = rng.Next(1, 300);
            Assert.Equal(interp.Cpu.Run(n), jit.Cpu.Run(n));
            Assert.Equal(Snapshot(interp), Snapshot(jit));
            // Give the worker time to finish while the guest still has most of its loop to run.
            if (jit.Cpu.JitStatistics.InstructionsInBlocks == 0 && waits++ < 3000) Thread.Sleep(5);
        }
        Assert.True(jit.Cpu.Halted);
        var stats = jit.Cpu.JitStatistics;
        Assert.True(stats.InstructionsInBlocks > 100_000, stats.ToString());
        Assert.True(stats.ChainedRuns > 0, stats.ToString());
    }
}
