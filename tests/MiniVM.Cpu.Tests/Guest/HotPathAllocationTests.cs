using MiniVM.Cpu.Tests.Support;
using static Iced.Intel.AssemblerRegisters;

namespace MiniVM.Cpu.Tests.Guest;

public sealed class HotPathAllocationTests
{
    [Fact]
    public void RunningCachedCodeAllocatesNothing()
    {
        var m = new TestMachine();
        m.LoadBootTo32(a =>
        {
            var top = a.CreateLabel();
            var func = a.CreateLabel();
            a.mov(ecx, 1_000_000);
            a.Label(ref top);
            a.add(eax, ecx);
            a.mov(__[esi + 0x100000], eax);
            a.movzx(edx, __byte_ptr[esi + 0x100001]);
            a.add(esi, 4);
            a.and(esi, 0xFFF);
            a.shl(edx, 3);
            a.call(func);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
            a.Label(ref func);
            a.push(ecx);
            a.xor(ecx, ecx);
            a.rep.stosb();                 // ECX = 0: no iterations, still the string path
            a.imul(ebx, edx, 3);
            a.pop(ecx);
            a.ret();
        });
        m.Cpu.Run(50_000); // boot, decode every instruction once, warm the JIT

        // The runtime itself may allocate on this thread while it tiers the interpreter's
        // methods up (OSR and tier-1 installs happen late when the machine is loaded), so
        // look for a steady window: a per-instruction allocation would show in every one.
        var seen = new List<long>();
        for (int window = 0; window < 20; window++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            int executed = m.Cpu.Run(500_000);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.Equal(500_000, executed);
            Assert.False(m.Cpu.Halted);
            seen.Add(allocated);
            if (allocated == 0) return;
            Thread.Sleep(100); // let the background tier-1 compiles finish
        }
        Assert.Fail($"every window of 500,000 cached instructions allocated: {string.Join(", ", seen)} bytes");
    }
}
