using MiniVM.Cpu.Tests.Support;
using static Iced.Intel.AssemblerRegisters;

namespace MiniVM.Cpu.Tests.Guest;

public sealed class PrivilegeTests
{
    private const uint Ring0Stack = 0x90000, Ring3Stack = 0x70000;

    /// <summary>Ring-0 prologue: load TR, then IRETD to ring-3 code at 0x2800.</summary>
    private static TestMachine WithRing3(Action<Iced.Intel.Assembler> ring3)
    {
        var m = new TestMachine();
        m.LoadBootTo32(a =>
        {
            a.mov(ax, TestMachine.Tss1Sel);
            a.ltr(ax);
            a.push(TestMachine.UserData);
            a.push(Ring3Stack);
            a.push(0x2);
            a.push(TestMachine.UserCode);
            a.push(0x2800);
            a.iretd();
        });
        m.WriteU32(TestMachine.Tss1 + 4, Ring0Stack);  // ESP0
        m.WriteU32(TestMachine.Tss1 + 8, TestMachine.Data32); // SS0
        m.Load(32, 0x2800, a =>
        {
            Ring3Prologue(a);
            ring3(a);
        });
        return m;
    }

    private static void Ring3Prologue(Iced.Intel.Assembler a)
    {
        a.mov(ax, TestMachine.UserData);
        a.mov(ds, ax);
        a.mov(es, ax);
    }

    /// <summary>
    /// JMP m16:32 through a call gate (SDM vol. 3 §5.8.6): the gate's target RPL is ignored and CS gets RPL = CPL;
    /// a target whose DPL is not CPL is #GP(target selector) — a JMP cannot change privilege.
    /// </summary>
    [Theory]
    [InlineData((ushort)(TestMachine.Code32 | 3), -1)]
    [InlineData(TestMachine.UserCode, TestMachine.UserCode & 0xFFFC)]
    public void JumpThroughCallGateKeepsPrivilege(ushort target, int gpError)
    {
        var m = new TestMachine();
        m.LoadBootTo32(a =>
        {
            a.jmp(__fword_ptr[0x4E0]);
            a.hlt();
        });
        m.WriteU32(0x4E0, 0x12345678);                 // offset: ignored for a gate
        m.WriteU16(0x4E4, (ushort)(TestMachine.CallGate & 0xFFFC));
        m.WriteDescriptor(TestMachine.GdtBase, 7, TestMachine.Gate(target, 0x2A00, 0xC, 0));
        m.Load(32, 0x2A00, a =>
        {
            a.mov(eax, cs);
            a.mov(__[0x3000], eax);
            a.mov(__[0x3004], esp);
            a.hlt();
        });
        m.SetIdt(13, TestMachine.Gate(TestMachine.Code32, 0x2B00, 0xE, 0));
        m.Load(32, 0x2B00, a =>
        {
            a.pop(__dword_ptr[0x3008]);
            a.hlt();
        });
        m.WriteU32(0x3008, 0xFFFFFFFF);
        m.RunToHalt();
        Assert.Equal((uint)gpError, m.ReadU32(0x3008));
        if (gpError < 0)
        {
            Assert.Equal(TestMachine.Code32, m.ReadU32(0x3000) & 0xFFFF);
            Assert.Equal(0x80000u, m.ReadU32(0x3004));  // nothing pushed
        }
        else Assert.Equal(0u, m.ReadU32(0x3000));
    }

    [Fact]
    public void CallGateRaisesPrivilegeAndRetfReturnsToRing3()
    {
        var m = WithRing3(a =>
        {
            a.call(TestMachine.CallGate, 0);
            a.mov(eax, cs);
            a.mov(__[0x3010], eax);
            a.mov(__[0x3014], esp);
            a.@int(0x80); // gate DPL 3: allowed from ring 3
        });
        m.WriteDescriptor(TestMachine.GdtBase, 7, TestMachine.Gate(TestMachine.Code32, 0x2A00, 0xC, 3));
        m.Load(32, 0x2A00, a =>
        {
            a.mov(eax, cs);
            a.mov(__[0x3000], eax);
            a.mov(__[0x3004], esp);
            a.mov(eax, __[esp + 4]);  // caller CS
            a.mov(__[0x3008], eax);
            a.retf();
        });
        m.SetIdt(0x80, TestMachine.Gate(TestMachine.Code32, 0x2B00, 0xE, 3));
        m.Load(32, 0x2B00, a =>
        {
            a.mov(eax, __[esp + 4]);
            a.mov(__[0x3018], eax);
            a.hlt();
        });
        m.RunToHalt();
        Assert.Equal(TestMachine.Code32, m.ReadU32(0x3000) & 0xFFFF);          // ran at ring 0
        Assert.Equal(Ring0Stack - 16, m.ReadU32(0x3004));                        // SS, ESP, CS, EIP on the TSS stack
        Assert.Equal(TestMachine.UserCode, m.ReadU32(0x3008));
        Assert.Equal(TestMachine.UserCode, m.ReadU32(0x3010) & 0xFFFF);         // back in ring 3
        Assert.Equal(Ring3Stack, m.ReadU32(0x3014));
        Assert.Equal(TestMachine.UserCode, m.ReadU32(0x3018));                  // INT 0x80 frame's CS
        Assert.Equal(0, m.Cpu.CurrentPrivilegeLevel);
    }

    [Fact]
    public void PrivilegedInstructionInRing3IsGeneralProtectionFault()
    {
        var m = WithRing3(a => a.hlt());
        m.SetIdt(13, TestMachine.Gate(TestMachine.Code32, 0x2B00, 0xE, 0));
        m.Load(32, 0x2B00, a =>
        {
            a.pop(eax);
            a.mov(__[0x3000], eax);
            a.pop(eax);
            a.mov(__[0x3004], eax);
            a.hlt();
        });
        m.RunToHalt();
        Assert.Equal(13, m.Cpu.LastExceptionVector);
        Assert.Equal(0u, m.ReadU32(0x3000));
        uint hltAt = 0x2800 + (uint)TestMachine.Assemble(32, 0x2800, Ring3Prologue).Length;
        Assert.Equal(hltAt, m.ReadU32(0x3004)); // a fault: the saved EIP is the HLT itself
    }

    [Fact]
    public void IntToGateWithLowerDplFromRing3IsGpWithIdtErrorCode()
    {
        var m = WithRing3(a => a.@int(0x40));
        m.SetIdt(0x40, TestMachine.Gate(TestMachine.Code32, 0x2B00, 0xE, 0));
        m.SetIdt(13, TestMachine.Gate(TestMachine.Code32, 0x2C00, 0xE, 0));
        m.Load(32, 0x2C00, a =>
        {
            a.pop(eax);
            a.mov(__[0x3000], eax);
            a.hlt();
        });
        m.RunToHalt();
        Assert.Equal(0x40u * 8 + 2, m.ReadU32(0x3000));
    }
}
