using MiniVM.Cpu.Fpu;
using static Iced.Intel.AssemblerRegisters;
using static MiniVM.Cpu.Tests.Fpu.X87TestMachine;

namespace MiniVM.Cpu.Tests.Fpu;

public sealed class X87FormatTests
{
    [Theory]
    [InlineData("0100000000000080FF3F")] // 1 + 2^-63: more than a double holds
    [InlineData("FFFFFFFFFFFFFFFFFE7F")] // largest finite
    [InlineData("01000000000000000000")] // smallest denormal
    [InlineData("0000000000000080FF7F")] // +infinity
    [InlineData("0100000000000080FFFF")] // signalling NaN: FLD m80 does not touch it
    [InlineData("0000000000000000FF3F")] // unnormal (unsupported) is moved untouched too
    public void ExtendedLoadStoreRoundTripsBitForBit(string hex)
    {
        byte[] image = Convert.FromHexString(hex);
        var m = new X87TestMachine();
        m.PutBytes(0x100, image);
        m.Run(a =>
        {
            a.fld(__tword_ptr[0x100]);
            a.fld(st0);
            a.fstp(st2);
            a.fstp(__tword_ptr[0x110]);
        });
        Assert.Equal(image, m.GetBytes(0x110, 10));
        Assert.Equal(0, m.Status & 0x3F);
    }

    [Theory]
    [InlineData(0x7FFF_FFFF_FFFF_FFFFUL)]
    [InlineData(0x8000_0000_0000_0000UL)]
    [InlineData(0x1234_5678_9ABC_DEF1UL)]
    [InlineData(0xFFFF_FFFF_FFFF_FFFFUL)]
    [InlineData(0UL)]
    public void Int64LoadStoreRoundTripsExactly(ulong value)
    {
        var m = new X87TestMachine();
        m.PutUInt64(0x100, value);
        m.Run(a =>
        {
            a.fild(__qword_ptr[0x100]);
            a.fistp(__qword_ptr[0x108]);
        });
        Assert.Equal(value, m.GetUInt64(0x108));
        Assert.Equal(0, m.Status & 0x3F);
    }

    [Theory]
    [InlineData(-2147483648)]
    [InlineData(2147483647)]
    [InlineData(-1)]
    [InlineData(123456789)]
    public void Int32AndInt16LoadStoreRoundTrip(int value)
    {
        var m = new X87TestMachine();
        m.PutUInt32(0x100, (uint)value);
        m.PutUInt16(0x104, (ushort)(short)(value >> 16));
        m.Run(a =>
        {
            a.fild(__dword_ptr[0x100]);
            a.fist(__dword_ptr[0x108]);
            a.fild(__word_ptr[0x104]);
            a.fistp(__word_ptr[0x10C]);
            a.fistp(__dword_ptr[0x110]);
        });
        Assert.Equal((uint)value, m.GetUInt32(0x108));
        Assert.Equal((uint)value, m.GetUInt32(0x110));
        Assert.Equal((ushort)(short)(value >> 16), m.GetUInt16(0x10C));
    }

    [Theory]
    [InlineData(0x037F, 2.5, 2)]
    [InlineData(0x037F, -2.5, -2)]
    [InlineData(0x037F, 3.5, 4)]
    [InlineData(0x077F, 2.5, 2)]
    [InlineData(0x077F, -2.5, -3)]
    [InlineData(0x0B7F, 2.5, 3)]
    [InlineData(0x0B7F, -2.5, -2)]
    [InlineData(0x0F7F, 2.9, 2)]
    [InlineData(0x0F7F, -2.9, -2)]
    public void IntegerStoreRoundsPerControlWord(int controlWord, double input, int expected)
    {
        var m = new X87TestMachine();
        m.LoadControlWord((ushort)controlWord);
        m.PutDouble(0x100, input);
        m.Run(a =>
        {
            a.fld(__qword_ptr[0x100]);
            a.fistp(__dword_ptr[0x108]);
        });
        Assert.Equal(expected, (int)m.GetUInt32(0x108));
        Assert.True(m.Flag(PE));
    }

    [Fact]
    public void OutOfRangeIntegerStoreGivesTheIntegerIndefinite()
    {
        var m = new X87TestMachine();
        m.PutDouble(0x100, 40000.0);
        m.Run(a =>
        {
            a.fld(__qword_ptr[0x100]);
            a.fist(__word_ptr[0x108]);
            a.fld1();
            a.fldz();
            a.fdivp(st1, st0); // +inf, ZE
            a.fistp(__dword_ptr[0x10C]);
        });
        Assert.Equal(0x8000, m.GetUInt16(0x108));
        Assert.Equal(0x8000_0000u, m.GetUInt32(0x10C));
        Assert.True(m.Flag(IE));
    }

    [Fact]
    public void Int16ExtremesFitButOneBeyondIsInvalid()
    {
        var m = new X87TestMachine();
        m.PutDouble(0x100, -32768.0);
        m.PutDouble(0x108, 32767.5);
        m.Run(a =>
        {
            a.fld(__qword_ptr[0x100]);
            a.fistp(__word_ptr[0x110]);
        });
        Assert.Equal(0x8000, m.GetUInt16(0x110));
        Assert.Equal(0, m.Status & IE);
        m.Run(a =>
        {
            a.fld(__qword_ptr[0x108]); // rounds to even 32768: out of range
            a.fistp(__word_ptr[0x112]);
        });
        Assert.Equal(0x8000, m.GetUInt16(0x112));
        Assert.True(m.Flag(IE));
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(-0.0)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.Epsilon)]
    [InlineData(2.2250738585072014E-308)]
    [InlineData(-123.456e200)]
    public void DoubleLoadStoreRoundTrips(double value)
    {
        var m = new X87TestMachine();
        m.PutDouble(0x100, value);
        m.Run(a =>
        {
            a.fld(__qword_ptr[0x100]);
            a.fstp(__qword_ptr[0x108]);
        });
        Assert.Equal(BitConverter.DoubleToInt64Bits(value), (long)m.GetUInt64(0x108));
        Assert.Equal(value == double.Epsilon, m.Flag(DE));
    }

    [Theory]
    [InlineData(1.5f)]
    [InlineData(-3.4028235E+38f)]
    [InlineData(1.401298E-45f)]
    [InlineData(float.NegativeInfinity)]
    public void SingleLoadStoreRoundTrips(float value)
    {
        var m = new X87TestMachine();
        m.PutSingle(0x100, value);
        m.Run(a =>
        {
            a.fld(__dword_ptr[0x100]);
            a.fstp(__dword_ptr[0x108]);
        });
        Assert.Equal(BitConverter.SingleToInt32Bits(value), (int)m.GetUInt32(0x108));
    }

    [Fact]
    public void SignallingNaNFromDoubleIsQuietedWithInvalid()
    {
        var m = new X87TestMachine();
        m.PutUInt64(0x100, 0x7FF0_0000_0000_0001);
        m.Run(a =>
        {
            a.fld(__qword_ptr[0x100]);
            a.fstp(__qword_ptr[0x108]);
        });
        Assert.Equal(0x7FF8_0000_0000_0001UL, m.GetUInt64(0x108));
        Assert.True(m.Flag(IE));
    }

    [Fact]
    public void StoringToDoubleRoundsPerRoundingControl()
    {
        var m = new X87TestMachine();
        m.PutUInt64(0x100, 1);
        m.PutUInt64(0x108, 3);
        m.Run(a =>
        {
            a.fild(__qword_ptr[0x100]);
            a.fild(__qword_ptr[0x108]);
            a.fdivp(st1, st0);          // 1/3 in extended
            a.fst(__qword_ptr[0x110]);  // nearest
        });
        m.LoadControlWord(0x0B7F);
        m.Run(a => a.fst(__qword_ptr[0x118])); // up
        Assert.Equal(1.0 / 3.0, m.GetDouble(0x110));
        Assert.Equal(Math.BitIncrement(1.0 / 3.0), m.GetDouble(0x118));
        Assert.True(m.Flag(C1));
    }

    [Theory]
    [InlineData(123456789012345678L, "78563412907856341200")]
    [InlineData(-987654321L, "21436587090000000080")]
    [InlineData(0L, "00000000000000000000")]
    public void BcdLoadAndStoreRoundTrip(long value, string bcdHex)
    {
        byte[] bcd = Convert.FromHexString(bcdHex);
        var m = new X87TestMachine();
        m.PutBytes(0x100, bcd);
        m.Run(a =>
        {
            a.fbld(__tword_ptr[0x100]);
            a.fld(st0);
            a.fistp(__qword_ptr[0x110]);
            a.fbstp(__tword_ptr[0x120]);
        });
        Assert.Equal(value, (long)m.GetUInt64(0x110));
        Assert.Equal(bcd, m.GetBytes(0x120, 10));
    }

    [Fact]
    public void BcdStoreOfTooLargeValueGivesTheBcdIndefinite()
    {
        var m = new X87TestMachine();
        m.PutDouble(0x100, 1e18);
        m.Run(a =>
        {
            a.fld(__qword_ptr[0x100]);
            a.fbstp(__tword_ptr[0x110]);
        });
        Assert.Equal(Convert.FromHexString("00000000000000C0FFFF"), m.GetBytes(0x110, 10));
        Assert.True(m.Flag(IE));
    }

    [Fact]
    public void ConstantsRoundPerRoundingControl()
    {
        var m = new X87TestMachine();
        m.Run(a =>
        {
            a.fldpi();
            a.fldl2e();
            a.fldln2();
        });
        Assert.Equal(new Float80(0xC90F_DAA2_2168_C235, 0x4000), m.Fpu.GetStack(2));
        Assert.Equal(new Float80(0xB8AA_3B29_5C17_F0BC, 0x3FFF), m.Fpu.GetStack(1));
        Assert.Equal(new Float80(0xB172_17F7_D1CF_79AC, 0x3FFE), m.Fpu.GetStack(0));
        m.LoadControlWord(0x0F7F);
        m.Run(a =>
        {
            a.fldpi();
            a.fldl2t();
            a.fldlg2();
        });
        Assert.Equal(new Float80(0xC90F_DAA2_2168_C234, 0x4000), m.Fpu.GetStack(2));
        Assert.Equal(new Float80(0xD49A_784B_CD1B_8AFE, 0x4000), m.Fpu.GetStack(1));
        Assert.Equal(new Float80(0x9A20_9A84_FBCF_F798, 0x3FFD), m.Fpu.GetStack(0));
        Assert.Equal(0, m.Status & PE);
    }
}
