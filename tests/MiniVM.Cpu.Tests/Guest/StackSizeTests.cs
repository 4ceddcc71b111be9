using MiniVM.Cpu.Tests.Support;
using static Iced.Intel.AssemblerRegisters;

namespace MiniVM.Cpu.Tests.Guest;

/// <summary>
/// Instructions whose result depends on both the operand size and the stack (or address) size, from the SDM's
/// pseudocode (vol. 2 "POP", "ENTER", "BOUND"): issue 15's defects 1, 3, 4 and 5.
/// </summary>
public sealed class StackSizeTests
{
    /// <summary>
    /// POP SS adjusts the stack pointer by the size of the stack it popped from — the old SS — not the one it loaded:
    /// from a 16-bit stack only SP wraps (ESP's upper half stays), from a 32-bit stack all of ESP moves.
    /// </summary>
    [Theory]
    [InlineData(false, 4, 0x2FFFCu, 0xFFFCu, TestMachine.Data32, 0x20000u)]   // o32 pop ss, 16-bit stack -> 32-bit SS
    [InlineData(false, 2, 0x2FFFEu, 0xFFFEu, TestMachine.Data32, 0x20000u)]   // o16 pop ss, 16-bit stack -> 32-bit SS
    [InlineData(true, 4, 0x1FFFCu, 0x1FFFCu, TestMachine.Data16, 0x20000u)]   // o32 pop ss, 32-bit stack -> 16-bit SS
    [InlineData(true, 2, 0x1FFFEu, 0x1FFFEu, TestMachine.Data16, 0x20000u)]   // o16 pop ss, 32-bit stack -> 16-bit SS
    public void PopSsAdjustsTheStackPointerWithTheOldStackSize(bool fromBig, int operandSize, uint initialEsp, uint selectorAt, ushort newSs, uint expectedEsp)
    {
        var m = new TestMachine();
        m.LoadBootTo32(a =>
        {
            a.mov(ax, fromBig ? TestMachine.Data32 : TestMachine.Data16);
            a.mov(ss, ax);
            a.mov(esp, (int)initialEsp);
            if (operandSize == 2) a.db(0x66);
            a.db(0x17);                       // POP SS
            a.mov(__[0x3000], esp);
            a.mov(eax, ss);
            a.mov(__[0x3004], eax);
            a.hlt();
        });
        m.WriteU32(selectorAt, newSs);
        m.RunToHalt();
        Assert.Equal(expectedEsp, m.ReadU32(0x3000));
        Assert.Equal(newSs, (ushort)m.ReadU32(0x3004));
    }

    /// <summary>
    /// BOUND reads the upper bound at EA + operand size, wrapping with the address size: with 32-bit addressing a
    /// 16-bit bound pair straddling 64 KiB is read from 0x20000, not 0x00000; with 16-bit addressing it wraps to 0.
    /// </summary>
    [Theory]
    [InlineData(new byte[] { 0x66, 0x62, 0x03 }, 0x1FFFEu, 0x20000u, 2)]           // bound ax, [ebx]
    [InlineData(new byte[] { 0x62, 0x03 }, 0x1FFFCu, 0x20000u, 4)]                 // bound eax, [ebx]
    [InlineData(new byte[] { 0x67, 0x66, 0x62, 0x07 }, 0xFFFEu, 0x0u, 2)]          // bound ax, [bx]
    [InlineData(new byte[] { 0x67, 0x62, 0x07 }, 0xFFFCu, 0x0u, 4)]                // bound eax, [bx]
    public void BoundReadsTheUpperBoundWithTheAddressSizesWrap(byte[] bound, uint lowerAt, uint upperAt, int size)
    {
        var m = new TestMachine();
        m.LoadBootTo32(a =>
        {
            a.mov(ebx, (int)lowerAt);
            a.mov(eax, 15);
            a.db(bound);
            a.mov(__dword_ptr[0x3000], 0xAA);
            a.hlt();
        });
        m.SetIdt(5, TestMachine.Gate(TestMachine.Code32, 0x2B00, 0xE, 0));
        m.Load(32, 0x2B00, a =>
        {
            a.mov(__dword_ptr[0x3000], 0xBB);
            a.hlt();
        });
        // Bounds 10..20 for an index of 15; the wrong upper-bound location holds 0 (fresh RAM, or zero written).
        if (size == 2) { m.WriteU16(lowerAt, 10); m.WriteU16(upperAt, 20); }
        else { m.WriteU32(lowerAt, 10); m.WriteU32(upperAt, 20); }
        m.RunToHalt();
        Assert.Equal(0xAAu, m.ReadU32(0x3000));
    }

    /// <summary>
    /// ENTER's frame pointer is ESP for a 32-bit operand size and SP for a 16-bit one, whatever the stack size: a
    /// 32-bit ENTER on a 16-bit stack keeps ESP's upper half in EBP (0x0001FFFC), a 16-bit ENTER on a 32-bit stack
    /// writes only BP.
    /// </summary>
    [Theory]
    [InlineData(false, 4, 0x10000u, 0x0001FFFCu, 0x0001FFF4u)]
    [InlineData(true, 2, 0x20002u, 0xABCD0000u, 0x0001FFF8u)]
    public void EnterFramePointerFollowsTheOperandSize(bool bigStack, int operandSize, uint initialEsp, uint expectedEbp, uint expectedEsp)
    {
        var m = new TestMachine();
        m.LoadBootTo32(a =>
        {
            a.mov(ax, bigStack ? TestMachine.Data32 : TestMachine.Data16);
            a.mov(ss, ax);
            a.mov(esp, (int)initialEsp);
            a.mov(ebp, unchecked((int)0xABCD1234));
            if (operandSize == 2) a.db(0x66);
            a.db(0xC8, 0x08, 0x00, 0x00);     // ENTER 8, 0
            a.mov(__[0x3000], ebp);
            a.mov(__[0x3004], esp);
            a.hlt();
        });
        m.RunToHalt();
        Assert.Equal(expectedEbp, m.ReadU32(0x3000));
        Assert.Equal(expectedEsp, m.ReadU32(0x3004));
    }

    /// <summary>
    /// ENTER checks that it may write at its final stack pointer: with CR0.WP set and that page read-only the
    /// instruction faults (#PF, present + write, CR2 = the final ESP) before EBP or ESP change.
    /// </summary>
    [Theory]
    [InlineData(4, 0x7DFFCu)]
    [InlineData(2, 0x7DFFEu)]
    public void EnterFaultsWhenItsFinalStackPointerIsNotWritable(int operandSize, uint finalEsp)
    {
        const uint directory = 0x10000, table = 0x11000;
        var m = new TestMachine();
        m.WriteU32(directory, table | 0x3);
        for (uint i = 0; i < 1024; i++) m.WriteU32(table + i * 4, (i << 12) | 0x3);
        m.WriteU32(table + 0x7D * 4, (0x7Du << 12) | 0x1);   // page 0x7D000: present, read-only
        m.LoadBootTo32(a =>
        {
            a.mov(eax, directory);
            a.mov(cr3, eax);
            a.mov(eax, cr0);
            a.or(eax, unchecked((int)0x8001_0000u));          // PG, WP
            a.mov(cr0, eax);
            a.mov(ebp, 0x1234);
            a.mov(esp, 0x80000);
            if (operandSize == 2) a.db(0x66);
            a.db(0xC8, 0x00, 0x20, 0x00);                     // ENTER 0x2000, 0
            a.mov(__dword_ptr[0x3010], 0xEE);                 // not reached
            a.hlt();
        });
        m.SetIdt(14, TestMachine.Gate(TestMachine.Code32, 0x2400, 0xE, 0));
        m.Load(32, 0x2400, a =>
        {
            a.pop(eax);
            a.mov(__[0x3000], eax);
            a.mov(eax, cr2);
            a.mov(__[0x3004], eax);
            a.mov(__[0x3008], ebp);
            a.hlt();
        });
        m.RunToHalt();
        Assert.Equal(14, m.Cpu.LastExceptionVector);
        Assert.Equal(0x3u, m.ReadU32(0x3000));                // present, write, supervisor
        Assert.Equal(finalEsp, m.ReadU32(0x3004));
        Assert.Equal(0x1234u, m.ReadU32(0x3008));             // EBP untouched
        Assert.Equal(0u, m.ReadU32(0x3010));
    }
}
