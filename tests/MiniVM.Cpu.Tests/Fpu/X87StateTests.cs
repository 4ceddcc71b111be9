using MiniVM.Cpu.Fpu;
using static Iced.Intel.AssemblerRegisters;

namespace MiniVM.Cpu.Tests.Fpu;

public sealed class X87StateTests
{
    private static byte[] Save(X87 fpu)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            fpu.SaveState(writer);
        }
        return stream.ToArray();
    }

    private static void Load(X87 fpu, byte[] state)
    {
        using var reader = new BinaryReader(new MemoryStream(state));
        fpu.LoadState(reader);
    }

    [Fact]
    public void SaveThenLoadRestoresEverythingObservable()
    {
        var m = new X87TestMachine();
        m.LoadControlWord(0x0B7E);
        m.PutDouble(0x100, 2.0);
        m.Run(a =>
        {
            a.fldpi();
            a.fld(__qword_ptr[0x100]);
            a.fsqrt();
            a.fld1();
            a.fchs();
            a.fsqrt(); // unmasked invalid: pending error
        });
        byte[] state = Save(m.Fpu);

        var restored = new X87();
        Load(restored, state);
        Assert.Equal(m.Fpu.StatusWord, restored.StatusWord);
        Assert.Equal(m.Fpu.ControlWord, restored.ControlWord);
        Assert.Equal(m.Fpu.TagWord, restored.TagWord);
        Assert.True(restored.ErrorPending);
        for (int i = 0; i < 8; i++)
        {
            Assert.Equal(m.Fpu.GetPhysicalRegister(i), restored.GetPhysicalRegister(i));
        }
        Assert.Equal(m.Fpu.InstructionPointer, restored.InstructionPointer);
        Assert.Equal(m.Fpu.DataPointer, restored.DataPointer);
        Assert.Equal(m.Fpu.LastOpcode, restored.LastOpcode);
        Assert.Equal(state, Save(restored));
    }

    [Fact]
    public void TheRecordHasNoHeaderOfItsOwn()
    {
        // The CPU's VM-state section carries the one length and version; the FPU record starts with its control word.
        byte[] state = Save(new X87());
        Assert.Equal(new X87().ControlWord, BitConverter.ToUInt16(state, 0));
    }

    [Fact]
    public void TruncatedStateIsRejectedAndTheFpuIsUnchanged()
    {
        var m = new X87TestMachine();
        m.Run(a => a.fld1());
        byte[] state = Save(new X87());
        var error = Assert.Throws<InvalidDataException>(() => Load(m.Fpu, state[..20]));
        Assert.Contains("truncated", error.Message);
        Assert.Equal(7, m.Fpu.Top);
        Assert.Equal(0x037F, m.Fpu.ControlWord);
    }

    [Fact]
    public void ReservedControlWordBitsAreRejected()
    {
        byte[] state = Save(new X87());
        state[1] = 0xE0; // control word high byte (the record starts with the control word)
        var error = Assert.Throws<InvalidDataException>(() => Load(new X87(), state));
        Assert.Contains("control word", error.Message);
    }
}
