using MiniVM.Cpu.Fpu;
using static Iced.Intel.AssemblerRegisters;
using static MiniVM.Cpu.Tests.Fpu.X87TestMachine;

namespace MiniVM.Cpu.Tests.Fpu;

public sealed class X87StackTests
{
    [Fact]
    public void NinthPushOverflowsWithC1AndPushesTheIndefinite()
    {
        var m = new X87TestMachine();
        m.Run(a =>
        {
            for (int i = 0; i < 8; i++)
            {
                a.fld1();
            }
        });
        Assert.Equal(0, m.Status & (IE | SF));
        Assert.Equal(0x0000, m.Fpu.TagWord);
        m.Run(a => a.fldz());
        Assert.Equal(IE | SF | C1, m.Status & (IE | SF | C1));
        Assert.Equal(Float80.Indefinite, m.Fpu.GetStack(0));
        Assert.Equal(7, m.Fpu.Top);
    }

    [Fact]
    public void ArithmeticOnAnEmptyRegisterUnderflowsWithC1Clear()
    {
        var m = new X87TestMachine();
        m.Run(a =>
        {
            a.fld1();
            a.fadd(st0, st3);
        });
        Assert.Equal(IE | SF, m.Status & (IE | SF | C1));
        Assert.Equal(Float80.Indefinite, m.Fpu.GetStack(0));
    }

    [Fact]
    public void UnmaskedStackUnderflowLeavesTheStackAndSetsErrorPending()
    {
        var m = new X87TestMachine();
        m.LoadControlWord(0x037E);
        m.PutDouble(0x100, 5.0);
        m.Run(a => a.fstp(__qword_ptr[0x100]));
        Assert.True(m.Fpu.ErrorPending);
        Assert.Equal(5.0, m.GetDouble(0x100));
        Assert.Equal(0, m.Fpu.Top);
    }

    [Fact]
    public void MaskedStoreFromEmptyWritesTheIndefiniteAndPops()
    {
        var m = new X87TestMachine();
        m.Run(a =>
        {
            a.fstp(__qword_ptr[0x100]);
            a.fistp(__word_ptr[0x108]);
        });
        Assert.Equal(0xFFF8_0000_0000_0000UL, m.GetUInt64(0x100));
        Assert.Equal(0x8000, m.GetUInt16(0x108));
        Assert.Equal(2, m.Fpu.Top);
        Assert.True(m.Flag(SF));
    }

    [Fact]
    public void TagWordClassifiesEveryRegister()
    {
        var m = new X87TestMachine();
        m.PutDouble(0x100, double.PositiveInfinity);
        m.Run(a =>
        {
            a.fld1();                      // phys 7: valid 00
            a.fldz();                      // phys 6: zero 01
            a.fld(__qword_ptr[0x100]);     // phys 5: special 10
        });
        Assert.Equal(0b00_01_10_11_11_11_11_11, m.Fpu.TagWord);
        m.Run(a => a.ffree(st1));
        Assert.Equal(0b00_11_10_11_11_11_11_11, m.Fpu.TagWord);
    }

    [Fact]
    public void ExchangeIncrementAndDecrement()
    {
        var m = new X87TestMachine();
        m.Run(a =>
        {
            a.fld1();
            a.fldz();
            a.fxch(st0, st1);
        });
        Assert.Equal(Float80.One, m.Fpu.GetStack(0));
        Assert.Equal(Float80.PositiveZero, m.Fpu.GetStack(1));
        m.Run(a => a.fincstp());
        Assert.Equal(7, m.Fpu.Top);
        Assert.Equal(Float80.PositiveZero, m.Fpu.GetStack(0));
        m.Run(a => a.fdecstp());
        Assert.Equal(6, m.Fpu.Top);
        Assert.Equal(Float80.One, m.Fpu.GetStack(0));
    }

    [Fact]
    public void FaultingStoreLeavesTheFpuUntouched()
    {
        var m = new X87TestMachine();
        m.Run(a => a.fld1());
        ushort status = m.Status;
        m.Memory.FailWrites = true;
        Assert.Throws<SimulatedPageFault>(() => m.Run(a => a.fstp(__qword_ptr[0x100])));
        Assert.Throws<SimulatedPageFault>(() => m.Run(a => a.fistp(__dword_ptr[0x100])));
        Assert.Throws<SimulatedPageFault>(() => m.Run(a => a.fbstp(__tword_ptr[0x100])));
        Assert.Equal(status, m.Status);
        Assert.Equal(Float80.One, m.Fpu.GetStack(0));
        Assert.Equal(7, m.Fpu.Top);
    }

    [Fact]
    public void FstToRegisterCopiesWithoutConversion()
    {
        var m = new X87TestMachine();
        m.PutBytes(0x100, 0x01, 0, 0, 0, 0, 0, 0, 0x80, 0xFF, 0x7F); // SNaN
        m.Run(a =>
        {
            a.fldz();
            a.fld(__tword_ptr[0x100]);
            a.fst(st1);
        });
        Assert.Equal(new Float80(0x8000_0000_0000_0001, 0x7FFF), m.Fpu.GetStack(1));
        Assert.Equal(0, m.Status & IE);
    }
}
