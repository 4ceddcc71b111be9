using Iced.Intel;
using MiniVM.Cpu.Fpu;
using static Iced.Intel.AssemblerRegisters;

namespace MiniVM.Cpu.Tests.Fpu;

/// <summary>Replays <see cref="HostX87Vectors"/>: the same instruction sequence the recording ran on real hardware.</summary>
public sealed class X87HostVectorTests
{
    public static TheoryData<string> Operations()
    {
        var data = new TheoryData<string>();
        foreach (string op in HostX87Vectors.Lines.Select(line => line.Split(' ')[0]).Distinct())
        {
            data.Add(op);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Operations))]
    public void MatchesRecordedHardwareResults(string operation)
    {
        int replayed = 0;
        foreach (string line in HostX87Vectors.Lines.Where(line => line.StartsWith(operation + " ", StringComparison.Ordinal)))
        {
            string[] field = line.Split(' ');
            var m = new X87TestMachine(initialize: false);
            m.PutUInt16(0x00, Convert.ToUInt16(field[1], 16));
            m.PutBytes(0x10, Convert.FromHexString(field[2]));
            m.PutBytes(0x20, Convert.FromHexString(field[3]));
            uint eflags = 0;
            var assembler = new Assembler(32);
            assembler.fninit();
            assembler.fldcw(__word_ptr[0]);
            assembler.fld(__tword_ptr[0x20]);
            assembler.fld(__tword_ptr[0x10]);
            Build(assembler, operation);
            foreach (Instruction instruction in assembler.Instructions)
            {
                m.Memory.EffectiveAddress = instruction.Op0Kind == OpKind.Memory ? instruction.MemoryDisplacement32 : 0;
                if (instruction.Mnemonic == Mnemonic.Fucomi)
                {
                    m.Fpu.Eflags = 0;
                    m.Fpu.Execute(instruction, m.Memory);
                    eflags = m.Fpu.Eflags;
                }
                else
                {
                    m.Fpu.Execute(instruction, m.Memory);
                }
            }
            string actual = $"{Convert.ToHexString(m.GetBytes(0x50, 10))} {Convert.ToHexString(m.GetBytes(0x60, 10))} {m.GetUInt16(0x40):X4} {eflags & 0x8D5:X}";
            Assert.Equal(string.Join(' ', field[4..]), actual);
            replayed++;
        }
        Assert.True(replayed >= 20);
    }

    /// <summary>ST(0) = first operand, ST(1) = second; status to 0x40, results to 0x50 and 0x60.</summary>
    private static void Build(Assembler a, string operation)
    {
        var status = __word_ptr[0x40];
        var result = __tword_ptr[0x50];
        switch (operation)
        {
            case "fadd": a.faddp(st1, st0); a.fstp(result); a.fnstsw(status); break;
            case "fsub": a.fsub(st0, st1); a.fstp(result); a.fnstsw(status); a.fstp(st0); break;
            case "fmul": a.fmulp(st1, st0); a.fstp(result); a.fnstsw(status); break;
            case "fdiv": a.fdiv(st0, st1); a.fstp(result); a.fnstsw(status); a.fstp(st0); break;
            case "fsqrt": a.fsqrt(); a.fstp(result); a.fnstsw(status); a.fstp(st0); break;
            case "fprem": a.fprem(); a.fnstsw(status); a.fstp(result); a.fstp(st0); break;
            case "fprem1": a.fprem1(); a.fnstsw(status); a.fstp(result); a.fstp(st0); break;
            case "fscale": a.fscale(); a.fnstsw(status); a.fstp(result); a.fstp(st0); break;
            case "frndint": a.frndint(); a.fnstsw(status); a.fstp(result); a.fstp(st0); break;
            case "fxtract": a.fxtract(); a.fnstsw(status); a.fstp(result); a.fstp(__tword_ptr[0x60]); a.fstp(st0); break;
            case "fistp64": a.fistp(__qword_ptr[0x50]); a.fnstsw(status); a.fstp(st0); break;
            case "fist16": a.fist(__word_ptr[0x50]); a.fnstsw(status); a.fstp(st0); a.fstp(st0); break;
            case "fbstp": a.fbstp(result); a.fnstsw(status); a.fstp(st0); break;
            case "fst32": a.fst(__dword_ptr[0x50]); a.fnstsw(status); a.fstp(st0); a.fstp(st0); break;
            case "fst64": a.fst(__qword_ptr[0x50]); a.fnstsw(status); a.fstp(st0); a.fstp(st0); break;
            case "fcom": a.fcom(st0, st1); a.fnstsw(status); a.fstp(st0); a.fstp(st0); break;
            case "fxam": a.fxam(); a.fnstsw(status); a.fstp(st0); a.fstp(st0); break;
            case "fucomi": a.fucomi(st0, st1); a.fnstsw(status); a.fstp(st0); a.fstp(st0); break;
            default: throw new ArgumentException($"no sequence for {operation}", nameof(operation));
        }
    }
}
