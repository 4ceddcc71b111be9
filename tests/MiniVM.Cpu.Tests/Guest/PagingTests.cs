using MiniVM.Cpu.Tests.Support;
using static Iced.Intel.AssemblerRegisters;

namespace MiniVM.Cpu.Tests.Guest;

public sealed class PagingTests
{
    private const uint PageDirectory = 0x10000, PageTable = 0x11000;

    /// <summary>Identity-maps 0–4 MiB with 4 KiB pages (supervisor, writable); tests then punch holes.</summary>
    private static TestMachine WithPaging(Action<Iced.Intel.Assembler> body, uint cr0Extra = 0)
    {
        var m = new TestMachine();
        m.WriteU32(PageDirectory, PageTable | 0x3);
        for (uint i = 0; i < 1024; i++) m.WriteU32(PageTable + i * 4, (i << 12) | 0x3);
        m.LoadBootTo32(a =>
        {
            a.mov(eax, PageDirectory);
            a.mov(cr3, eax);
            a.mov(eax, cr0);
            a.or(eax, unchecked((int)(0x80000000u | cr0Extra)));
            a.mov(cr0, eax);
            body(a);
        });
        // #PF handler: store the error code and CR2, then halt.
        m.SetIdt(14, TestMachine.Gate(TestMachine.Code32, 0x2400, 0xE, 0));
        m.Load(32, 0x2400, a =>
        {
            a.pop(eax);
            a.mov(__[0x3000], eax);
            a.mov(eax, cr2);
            a.mov(__[0x3004], eax);
            a.pop(eax);
            a.mov(__[0x3008], eax); // faulting EIP
            a.hlt();
        });
        return m;
    }

    [Fact]
    public void WriteToNotPresentPageFaultsWithCr2AndErrorCode()
    {
        var m = WithPaging(a =>
        {
            a.mov(__dword_ptr[0x300123], 1);
            a.hlt();
        });
        m.WriteU32(PageTable + 0x300 * 4, 0); // page 0x300000 not present
        m.RunToHalt();
        Assert.Equal(14, m.Cpu.LastExceptionVector);
        Assert.Equal(0x2u, m.ReadU32(0x3000));            // not present, write, supervisor
        Assert.Equal(0x300123u, m.ReadU32(0x3004));
        Assert.Equal(0x300123u, m.Cpu.Cr2);
    }

    [Fact]
    public void WriteProtectStopsSupervisorWritesToReadOnlyPages()
    {
        var m = WithPaging(a =>
        {
            a.mov(eax, __[0x301000]);                  // reading is fine
            a.mov(__[0x3010], eax);
            a.mov(__dword_ptr[0x301004], 7);           // writing is not, with CR0.WP
            a.hlt();
        }, cr0Extra: 0x10000);
        m.WriteU32(PageTable + 0x301 * 4, 0x301000 | 0x1); // present, read-only
        m.WriteU32(0x301000, 0x5555AAAA);
        m.RunToHalt();
        Assert.Equal(0x5555AAAAu, m.ReadU32(0x3010));
        Assert.Equal(0x3u, m.ReadU32(0x3000));            // protection violation on a write
        Assert.Equal(0x301004u, m.ReadU32(0x3004));
        Assert.Equal(0u, m.ReadU32(0x301004));
    }

    [Fact]
    public void AccessedAndDirtyBitsAreSetByTheWalk()
    {
        var m = WithPaging(a =>
        {
            a.mov(eax, __[0x302000]);
            a.mov(__dword_ptr[0x303000], 1);
            a.hlt();
        });
        m.RunToHalt();
        uint readPte = m.ReadU32(PageTable + 0x302 * 4);
        uint writtenPte = m.ReadU32(PageTable + 0x303 * 4);
        Assert.Equal(0x20u, readPte & 0x60);   // accessed, not dirty
        Assert.Equal(0x60u, writtenPte & 0x60); // accessed and dirty
        Assert.Equal(0x20u, m.ReadU32(PageDirectory) & 0x20);
    }

    [Fact]
    public void FourMegabytePagesTranslateWithPse()
    {
        var m = new TestMachine(16 << 20);
        // PDE 1 (linear 4–8 MiB) maps the physical 8–12 MiB with one PSE page; PDE 0 identity-maps 0–4 MiB.
        m.WriteU32(PageDirectory, 0x00000083);
        m.WriteU32(PageDirectory + 4, 0x00800083);
        m.LoadBootTo32(a =>
        {
            a.mov(eax, cr4);
            a.or(eax, 0x10);
            a.mov(cr4, eax);
            a.mov(eax, PageDirectory);
            a.mov(cr3, eax);
            a.mov(eax, cr0);
            a.or(eax, unchecked((int)0x80000000u));
            a.mov(cr0, eax);
            a.mov(__dword_ptr[0x400010], 0x600DF00D);
            a.hlt();
        });
        m.RunToHalt();
        Assert.Equal(0x600DF00Du, m.ReadU32(0x800010));
        Assert.Equal(0x40u, m.ReadU32(PageDirectory + 4) & 0x40); // dirty set on the 4 MiB PDE
    }

    [Fact]
    public void InvlpgMakesAChangedMappingVisible()
    {
        var m = WithPaging(a =>
        {
            a.mov(eax, __[0x304000]);            // caches the translation
            a.mov(__[0x3020], eax);
            a.mov(__dword_ptr[PageTable + 0x304 * 4], 0x305000 | 3); // remap 0x304000 -> 0x305000
            a.mov(eax, __[0x304000]);            // stale TLB entry: still the old page
            a.mov(__[0x3024], eax);
            a.invlpg(__[0x304000]);
            a.mov(eax, __[0x304000]);
            a.mov(__[0x3028], eax);
            a.hlt();
        });
        m.WriteU32(0x304000, 0x1111);
        m.WriteU32(0x305000, 0x2222);
        m.RunToHalt();
        Assert.Equal(0x1111u, m.ReadU32(0x3020));
        Assert.Equal(0x1111u, m.ReadU32(0x3024));
        Assert.Equal(0x2222u, m.ReadU32(0x3028));
    }
}
