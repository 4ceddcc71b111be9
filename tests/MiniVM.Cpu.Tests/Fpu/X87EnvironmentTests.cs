using MiniVM.Cpu.Fpu;
using static Iced.Intel.AssemblerRegisters;
using static MiniVM.Cpu.Tests.Fpu.X87TestMachine;

namespace MiniVM.Cpu.Tests.Fpu;

/// <summary>FNSTENV/FLDENV/FNSAVE/FRSTOR images, byte by byte (SDM vol. 1 Figures 8-9 to 8-12).</summary>
public sealed class X87EnvironmentTests
{
    /// <summary>FNINIT, then 1.0 + 2.0 via "fadd qword [0x100]" at CS:EIP with the operand in DS.</summary>
    private static X87TestMachine Prepare(int bitness, bool protectedMode, ushort cs, uint eip, ushort ds)
    {
        var m = new X87TestMachine();
        m.Memory.IsProtectedMode = protectedMode;
        m.PutDouble(0x100, 2.0);
        m.Run(a => a.fld1(), bitness);
        m.Memory.InstructionCs = cs;
        m.Memory.InstructionEip = eip;
        m.Memory.OperandSelector = ds;
        m.Run(a => a.fadd(__qword_ptr[0x100]), bitness);
        m.Memory.InstructionEip = 0xDEAD; // FNSTENV itself is a control instruction and is not recorded
        return m;
    }

    [Fact]
    public void ProtectedMode32BitEnvironment()
    {
        X87TestMachine m = Prepare(32, protectedMode: true, cs: 0x0008, eip: 0x1234_5678, ds: 0x0010);
        m.Run(a => a.fnstenv(__[0x200]));
        Assert.Equal(Convert.FromHexString(
            "7F03FFFF" + "0038FFFF" + "FF3FFFFF" + "78563412" + "08000504" + "00010000" + "1000FFFF"),
            m.GetBytes(0x200, 28));
    }

    [Fact]
    public void RealMode32BitEnvironmentHoldsLinearAddresses()
    {
        X87TestMachine m = Prepare(32, protectedMode: false, cs: 0x1234, eip: 0x5678, ds: 0x2000);
        m.Run(a => a.fnstenv(__[0x200]));
        // FIP = 12340h + 5678h = 179B8h, FDP = 20000h + 100h = 20100h, FOP = 405h (DC /0, ModR/M 05h).
        Assert.Equal(Convert.FromHexString(
            "7F03FFFF" + "0038FFFF" + "FF3FFFFF" + "B879FFFF" + "05140000" + "0001FFFF" + "00200000"),
            m.GetBytes(0x200, 28));
    }

    [Fact]
    public void ProtectedMode16BitEnvironment()
    {
        X87TestMachine m = Prepare(16, protectedMode: true, cs: 0x1234, eip: 0x5678, ds: 0x2000);
        m.Run(a => a.fnstenv(__[0x200]), bitness: 16);
        Assert.Equal(Convert.FromHexString("7F03" + "0038" + "FF3F" + "7856" + "3412" + "0001" + "0020"), m.GetBytes(0x200, 14));
        Assert.Equal(0, m.Memory.Bytes[0x200 + 14]);
    }

    [Fact]
    public void RealMode16BitEnvironment()
    {
        X87TestMachine m = Prepare(16, protectedMode: false, cs: 0x1234, eip: 0x5678, ds: 0x2000);
        m.Run(a => a.fnstenv(__[0x200]), bitness: 16);
        // FOP = 406h: in 16-bit addressing [disp16] is ModR/M 06h.
        Assert.Equal(Convert.FromHexString("7F03" + "0038" + "FF3F" + "B879" + "0614" + "0001" + "0020"), m.GetBytes(0x200, 14));
    }

    [Fact]
    public void FnstenvMasksAllExceptionsAndClearsErrorSummary()
    {
        var m = new X87TestMachine();
        m.LoadControlWord(0x0360);
        m.Run(a =>
        {
            a.fldz();
            a.fld1();
            a.fdivrp(st1, st0);
        });
        Assert.True(m.Fpu.ErrorPending);
        m.Run(a => a.fnstenv(__[0x200]));
        Assert.Equal(0x0360, m.GetUInt16(0x200));
        Assert.Equal(0x037F, m.Fpu.ControlWord);
        Assert.False(m.Fpu.ErrorPending);
        Assert.True(m.Flag(ZE));
        // Reloading the image restores the unmasked state and with it the pending error.
        m.Run(a => a.fldenv(__[0x200]));
        Assert.Equal(0x0360, m.Fpu.ControlWord);
        Assert.True(m.Fpu.ErrorPending);
    }

    [Theory]
    [InlineData(32, true)]
    [InlineData(32, false)]
    [InlineData(16, true)]
    [InlineData(16, false)]
    public void FldenvThenFnstenvReproducesTheImage(int bitness, bool protectedMode)
    {
        X87TestMachine m = Prepare(bitness, protectedMode, cs: 0x1234, eip: 0x5678, ds: 0x2000);
        int length = bitness == 32 ? 28 : 14;
        m.Run(a => a.fnstenv(__[0x200]), bitness);
        byte[] image = m.GetBytes(0x200, length);
        m.Run(a => a.fninit(), bitness);
        m.Run(a => a.fldenv(__[0x200]), bitness);
        Assert.Equal(7, m.Fpu.Top);
        m.Run(a => a.fnstenv(__[0x300]), bitness);
        Assert.Equal(image, m.GetBytes(0x300, length));
    }

    [Fact]
    public void Fnsave108BytesHoldsRegistersInStackOrderThenInitializes()
    {
        X87TestMachine m = Prepare(32, protectedMode: true, cs: 0x0008, eip: 0x1000, ds: 0x0010);
        m.Run(a =>
        {
            a.fldpi();
            a.fnsave(__[0x200]);
        });
        byte[] image = m.GetBytes(0x200, 108);
        Assert.Equal(Convert.FromHexString("7F03FFFF" + "0030FFFF" + "FF0FFFFF"), image[..12]);
        Assert.Equal(Convert.FromHexString("35C26821A2DA0FC90040"), image[28..38]);  // ST0 = pi
        Assert.Equal(Convert.FromHexString("00000000000000C00040"), image[38..48]); // ST1 = 3
        Assert.Equal(0x037F, m.Fpu.ControlWord);
        Assert.Equal(0xFFFF, m.Fpu.TagWord);
        Assert.Equal(0, m.Fpu.Top);

        m.Run(a => a.frstor(__[0x200]));
        Assert.Equal(6, m.Fpu.Top);
        Assert.Equal(0x0FFF, m.Fpu.TagWord);
        Assert.Equal(new Float80(0xC90F_DAA2_2168_C235, 0x4000), m.Fpu.GetStack(0));
        m.Run(a => a.fnsave(__[0x300]));
        Assert.Equal(image, m.GetBytes(0x300, 108));
    }

    [Fact]
    public void Fnsave94BytesInRealMode()
    {
        X87TestMachine m = Prepare(16, protectedMode: false, cs: 0x1234, eip: 0x5678, ds: 0x2000);
        m.Run(a => a.fnsave(__[0x200]), bitness: 16);
        byte[] image = m.GetBytes(0x200, 94);
        Assert.Equal(Convert.FromHexString("7F03" + "0038" + "FF3F" + "B879" + "0614" + "0001" + "0020"), image[..14]);
        Assert.Equal(Convert.FromHexString("00000000000000C00040"), image[14..24]);
        Assert.Equal(0, m.Memory.Bytes[0x200 + 94]);
        m.Run(a => a.frstor(__[0x200]), bitness: 16);
        Assert.Equal(7, m.Fpu.Top);
        m.Run(a => a.fstp(__qword_ptr[0x400]), bitness: 16);
        Assert.Equal(3.0, m.GetDouble(0x400));
    }

    [Fact]
    public void FaultingFnsaveLeavesTheFpuUntouched()
    {
        X87TestMachine m = Prepare(32, protectedMode: true, cs: 0x0008, eip: 0x1000, ds: 0x0010);
        m.Memory.FailWrites = true;
        Assert.Throws<SimulatedPageFault>(() => m.Run(a => a.fnsave(__[0x200])));
        Assert.Equal(7, m.Fpu.Top);
        Assert.Equal(0x3FFF, m.Fpu.TagWord);
    }
}
