using MiniVM.Cpu.Tests.Support;

namespace MiniVM.Cpu.Tests.Guest;

/// <summary>An instruction may be at most 15 bytes; a longer one (redundant prefixes) is #GP(0), not #UD (SDM vol. 2 §2.3.11).</summary>
public sealed class InstructionLengthTests
{
    [Theory]
    [InlineData(15, -1)]
    [InlineData(16, 13)]
    public void PrefixedNopOfLengthRunsOrRaisesGeneralProtection(int length, int expectedVector)
    {
        var m = new TestMachine();
        m.LoadBootTo32(a => a.jmp(0x3000));
        // Every vector lands on a HLT at 0x2F00 with the error code on the stack.
        for (int v = 0; v < 32; v++) m.SetIdt(v, TestMachine.Gate(TestMachine.Code32, 0x2F00, 0xE, 0));
        m.Load(0x2F00, [0xF4]);
        var code = new byte[length + 1];
        Array.Fill(code, (byte)0x66, 0, length - 1);
        code[length - 1] = 0x90; // NOP
        code[length] = 0xF4;     // HLT
        m.Load(0x3000, code);
        int errorCode = -1;
        m.Cpu.ExceptionRaised += (_, e) => errorCode = e;
        m.RunToHalt(1_000);
        Assert.Equal(expectedVector, m.Cpu.LastExceptionVector);
        if (expectedVector == -1) Assert.Equal(0x3000u + (uint)length + 1, m.Cpu.Eip);
        else
        {
            Assert.Equal(0, errorCode);
            Assert.Equal(0x3000u, m.ReadU32(0x80000 - 12)); // EIP in the frame (EFLAGS, CS, EIP, error code): the faulting instruction
        }
    }

    /// <summary>
    /// An undefined opcode (0F 04) padded with prefixes is #UD while the whole instruction fits in 15 bytes, and #GP
    /// only once it would need a 16th: the length limit is checked on the instruction's length, the opcode after.
    /// </summary>
    [Theory]
    [InlineData(2, 6)]
    [InlineData(15, 6)]
    [InlineData(16, 13)]
    public void PrefixedUndefinedOpcodeIsInvalidOpcodeUpTo15Bytes(int length, int expectedVector)
    {
        var m = new TestMachine();
        m.LoadBootTo32(a => a.jmp(0x3000));
        for (int v = 0; v < 32; v++) m.SetIdt(v, TestMachine.Gate(TestMachine.Code32, 0x2F00, 0xE, 0));
        m.Load(0x2F00, [0xF4]);
        var code = new byte[length + 1];
        Array.Fill(code, (byte)0x3E, 0, length - 2); // DS prefixes
        code[length - 2] = 0x0F;
        code[length - 1] = 0x04;                      // undefined
        code[length] = 0xF4;
        m.Load(0x3000, code);
        m.RunToHalt(1_000);
        Assert.Equal(expectedVector, m.Cpu.LastExceptionVector);
        Assert.Equal(0x3000u, m.ReadU32(0x80000 - 12)); // EIP in the frame: the faulting instruction
    }
}
