using Iced.Intel;
using MiniVM.Cpu.Tests.Support;
using static Iced.Intel.AssemblerRegisters;

namespace MiniVM.Cpu.Tests.Guest;

public sealed class SelfModifyingCodeTests
{
    [Fact]
    public void GuestStoreIntoAlreadyExecutedCodeIsSeenNextTime()
    {
        var m = new TestMachine();
        // Loop twice over "MOV AL, imm8; ADD BL, AL", patching the immediate after the first pass.
        var a = new Assembler(16);
        var top = a.CreateLabel();
        a.mov(cx, 2);
        a.xor(bl, bl);
        a.Label(ref top);
        a.mov(al, 0x11);           // at 0x1005: B0 11 -> immediate at 0x1006
        a.add(bl, al);
        a.mov(__byte_ptr[0x1006], 0x22);
        a.dec(cx);
        a.jnz(top);
        a.hlt();
        m.Load(0x1000, Assemble(a, 0x1000));
        m.Cpu.Reset();
        m.Cpu.SetSegmentReal(SegmentRegister.Cs, 0);
        m.Cpu.Eip = 0x1000;
        m.RunToHalt();
        Assert.Equal(0x33u, m.Cpu.Ebx & 0xFF);
    }

    [Fact]
    public void DmaWriteOverDecodedCodeInvalidatesIt()
    {
        var m = new TestMachine();
        m.Load(16, 0x1000, a => { a.mov(ax, 0x1111); a.hlt(); });
        m.Cpu.Reset();
        m.Cpu.SetSegmentReal(SegmentRegister.Cs, 0);
        m.Cpu.Eip = 0x1000;
        m.RunToHalt();
        Assert.Equal(0x1111u, m.Cpu.Eax);
        m.Load(16, 0x1000, a => { a.mov(ax, 0x2222); a.hlt(); }); // a device (DMA) rewrites the page
        m.Cpu.Reset();
        m.Cpu.SetSegmentReal(SegmentRegister.Cs, 0);
        m.Cpu.Eip = 0x1000;
        m.RunToHalt();
        Assert.Equal(0x2222u, m.Cpu.Eax);
    }

    [Fact]
    public void SameBytesDecodeDifferentlyIn16And32BitCode()
    {
        var m = new TestMachine();
        // B8 78 56 34 12 is MOV AX,5678 + junk in 16-bit code but MOV EAX,12345678 in 32-bit code.
        m.LoadBootTo32(a => { a.db(0xB8, 0x78, 0x56, 0x34, 0x12); a.hlt(); });
        m.Load(0x7000, [0xB8, 0x78, 0x56, 0xF4]);
        m.Cpu.Reset();
        m.Cpu.SetSegmentReal(SegmentRegister.Cs, 0x700);
        m.Cpu.Eip = 0;
        m.RunToHalt();
        Assert.Equal(0x5678u, m.Cpu.Eax);
        m.Cpu.Reset();
        m.Cpu.SetSegmentReal(SegmentRegister.Cs, 0);
        m.Cpu.Eip = 0x1000;
        m.RunToHalt();
        Assert.Equal(0x12345678u, m.Cpu.Eax);
    }

    private static byte[] Assemble(Assembler a, ulong ip)
    {
        var w = new BytesWriter();
        a.Assemble(w, ip);
        return w.Bytes.ToArray();
    }

    private sealed class BytesWriter : CodeWriter
    {
        public readonly List<byte> Bytes = [];
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
