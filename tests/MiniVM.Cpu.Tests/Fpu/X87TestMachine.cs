using System.Buffers.Binary;
using Iced.Intel;
using MiniVM.Cpu.Fpu;

namespace MiniVM.Cpu.Tests.Fpu;

/// <summary>A byte array standing in for guest memory; the effective address is the instruction's displacement.</summary>
internal sealed class FakeX87Memory : IX87Memory
{
    public byte[] Bytes { get; } = new byte[4096];
    public uint EffectiveAddress { get; set; }
    public bool Is32BitOperandSize { get; set; } = true;
    public bool IsProtectedMode { get; set; } = true;
    public ushort InstructionCs { get; set; } = 0x0008;
    public uint InstructionEip { get; set; } = 0x1000;
    public ushort OperandSelector { get; set; } = 0x0010;
    public uint OperandOffset => EffectiveAddress;
    public bool FailWrites { get; set; }

    public void ReadOperand(int offset, Span<byte> destination) =>
        Bytes.AsSpan((int)EffectiveAddress + offset, destination.Length).CopyTo(destination);

    public void WriteOperand(int offset, ReadOnlySpan<byte> source)
    {
        if (FailWrites)
        {
            throw new SimulatedPageFault();
        }
        source.CopyTo(Bytes.AsSpan((int)EffectiveAddress + offset));
    }
}

internal sealed class SimulatedPageFault : Exception;

/// <summary>Runs instructions built with Iced's assembler (or decoded from bytes) against one X87.</summary>
internal sealed class X87TestMachine
{
    public X87 Fpu { get; } = new();
    public FakeX87Memory Memory { get; } = new();

    public X87TestMachine(bool initialize = true)
    {
        if (initialize)
        {
            Run(a => a.fninit());
        }
    }

    public void Run(Action<Assembler> build, int bitness = 32)
    {
        var assembler = new Assembler(bitness);
        build(assembler);
        foreach (Instruction instruction in assembler.Instructions)
        {
            Execute(instruction, bitness);
        }
    }

    public void RunBytes(int bitness, params byte[] code)
    {
        var decoder = Decoder.Create(bitness, new ByteArrayCodeReader(code));
        while (decoder.IP < (ulong)code.Length)
        {
            Instruction instruction = decoder.Decode();
            Assert.NotEqual(Code.INVALID, instruction.Code);
            Execute(instruction, bitness);
        }
    }

    private void Execute(in Instruction instruction, int bitness)
    {
        bool hasMemory = instruction.OpCount > 0 && instruction.Op0Kind == OpKind.Memory;
        Memory.EffectiveAddress = hasMemory ? instruction.MemoryDisplacement32 : 0;
        Memory.Is32BitOperandSize = instruction.MemorySize switch
        {
            MemorySize.FpuEnv14 or MemorySize.FpuState94 => false,
            MemorySize.FpuEnv28 or MemorySize.FpuState108 => true,
            _ => bitness == 32,
        };
        Fpu.Execute(instruction, Memory);
    }

    public ushort Status => Fpu.StatusWord;

    public bool Flag(ushort bit) => (Fpu.StatusWord & bit) != 0;

    public void PutDouble(int address, double value) => BinaryPrimitives.WriteDoubleLittleEndian(Memory.Bytes.AsSpan(address), value);
    public double GetDouble(int address) => BinaryPrimitives.ReadDoubleLittleEndian(Memory.Bytes.AsSpan(address));
    public void PutSingle(int address, float value) => BinaryPrimitives.WriteSingleLittleEndian(Memory.Bytes.AsSpan(address), value);
    public float GetSingle(int address) => BinaryPrimitives.ReadSingleLittleEndian(Memory.Bytes.AsSpan(address));
    public void PutUInt64(int address, ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(Memory.Bytes.AsSpan(address), value);
    public ulong GetUInt64(int address) => BinaryPrimitives.ReadUInt64LittleEndian(Memory.Bytes.AsSpan(address));
    public void PutUInt32(int address, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(Memory.Bytes.AsSpan(address), value);
    public uint GetUInt32(int address) => BinaryPrimitives.ReadUInt32LittleEndian(Memory.Bytes.AsSpan(address));
    public void PutUInt16(int address, ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(Memory.Bytes.AsSpan(address), value);
    public ushort GetUInt16(int address) => BinaryPrimitives.ReadUInt16LittleEndian(Memory.Bytes.AsSpan(address));
    public byte[] GetBytes(int address, int length) => Memory.Bytes.AsSpan(address, length).ToArray();
    public void PutBytes(int address, params byte[] bytes) => bytes.CopyTo(Memory.Bytes.AsSpan(address));

    /// <summary>Status word bits by name (SDM vol. 1 Figure 8-4).</summary>
    public const ushort IE = 0x01, DE = 0x02, ZE = 0x04, OE = 0x08, UE = 0x10, PE = 0x20, SF = 0x40, ES = 0x80;
    public const ushort C0 = 0x100, C1 = 0x200, C2 = 0x400, C3 = 0x4000, B = 0x8000;

    /// <summary>FLDCW with the given control word (stored at 0xF00).</summary>
    public void LoadControlWord(ushort controlWord)
    {
        PutUInt16(0xF00, controlWord);
        Run(a => a.fldcw(AssemblerRegisters.__word_ptr[0xF00]));
    }
}
