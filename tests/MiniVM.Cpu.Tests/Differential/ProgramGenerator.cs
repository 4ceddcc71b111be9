using Iced.Intel;
using static Iced.Intel.Register;
using static MiniVM.Cpu.Tests.Differential.GuestLayout;

namespace MiniVM.Cpu.Tests.Differential;

/// <summary>
/// Builds <see cref="RandomProgram"/>s: mostly instructions drawn from Iced's opcode table (every legacy form of the
/// integer, flag, bit, move and stack mnemonics below, 8/16/32-bit, register or memory operands, random immediates,
/// sometimes LOCK), mixed with shapes a table cannot give: forward branches, counted loops, REP string operations,
/// near and far calls and returns, IRET, INT, segment loads, stores into the program's own next instruction, and
/// instructions meant to fault (#DE, #UD, #GP, #SS, #PF, #BR, #OF). Before anything that may fault the program stores
/// the address of the next instruction where the exception handler resumes. Addresses of labels that must be immediates
/// (far pointers, IRET frames, the resume address) come from a first assembly pass; the second pass is identical in size.
/// </summary>
internal sealed class ProgramGenerator
{
    private static readonly Mnemonic[] TableMnemonics =
    [
        Mnemonic.Add, Mnemonic.Or, Mnemonic.Adc, Mnemonic.Sbb, Mnemonic.And, Mnemonic.Sub, Mnemonic.Xor, Mnemonic.Cmp, Mnemonic.Test,
        Mnemonic.Inc, Mnemonic.Dec, Mnemonic.Neg, Mnemonic.Not, Mnemonic.Mul, Mnemonic.Imul, Mnemonic.Div, Mnemonic.Idiv,
        Mnemonic.Shl, Mnemonic.Shr, Mnemonic.Sar, Mnemonic.Sal, Mnemonic.Rol, Mnemonic.Ror, Mnemonic.Rcl, Mnemonic.Rcr,
        Mnemonic.Shld, Mnemonic.Shrd, Mnemonic.Bt, Mnemonic.Bts, Mnemonic.Btr, Mnemonic.Btc, Mnemonic.Bsf, Mnemonic.Bsr, Mnemonic.Bswap,
        Mnemonic.Mov, Mnemonic.Movzx, Mnemonic.Movsx, Mnemonic.Xchg, Mnemonic.Xadd, Mnemonic.Cmpxchg, Mnemonic.Cmpxchg8b, Mnemonic.Lea,
        Mnemonic.Cmovo, Mnemonic.Cmovno, Mnemonic.Cmovb, Mnemonic.Cmovae, Mnemonic.Cmove, Mnemonic.Cmovne, Mnemonic.Cmovbe, Mnemonic.Cmova,
        Mnemonic.Cmovs, Mnemonic.Cmovns, Mnemonic.Cmovp, Mnemonic.Cmovnp, Mnemonic.Cmovl, Mnemonic.Cmovge, Mnemonic.Cmovle, Mnemonic.Cmovg,
        Mnemonic.Seto, Mnemonic.Setno, Mnemonic.Setb, Mnemonic.Setae, Mnemonic.Sete, Mnemonic.Setne, Mnemonic.Setbe, Mnemonic.Seta,
        Mnemonic.Sets, Mnemonic.Setns, Mnemonic.Setp, Mnemonic.Setnp, Mnemonic.Setl, Mnemonic.Setge, Mnemonic.Setle, Mnemonic.Setg,
        Mnemonic.Clc, Mnemonic.Stc, Mnemonic.Cmc, Mnemonic.Cld, Mnemonic.Std, Mnemonic.Cli, Mnemonic.Sti, Mnemonic.Lahf, Mnemonic.Sahf,
        Mnemonic.Cbw, Mnemonic.Cwde, Mnemonic.Cwd, Mnemonic.Cdq, Mnemonic.Daa, Mnemonic.Das, Mnemonic.Aaa, Mnemonic.Aas, Mnemonic.Aam, Mnemonic.Aad,
        Mnemonic.Push, Mnemonic.Pop, Mnemonic.Nop, Mnemonic.Bound, Mnemonic.Cpuid, Mnemonic.Ud2,
    ];

    /// <summary>Faults with register operands too (PUSH/POP: a real-mode stack that wraps past 0xFFFF is #SS).</summary>
    private static readonly HashSet<Mnemonic> MayFaultWithoutMemory = [Mnemonic.Div, Mnemonic.Idiv, Mnemonic.Aam, Mnemonic.Bound, Mnemonic.Ud2, Mnemonic.Push, Mnemonic.Pop];

    private static readonly HashSet<CpuidFeature> P6Features =
        [CpuidFeature.INTEL8086, CpuidFeature.INTEL186, CpuidFeature.INTEL286, CpuidFeature.INTEL386, CpuidFeature.INTEL486, CpuidFeature.CMOV, CpuidFeature.CPUID, CpuidFeature.CX8];

    private static readonly HashSet<OpCodeOperandKind> FillableKinds =
    [
        OpCodeOperandKind.r8_or_mem, OpCodeOperandKind.r16_or_mem, OpCodeOperandKind.r32_or_mem,
        OpCodeOperandKind.r8_reg, OpCodeOperandKind.r16_reg, OpCodeOperandKind.r32_reg,
        OpCodeOperandKind.r8_opcode, OpCodeOperandKind.r16_opcode, OpCodeOperandKind.r32_opcode,
        OpCodeOperandKind.r16_rm, OpCodeOperandKind.r32_rm, OpCodeOperandKind.mem, OpCodeOperandKind.mem_offs,
        OpCodeOperandKind.imm8, OpCodeOperandKind.imm8sex16, OpCodeOperandKind.imm8sex32, OpCodeOperandKind.imm16, OpCodeOperandKind.imm32,
        OpCodeOperandKind.imm8_const_1, OpCodeOperandKind.al, OpCodeOperandKind.ax, OpCodeOperandKind.eax, OpCodeOperandKind.cl,
    ];

    private static readonly Lazy<Code[]> Table16 = new(() => BuildTable(16));
    private static readonly Lazy<Code[]> Table32 = new(() => BuildTable(32));

    private static Code[] BuildTable(int bits)
    {
        var mnemonics = TableMnemonics.ToHashSet();
        var codes = new List<Code>();
        foreach (var code in Enum.GetValues<Code>())
        {
            if (code is Code.INVALID or Code.Bswap_r16) continue; // BSWAP r16 is undefined
            var op = code.ToOpCode();
            if (!op.IsInstruction || op.Encoding != EncodingKind.Legacy || !mnemonics.Contains(op.Mnemonic)) continue;
            if (!(bits == 16 ? op.Mode16 : op.Mode32)) continue;
            if (!code.CpuidFeatures().All(P6Features.Contains)) continue;
            bool fillable = true;
            for (int i = 0; i < op.OpCount; i++) fillable &= FillableKinds.Contains(op.GetOpKind(i));
            if (fillable) codes.Add(code);
        }
        return codes.ToArray();
    }

    private readonly Random _rng;
    private readonly GuestMode _mode;
    private readonly bool _real;
    private readonly Assembler _a;
    private readonly Code[] _table;
    private readonly IReadOnlyList<uint>? _resolved;
    private readonly List<Label> _labels = [];
    private readonly List<(int Label, int RetImm, int Items)> _functions = [];
    private int _farFunction = -1;
    private int _instructionsAtLastLabel = -1;
    /// <summary>Inside <see cref="SixteenBitStack"/>'s far transfer: SS is Data16, so unguarded memory operands avoid [EBP].</summary>
    private bool _stack16;
    /// <summary>Inside a counted loop: nothing may write ECX/CX/CL/CH.</summary>
    private bool _ecxBusy;

    private ProgramGenerator(int seed, GuestMode mode, int bits, IReadOnlyList<uint>? resolved)
    {
        _rng = new Random(seed);
        _mode = mode;
        _real = mode == GuestMode.Real;
        _a = new Assembler(bits);
        _table = bits == 16 ? Table16.Value : Table32.Value;
        _resolved = resolved;
    }

    public static RandomProgram Generate(int seed, GuestMode mode, int items)
    {
        bool real = mode == GuestMode.Real;
        uint ip = real ? RealIp : CodeBase;
        // Pass 1 with placeholder addresses, pass 2 with the label addresses pass 1 found (same sizes, so same addresses).
        var first = new ProgramGenerator(seed, mode, real ? 16 : 32, null);
        first.Build(items);
        var (_, addresses) = first.Assemble(ip);
        var second = new ProgramGenerator(seed, mode, real ? 16 : 32, addresses);
        second.Build(items);
        var (code, check) = second.Assemble(ip);
        if (!check.SequenceEqual(addresses)) throw new InvalidOperationException($"seed {seed}: label addresses moved between passes");

        var data = new List<(uint, byte[])>();
        var rng = new Random(seed ^ 0x5EED);
        foreach (var (at, size) in real
                     ? new[] { ((uint)RealDs << 4, 0x20000u), ((uint)RealSs << 4, 0x10000u) }
                     : new[] { (Data, DataSize), (StackTop - 0x1000, 0x1000u) })
        {
            var bytes = new byte[size];
            rng.NextBytes(bytes);
            data.Add((at, bytes));
        }

        byte[] code16 = [];
        if (!real)
        {
            var g16 = new ProgramGenerator(seed ^ 0x16, mode, 16, null);
            for (int i = g16._rng.Next(1, 5); i > 0; i--) g16.TableInstruction(memory: false, mayFault: false);
            g16._a.AddInstruction(Instruction.Create(Iced.Intel.Code.Retfd));
            code16 = g16.Assemble(Code16Function).Code;
        }
        return new RandomProgram
        {
            Seed = seed,
            Mode = mode,
            LoadAddress = real ? ((uint)RealCs << 4) + RealIp : CodeBase,
            EntryIp = ip,
            Code = code,
            Code16 = code16,
            FarFunction = second._farFunction >= 0 ? addresses[second._farFunction] : 0,
            Data = data,
        };
    }

    private (byte[] Code, uint[] Labels) Assemble(uint ip)
    {
        var writer = new ByteWriter();
        var result = _a.Assemble(writer, ip, BlockEncoderOptions.ReturnNewInstructionOffsets);
        var addresses = _labels.Select(l => (uint)result.GetLabelRIP(l)).ToArray();
        return (writer.Bytes.ToArray(), addresses);
    }

    // ---- labels whose addresses become immediates ----

    private int NewLabel()
    {
        _labels.Add(_a.CreateLabel());
        return _labels.Count - 1;
    }

    private void Place(int label)
    {
        if (_a.Instructions.Count == _instructionsAtLastLabel) _a.nop(); // Iced allows one label per instruction
        var l = _labels[label];
        _a.Label(ref l);
        _labels[label] = l;
        _instructionsAtLastLabel = _a.Instructions.Count;
    }

    /// <summary>The label's address (an IP in real mode) in pass 2; a placeholder of the same encoded size in pass 1.</summary>
    private uint AddressOf(int label) => _resolved?[label] ?? (_real ? 0x7FFFu : 0x7FFFFFFFu);

    private void Add(in Instruction i) => _a.AddInstruction(i);

    // ---- the program ----

    private void Build(int items)
    {
        Prologue();
        _farFunction = NewLabel();
        for (int i = 0; i < items; i++) Item();
        var end = NewLabel();
        Place(end);
        _a.cli();
        _a.hlt();
        _a.jmp(_labels[end]);
        foreach (var (label, retImm, n) in _functions)
        {
            Place(label);
            for (int k = 0; k < n; k++) TableInstruction(memory: false, mayFault: false);
            if (retImm == 0) Add(Instruction.Create(_real ? Iced.Intel.Code.Retnw : Iced.Intel.Code.Retnd));
            else Add(Instruction.Create(_real ? Iced.Intel.Code.Retnw_imm16 : Iced.Intel.Code.Retnd_imm16, retImm));
        }
        Place(_farFunction);
        for (int k = _rng.Next(0, 4); k > 0; k--) TableInstruction(memory: false, mayFault: false);
        Add(Instruction.Create(_real ? Iced.Intel.Code.Retfw : Iced.Intel.Code.Retfd));
    }

    private void Prologue()
    {
        if (_real)
        {
            MovSeg(DS, RealDs);
            MovSeg(GS, RealDs);
            MovSeg(ES, RealEs);
            MovSeg(FS, RealEs);
            MovSeg(SS, RealSs);
            Add(Instruction.Create(Iced.Intel.Code.Mov_r16_imm16, SP, RealSp));
            foreach (var r in new[] { EAX, EBX, ECX, EDX, ESI, EDI, EBP }) Add(Instruction.Create(Iced.Intel.Code.Mov_r32_imm32, r, RandomValue32()));
        }
        else
        {
            Add(Instruction.Create(Iced.Intel.Code.Mov_r32_imm32, EBP, Data));
            foreach (var r in new[] { EAX, EBX, ECX, EDX, ESI, EDI }) Add(Instruction.Create(Iced.Intel.Code.Mov_r32_imm32, r, RandomValue32()));
        }
        // Random arithmetic flags and DF, sometimes IF (so pending external interrupts are taken); never TF.
        uint flags = 2 | ((uint)_rng.Next() & 0x8D5) | (_rng.Next(3) == 0 ? 0x400u : 0) | (_rng.Next(2) == 0 ? 0x200u : 0);
        Add(Instruction.Create(Iced.Intel.Code.Pushd_imm32, flags));
        Add(Instruction.Create(Iced.Intel.Code.Popfd));
    }

    private void MovSeg(Register seg, ushort value)
    {
        Add(Instruction.Create(Iced.Intel.Code.Mov_r16_imm16, AX, value));
        Add(Instruction.Create(Iced.Intel.Code.Mov_Sreg_rm16, seg, AX));
    }

    private void Item()
    {
        int pick = _rng.Next(100);
        if (pick < 49) TableInstruction(memory: true, mayFault: true);
        else if (pick < 52) SixteenBitStack();
        else if (pick < 58) ForwardBranch();
        else if (pick < 63) CountedLoop();
        else if (pick < 68) StringOperation();
        else if (pick < 72) StackPair();
        else if (pick < 75) NearCall();
        else if (pick < 81) FarTransfer();
        else if (pick < 85) SegmentLoad();
        else if (pick < 94) DeliberateFault();
        else if (pick < 97) FlagsThroughStack();
        else PatchNextInstruction();
    }

    // ---- instructions from the opcode table ----

    private void TableInstruction(bool memory, bool mayFault)
    {
        for (int attempt = 0; ; attempt++)
        {
            var code = _table[_rng.Next(_table.Length)];
            var op = code.ToOpCode();
            // (Function bodies, the !mayFault users that return, must also leave the stack as they found it.)
            if (!mayFault && MayFaultWithoutMemory.Contains(op.Mnemonic)) continue;
            if (_ecxBusy && op.Mnemonic == Mnemonic.Cpuid) continue;
            bool needsMemory = false;
            for (int i = 0; i < op.OpCount; i++) needsMemory |= op.GetOpKind(i) is OpCodeOperandKind.mem or OpCodeOperandKind.mem_offs;
            if (needsMemory && !memory) continue;
            bool lockIt = mayFault && _rng.Next(40) == 0;
            EmitTableInstruction(code, op, memory && _rng.Next(2) == 0, lockIt, mayFault);
            return;
        }
    }

    private void EmitTableInstruction(Code code, OpCodeInfo op, bool preferMemory, bool lockIt, bool mayFault)
    {
        var operands = new object[op.OpCount];
        bool usesMemory = false;
        // Registers an instruction writes are chosen from the unreserved ones, so any operand may be one.
        for (int i = 0; i < op.OpCount; i++)
        {
            var kind = op.GetOpKind(i);
            object value = kind switch
            {
                OpCodeOperandKind.r8_or_mem => preferMemory && !usesMemory ? Memory() : Reg8(),
                OpCodeOperandKind.r16_or_mem => preferMemory && !usesMemory ? Memory() : Reg16(),
                OpCodeOperandKind.r32_or_mem => preferMemory && !usesMemory ? Memory() : Reg32(),
                OpCodeOperandKind.r8_reg or OpCodeOperandKind.r8_opcode => Reg8(),
                OpCodeOperandKind.r16_reg or OpCodeOperandKind.r16_opcode or OpCodeOperandKind.r16_rm => Reg16(),
                OpCodeOperandKind.r32_reg or OpCodeOperandKind.r32_opcode or OpCodeOperandKind.r32_rm => Reg32(),
                OpCodeOperandKind.mem => Memory(),
                OpCodeOperandKind.mem_offs => AbsoluteMemory(),
                OpCodeOperandKind.imm8 => _rng.Next(4) == 0 ? 0 : _rng.Next(256),
                OpCodeOperandKind.imm8sex16 or OpCodeOperandKind.imm8sex32 => _rng.Next(-128, 128),
                OpCodeOperandKind.imm16 => _rng.Next(4) == 0 ? 0xFFFF : _rng.Next(0x10000),
                OpCodeOperandKind.imm32 => (int)RandomValue32(),
                OpCodeOperandKind.imm8_const_1 => 1,
                OpCodeOperandKind.al => AL,
                OpCodeOperandKind.ax => AX,
                OpCodeOperandKind.eax => EAX,
                OpCodeOperandKind.cl => CL,
                _ => throw new InvalidOperationException($"{code}: operand kind {kind}"),
            };
            usesMemory |= value is MemoryOperand;
            operands[i] = value;
        }
        var instr = Create(code, operands);
        if (lockIt) instr.HasLockPrefix = true;
        if (mayFault && (usesMemory || lockIt || MayFaultWithoutMemory.Contains(op.Mnemonic))) Guarded(() => Add(instr));
        else Add(instr);
    }

    private static Instruction Create(Code code, object[] o) => o switch
    {
        [] => Instruction.Create(code),
        [Register r] => Instruction.Create(code, r),
        [MemoryOperand m] => Instruction.Create(code, m),
        [int i] => Instruction.Create(code, i),
        [Register r, Register s] => Instruction.Create(code, r, s),
        [Register r, MemoryOperand m] => Instruction.Create(code, r, m),
        [MemoryOperand m, Register r] => Instruction.Create(code, m, r),
        [Register r, int i] => Instruction.Create(code, r, i),
        [MemoryOperand m, int i] => Instruction.Create(code, m, i),
        [Register r, Register s, int i] => Instruction.Create(code, r, s, i),
        [Register r, MemoryOperand m, int i] => Instruction.Create(code, r, m, i),
        [MemoryOperand m, Register r, int i] => Instruction.Create(code, m, r, i),
        [Register r, Register s, Register t] => Instruction.Create(code, r, s, t),
        [MemoryOperand m, Register r, Register s] => Instruction.Create(code, m, r, s),
        _ => throw new InvalidOperationException($"{code}: no Create overload for {string.Join(", ", o.Select(x => x.GetType().Name))}"),
    };

    // ---- operands ----

    private Register Reg32()
    {
        Register[] set = _real ? [EAX, EBX, ECX, EDX, ESI, EDI, EBP] : [EAX, EBX, ECX, EDX, ESI, EDI];
        while (true) { var r = set[_rng.Next(set.Length)]; if (!(_ecxBusy && r == ECX)) return r; }
    }

    private Register Reg16()
    {
        Register[] set = _real ? [AX, BX, CX, DX, SI, DI, BP] : [AX, BX, CX, DX, SI, DI];
        while (true) { var r = set[_rng.Next(set.Length)]; if (!(_ecxBusy && r == CX)) return r; }
    }

    private Register Reg8()
    {
        Register[] set = [AL, BL, CL, DL, AH, BH, CH, DH];
        while (true) { var r = set[_rng.Next(set.Length)]; if (!(_ecxBusy && r is CL or CH)) return r; }
    }

    private uint RandomValue32() => _rng.Next(8) switch
    {
        0 => 0,
        1 => 0xFFFFFFFF,
        2 => 0x80000000,
        3 => 0x7FFFFFFF,
        4 => (uint)_rng.Next(256),
        _ => (uint)_rng.Next() ^ ((uint)_rng.Next(2) << 31),
    };

    private MemoryOperand Memory() => _real ? Memory16() : Memory32();

    /// <summary>A memory operand inside the data area (or the stack), sometimes near the paged holes or through FS/GS.</summary>
    private MemoryOperand Memory32()
    {
        Register seg = _rng.Next(10) switch { 0 => ES, 1 => SS, 2 => FS, 3 => GS, 4 => DS, _ => None };
        int disp = DataOffset();
        switch (_rng.Next(5))
        {
            case 0:
            {
                // Masking the index first keeps the address in the data area and makes the index a live value.
                Register index = _ecxBusy ? EDI : (_rng.Next(2) == 0 ? EDI : ESI);
                Add(Instruction.Create(Iced.Intel.Code.And_rm32_imm32, index, 0x3FC));
                int scale = 1 << _rng.Next(4);
                return new MemoryOperand(EBP, index, scale, _rng.Next(0x800), 4, false, seg);
            }
            case 1:
                return new MemoryOperand(None, None, 1, Data + (uint)disp, 4, false, seg == GS ? None : seg);
            case 2:
                return new MemoryOperand(ESP, None, 1, _rng.Next(0x40), 1, false, seg is GS or FS ? None : seg);
            default:
                return new MemoryOperand(EBP, None, 1, disp, disp < 0x80 ? 1 : 4, false, seg);
        }
    }

    private int DataOffset()
    {
        int roll = _rng.Next(20);
        if (roll == 0) return (int)(ReadOnlyPage - Data) + _rng.Next(-8, 0x1000);
        if (roll == 1) return (int)(MissingPage - Data) + _rng.Next(-8, 0x1000);
        if (roll == 2) return (int)SafeData - _rng.Next(1, 8);
        return _rng.Next((int)SafeData - 8);
    }

    /// <summary>16-bit addressing (wrapping in its 64 KiB segment), sometimes 32-bit addressing that overruns the limit.</summary>
    private MemoryOperand Memory16()
    {
        Register seg = _rng.Next(8) switch { 0 => ES, 1 => SS, 2 => FS, 3 => GS, 4 => DS, _ => None };
        int disp = _rng.Next(4) switch { 0 => 0, 1 => _rng.Next(-128, 128), 2 => 0xFFFF - _rng.Next(3), _ => _rng.Next(0x10000) };
        if (_rng.Next(12) == 0)
        {
            var wide = Reg32();
            return new MemoryOperand(wide, None, 1, _rng.Next(0x100), 4, false, seg);
        }
        (Register b, Register i) = _rng.Next(9) switch
        {
            0 => (BX, SI), 1 => (BX, DI), 2 => (BP, SI), 3 => (BP, DI), 4 => (SI, None), 5 => (DI, None), 6 => (BP, None), 7 => (BX, None),
            _ => (None, None),
        };
        if (b == None) return new MemoryOperand(None, None, 1, disp & 0xFFFF, 2, false, seg);
        if (b == BP && disp == 0) disp = 2; // [bp] has no encoding without a displacement
        int size = disp is >= -128 and < 128 ? 1 : 2;
        return new MemoryOperand(b, i, 1, size == 1 ? disp : (short)disp, size, false, seg);
    }

    private MemoryOperand AbsoluteMemory() => _real
        ? new MemoryOperand(None, None, 1, _rng.Next(0x10000), 2, false, None)
        : new MemoryOperand(None, None, 1, Data + (uint)DataOffset(), 4, false, None);

    // ---- the resume protocol ----

    /// <summary>Emits "store the address after <paramref name="body"/> as the handler's resume address", then the body.</summary>
    private void Guarded(Action body)
    {
        int after = NewLabel();
        if (_real)
            Add(Instruction.Create(Iced.Intel.Code.Mov_rm16_imm16, new MemoryOperand(None, None, 1, RealResume, 2, false, CS), (int)AddressOf(after)));
        else
            Add(Instruction.Create(Iced.Intel.Code.Mov_rm32_imm32, new MemoryOperand(None, None, 1, Resume32, 4, false, SS), AddressOf(after))); // SS: DS may be null just now
        body();
        Place(after);
    }

    // ---- shapes ----

    private void ForwardBranch()
    {
        int skip = NewLabel();
        var l = _labels[skip];
        switch (_rng.Next(18))
        {
            case 0: _a.jo(l); break;
            case 1: _a.jno(l); break;
            case 2: _a.jb(l); break;
            case 3: _a.jae(l); break;
            case 4: _a.je(l); break;
            case 5: _a.jne(l); break;
            case 6: _a.jbe(l); break;
            case 7: _a.ja(l); break;
            case 8: _a.js(l); break;
            case 9: _a.jns(l); break;
            case 10: _a.jp(l); break;
            case 11: _a.jnp(l); break;
            case 12: _a.jl(l); break;
            case 13: _a.jge(l); break;
            case 14: _a.jle(l); break;
            case 15: _a.jg(l); break;
            case 16: if (_real) _a.jcxz(l); else _a.jecxz(l); break;
            default: _a.jmp(l); break;
        }
        for (int k = _rng.Next(1, 4); k > 0; k--) TableInstruction(memory: true, mayFault: true);
        Place(skip);
    }

    private void CountedLoop()
    {
        if (_ecxBusy) { TableInstruction(memory: true, mayFault: true); return; }
        Register counter = _real ? CX : ECX;
        Add(Instruction.Create(_real ? Iced.Intel.Code.Push_r16 : Iced.Intel.Code.Push_r32, counter));
        int count = _rng.Next(10) == 0 ? _rng.Next(60, 200) : _rng.Next(1, 24);
        Add(Instruction.Create(_real ? Iced.Intel.Code.Mov_r16_imm16 : Iced.Intel.Code.Mov_r32_imm32, counter, count));
        int top = NewLabel();
        Place(top);
        _ecxBusy = true;
        for (int k = _rng.Next(1, 5); k > 0; k--)
        {
            if (_rng.Next(6) == 0) ForwardBranch();
            else TableInstruction(memory: true, mayFault: true);
        }
        _ecxBusy = false;
        var l = _labels[top];
        switch (_rng.Next(4))
        {
            case 0: _a.loop(l); break;
            case 1: _a.loope(l); break;
            case 2: _a.loopne(l); break;
            default:
                Add(Instruction.Create(_real ? Iced.Intel.Code.Dec_r16 : Iced.Intel.Code.Dec_r32, counter));
                _a.jne(l);
                break;
        }
        Add(Instruction.Create(_real ? Iced.Intel.Code.Pop_r16 : Iced.Intel.Code.Pop_r32, counter));
    }

    private static readonly Code[] StringCodes =
    [
        Iced.Intel.Code.Movsb_m8_m8, Iced.Intel.Code.Movsw_m16_m16, Iced.Intel.Code.Movsd_m32_m32,
        Iced.Intel.Code.Stosb_m8_AL, Iced.Intel.Code.Stosw_m16_AX, Iced.Intel.Code.Stosd_m32_EAX,
        Iced.Intel.Code.Lodsb_AL_m8, Iced.Intel.Code.Lodsw_AX_m16, Iced.Intel.Code.Lodsd_EAX_m32,
        Iced.Intel.Code.Cmpsb_m8_m8, Iced.Intel.Code.Cmpsw_m16_m16, Iced.Intel.Code.Cmpsd_m32_m32,
        Iced.Intel.Code.Scasb_AL_m8, Iced.Intel.Code.Scasw_AX_m16, Iced.Intel.Code.Scasd_EAX_m32,
    ];

    /// <summary>A string operation with or without REP/REPE/REPNE, either direction, sometimes long (several REP chunks) or into a paged hole.</summary>
    private void StringOperation()
    {
        if (_ecxBusy) { TableInstruction(memory: true, mayFault: true); return; }
        var code = StringCodes[_rng.Next(StringCodes.Length)];
        int width = (int)code.ToOpCode().OperandSize switch { 16 => 2, 32 => 4, _ => 1 };
        bool down = _rng.Next(3) == 0;
        int count = _rng.Next(12) == 0 ? 5000 / width + _rng.Next(100) : _rng.Next(0, 40);
        if (_real)
        {
            // Any SI/DI: offsets wrap inside DS (0x2000) and ES (0x3000).
            Add(Instruction.Create(Iced.Intel.Code.Mov_r16_imm16, SI, _rng.Next(0x10000)));
            Add(Instruction.Create(Iced.Intel.Code.Mov_r16_imm16, DI, _rng.Next(0x10000)));
            Add(Instruction.Create(Iced.Intel.Code.Mov_r16_imm16, CX, count));
        }
        else
        {
            uint span = (uint)(count * width);
            bool intoHole = _mode == GuestMode.Paged32 && _rng.Next(3) == 0;
            uint Start() => intoHole
                ? ReadOnlyPage - (uint)_rng.Next(0, Math.Max(1, (int)span))
                : down ? Data + span + (uint)_rng.Next(0, (int)Math.Max(1, SafeData - span - 4)) : Data + (uint)_rng.Next(0, (int)Math.Max(1, SafeData - span - 4));
            Add(Instruction.Create(Iced.Intel.Code.Mov_r32_imm32, ESI, Start()));
            Add(Instruction.Create(Iced.Intel.Code.Mov_r32_imm32, EDI, Start()));
            Add(Instruction.Create(Iced.Intel.Code.Mov_r32_imm32, ECX, count));
        }
        Add(Instruction.Create(down ? Iced.Intel.Code.Std : Iced.Intel.Code.Cld));
        int rep = _rng.Next(4);
        Guarded(() =>
        {
            int bits = _real ? 16 : 32;
            var rp = RepPrefix(rep, code.ToOpCode().Mnemonic is Mnemonic.Cmpsb or Mnemonic.Cmpsw or Mnemonic.Cmpsd or Mnemonic.Scasb or Mnemonic.Scasw or Mnemonic.Scasd);
            var i = code switch
            {
                Iced.Intel.Code.Movsb_m8_m8 => Instruction.CreateMovsb(bits, repPrefix: rp),
                Iced.Intel.Code.Movsw_m16_m16 => Instruction.CreateMovsw(bits, repPrefix: rp),
                Iced.Intel.Code.Movsd_m32_m32 => Instruction.CreateMovsd(bits, repPrefix: rp),
                Iced.Intel.Code.Stosb_m8_AL => Instruction.CreateStosb(bits, rp),
                Iced.Intel.Code.Stosw_m16_AX => Instruction.CreateStosw(bits, rp),
                Iced.Intel.Code.Stosd_m32_EAX => Instruction.CreateStosd(bits, rp),
                Iced.Intel.Code.Lodsb_AL_m8 => Instruction.CreateLodsb(bits, repPrefix: rp),
                Iced.Intel.Code.Lodsw_AX_m16 => Instruction.CreateLodsw(bits, repPrefix: rp),
                Iced.Intel.Code.Lodsd_EAX_m32 => Instruction.CreateLodsd(bits, repPrefix: rp),
                Iced.Intel.Code.Cmpsb_m8_m8 => Instruction.CreateCmpsb(bits, repPrefix: rp),
                Iced.Intel.Code.Cmpsw_m16_m16 => Instruction.CreateCmpsw(bits, repPrefix: rp),
                Iced.Intel.Code.Cmpsd_m32_m32 => Instruction.CreateCmpsd(bits, repPrefix: rp),
                Iced.Intel.Code.Scasb_AL_m8 => Instruction.CreateScasb(bits, rp),
                Iced.Intel.Code.Scasw_AX_m16 => Instruction.CreateScasw(bits, rp),
                _ => Instruction.CreateScasd(bits, rp),
            };
            Add(i);
        });
    }

    private static RepPrefixKind RepPrefix(int roll, bool compares) => roll switch
    {
        0 => RepPrefixKind.None,
        1 when compares => RepPrefixKind.Repne,
        _ => RepPrefixKind.Repe,
    };

    private void StackPair()
    {
        bool o32 = !_real || _rng.Next(2) == 0;
        switch (_rng.Next(4))
        {
            case 0:
                Add(Instruction.Create(o32 ? Iced.Intel.Code.Pushad : Iced.Intel.Code.Pushaw));
                TableInstruction(memory: true, mayFault: false);
                if (!_real && _rng.Next(2) == 0)
                {
                    // Change a saved register in the frame POPAD reloads (not ESP, which POPAD skips, nor EBP).
                    Add(Instruction.Create(Iced.Intel.Code.Mov_rm32_imm32, new MemoryOperand(ESP, None, 1, 4 * _rng.Next(0, 2), 1, false, None), RandomValue32()));
                }
                Add(Instruction.Create(o32 ? Iced.Intel.Code.Popad : Iced.Intel.Code.Popaw));
                break;
            case 1:
                Add(Instruction.Create(o32 ? Iced.Intel.Code.Pushd_imm32 : Iced.Intel.Code.Push_imm16, _real && !o32 ? _rng.Next(0x10000) : (int)RandomValue32()));
                Add(Instruction.Create(o32 ? Iced.Intel.Code.Pop_r32 : Iced.Intel.Code.Pop_r16, o32 ? Reg32() : Reg16()));
                break;
            case 2:
                Add(Instruction.Create(_real ? Iced.Intel.Code.Pushw_DS : Iced.Intel.Code.Pushd_DS, DS));
                Add(Instruction.Create(_real ? Iced.Intel.Code.Popw_ES : Iced.Intel.Code.Popd_ES, ES));
                break;
            default:
                Guarded(() => Add(Instruction.Create(o32 ? Iced.Intel.Code.Push_rm32 : Iced.Intel.Code.Push_rm16, Memory())));
                Guarded(() => Add(Instruction.Create(o32 ? Iced.Intel.Code.Pop_rm32 : Iced.Intel.Code.Pop_rm16, Memory())));
                break;
        }
    }

    private void NearCall()
    {
        int retImm = _rng.Next(3) == 0 ? (_real ? 2 : 4) : 0;
        int f = NewLabel();
        _functions.Add((f, retImm, _rng.Next(0, 4)));
        if (retImm != 0) Add(Instruction.Create(_real ? Iced.Intel.Code.Push_imm16 : Iced.Intel.Code.Pushd_imm32, 0x1234));
        _a.call(_labels[f]);
    }

    private void FarTransfer()
    {
        int after = NewLabel();
        uint target = AddressOf(_farFunction);
        if (_real)
        {
            switch (_rng.Next(7))
            {
                case 0: Add(Instruction.CreateBranch(Iced.Intel.Code.Call_ptr1616, RealCs, target)); break;
                case 1: Add(Instruction.CreateBranch(Iced.Intel.Code.Call_ptr1616, (ushort)(RealCs + 1), (target - 0x10) & 0xFFFF)); break; // same bytes through another CS
                case 2: Add(Instruction.CreateBranch(Iced.Intel.Code.Jmp_ptr1616, RealCs, AddressOf(after))); break;
                case 3:
                    Add(Instruction.Create(Iced.Intel.Code.Pushfw));
                    Add(Instruction.Create(Iced.Intel.Code.Pushw_CS, CS));
                    Add(Instruction.Create(Iced.Intel.Code.Push_imm16, (int)AddressOf(after)));
                    Add(Instruction.Create(Iced.Intel.Code.Iretw));
                    break;
                case 4:
                    Guarded(() => Add(Instruction.Create(Iced.Intel.Code.Int_imm8, SoftwareVector)));
                    break;
                case 5:
                {
                    int ptr = 0xFF00 + 4 * _rng.Next(0x20);
                    Add(Instruction.Create(Iced.Intel.Code.Mov_rm16_imm16, new MemoryOperand(None, None, 1, ptr, 2, false, None), (int)target));
                    Add(Instruction.Create(Iced.Intel.Code.Mov_rm16_imm16, new MemoryOperand(None, None, 1, ptr + 2, 2, false, None), RealCs));
                    Add(Instruction.Create(Iced.Intel.Code.Call_m1616, new MemoryOperand(None, None, 1, ptr, 2, false, None)));
                    break;
                }
                default:
                    Add(Instruction.Create(Iced.Intel.Code.Pushw_CS, CS));
                    Add(Instruction.Create(Iced.Intel.Code.Push_imm16, (int)AddressOf(after)));
                    Add(Instruction.Create(Iced.Intel.Code.Retfw));
                    break;
            }
        }
        else
        {
            switch (_rng.Next(8))
            {
                case 0: Add(Instruction.CreateBranch(Iced.Intel.Code.Call_ptr1632, Code32, target)); break;
                case 1: Add(Instruction.CreateBranch(Iced.Intel.Code.Call_ptr1632, CallGate, 0)); break;
                case 2: Add(Instruction.CreateBranch(Iced.Intel.Code.Jmp_ptr1632, Code32, AddressOf(after))); break;
                case 3:
                    Add(Instruction.Create(Iced.Intel.Code.Pushfd));
                    Add(Instruction.Create(Iced.Intel.Code.Pushd_imm32, Code32));
                    Add(Instruction.Create(Iced.Intel.Code.Pushd_imm32, AddressOf(after)));
                    Add(Instruction.Create(Iced.Intel.Code.Iretd));
                    break;
                case 4:
                    Guarded(() => Add(Instruction.Create(Iced.Intel.Code.Int_imm8, SoftwareVector)));
                    break;
                case 5:
                {
                    int ptr = (int)SafeData - 0x100 + 8 * _rng.Next(0x10);
                    var seg = _stack16 ? DS : None; // [EBP] is SS-relative: past Data16's limit
                    Add(Instruction.Create(Iced.Intel.Code.Mov_rm32_imm32, new MemoryOperand(EBP, None, 1, ptr, 4, false, seg), target));
                    Add(Instruction.Create(Iced.Intel.Code.Mov_rm16_imm16, new MemoryOperand(EBP, None, 1, ptr + 4, 4, false, seg), Code32));
                    Add(Instruction.Create(Iced.Intel.Code.Call_m1632, new MemoryOperand(EBP, None, 1, ptr, 4, false, seg)));
                    break;
                }
                case 6: Add(Instruction.CreateBranch(Iced.Intel.Code.Call_ptr1632, Code16, Code16Function)); break;
                default:
                    Add(Instruction.Create(Iced.Intel.Code.Pushd_imm32, Code32));
                    Add(Instruction.Create(Iced.Intel.Code.Pushd_imm32, AddressOf(after)));
                    Add(Instruction.Create(Iced.Intel.Code.Retfd));
                    break;
            }
        }
        Place(after);
    }

    private void SegmentLoad()
    {
        if (_real)
        {
            ushort[] values = [RealDs, RealEs, RealSs];
            var reg = _ecxBusy ? DX : Reg16();
            Add(Instruction.Create(Iced.Intel.Code.Mov_r16_imm16, reg, values[_rng.Next(values.Length)]));
            Add(Instruction.Create(Iced.Intel.Code.Mov_Sreg_rm16, _rng.Next(2) == 0 ? ES : FS, reg));
            if (_rng.Next(2) == 0)
            {
                // LES from a far pointer the program just stored.
                int ptr = 0xFE00 + 4 * _rng.Next(0x20);
                Add(Instruction.Create(Iced.Intel.Code.Mov_rm16_imm16, new MemoryOperand(None, None, 1, ptr, 2, false, None), _rng.Next(0x10000)));
                Add(Instruction.Create(Iced.Intel.Code.Mov_rm16_imm16, new MemoryOperand(None, None, 1, ptr + 2, 2, false, None), values[_rng.Next(values.Length)]));
                Add(Instruction.Create(Iced.Intel.Code.Les_r16_m1616, _ecxBusy ? DI : Reg16(), new MemoryOperand(None, None, 1, ptr, 2, false, None)));
            }
            return;
        }
        var r = _ecxBusy ? EDX : Reg32();
        var r16 = Low16(r);
        switch (_rng.Next(6))
        {
            case 0:
            {
                // A read-only data segment in ES: a write through it is #GP(0).
                Add(Instruction.Create(Iced.Intel.Code.Mov_r32_imm32, r, ReadOnlyData));
                Add(Instruction.Create(Iced.Intel.Code.Mov_Sreg_r32m16, ES, r));
                Guarded(() => Add(Instruction.Create(Iced.Intel.Code.Mov_rm32_r32, new MemoryOperand(EBP, None, 1, _rng.Next(0x100), 4, false, ES), EAX)));
                Guarded(() => Add(Instruction.Create(Iced.Intel.Code.Mov_r32_rm32, EAX, new MemoryOperand(EBP, None, 1, _rng.Next(0x100), 4, false, ES))));
                break;
            }
            case 1:
                // A null DS: loading it is fine, using it is #GP(0).
                Add(Instruction.Create(Iced.Intel.Code.Xor_r32_rm32, r, r));
                Add(Instruction.Create(Iced.Intel.Code.Mov_Sreg_rm16, DS, r16));
                Guarded(() => Add(Instruction.Create(Iced.Intel.Code.Add_r32_rm32, EAX, new MemoryOperand(EBP, None, 1, _rng.Next(0x100), 4, false, None))));
                break;
            case 2:
                // Selectors past the GDT's limit or of a system/code segment: #GP(selector).
                Add(Instruction.Create(Iced.Intel.Code.Mov_r32_imm32, r, _rng.Next(3) switch { 0 => 0x1234, 1 => GdtEntries * 8, _ => CallGate }));
                Guarded(() => Add(Instruction.Create(Iced.Intel.Code.Mov_Sreg_rm16, _rng.Next(2) == 0 ? ES : GS, r16)));
                break;
            case 3:
                Add(Instruction.Create(Iced.Intel.Code.Mov_r32_imm32, r, OffsetData));
                Add(Instruction.Create(Iced.Intel.Code.Mov_Sreg_rm16, ES, r16));
                Add(Instruction.Create(Iced.Intel.Code.And_rm32_imm32, EDI, 0x3FC));
                Guarded(() => Add(Instruction.CreateStosd(32)));
                break;
            case 4:
            {
                // LFS from a far pointer in memory.
                int ptr = (int)SafeData - 0x200 + 8 * _rng.Next(0x10);
                Add(Instruction.Create(Iced.Intel.Code.Mov_rm32_imm32, new MemoryOperand(EBP, None, 1, ptr, 4, false, None), (uint)_rng.Next(0x100)));
                Add(Instruction.Create(Iced.Intel.Code.Mov_rm16_imm16, new MemoryOperand(EBP, None, 1, ptr + 4, 4, false, None), _rng.Next(2) == 0 ? LimitedData : Data32));
                Guarded(() => Add(Instruction.Create(Iced.Intel.Code.Lfs_r32_m1632, r, new MemoryOperand(EBP, None, 1, ptr, 4, false, None))));
                break;
            }
            default:
                // A write through CS is #GP(0): code segments are never writable.
                Guarded(() => Add(Instruction.Create(Iced.Intel.Code.Mov_rm32_r32, new MemoryOperand(EBP, None, 1, 0, 1, false, CS), EAX)));
                break;
        }
        // Back to the standard data segments.
        Add(Instruction.Create(Iced.Intel.Code.Mov_r32_imm32, r, Data32));
        Add(Instruction.Create(Iced.Intel.Code.Mov_Sreg_rm16, DS, r16));
        Add(Instruction.Create(Iced.Intel.Code.Mov_Sreg_rm16, ES, r16));
        Add(Instruction.Create(Iced.Intel.Code.Mov_r32_imm32, r, LimitedData));
        Add(Instruction.Create(Iced.Intel.Code.Mov_Sreg_rm16, FS, r16));
        Add(Instruction.Create(Iced.Intel.Code.Mov_r32_imm32, r, OffsetData));
        Add(Instruction.Create(Iced.Intel.Code.Mov_Sreg_rm16, GS, r16));
    }

    private static Register Low16(Register r32) => (Register)(r32 - EAX + AX);

    private void DeliberateFault()
    {
        var r = _ecxBusy ? EBX : Reg32();
        switch (_rng.Next(_real ? 9 : 11))
        {
            case 0: Guarded(() => Add(Instruction.Create(Iced.Intel.Code.Ud2))); break;
            case 1:
                Add(Instruction.Create(Iced.Intel.Code.Xor_r32_rm32, r, r));
                Guarded(() => Add(Instruction.Create(_rng.Next(2) == 0 ? Iced.Intel.Code.Div_rm32 : Iced.Intel.Code.Idiv_rm32, r)));
                break;
            case 2:
                if (r == EAX || r == EDX) r = EBX;
                Add(Instruction.Create(Iced.Intel.Code.Mov_r32_imm32, EAX, 0x80000000u));
                Add(Instruction.Create(Iced.Intel.Code.Cdq));
                Add(Instruction.Create(Iced.Intel.Code.Mov_r32_imm32, r, 0xFFFFFFFFu));
                Guarded(() => Add(Instruction.Create(Iced.Intel.Code.Idiv_rm32, r)));
                break;
            case 3: Guarded(() => Add(Instruction.Create(Iced.Intel.Code.Aam_imm8, 0))); break;
            case 4:
            {
                // BOUND against bounds the program stores, the index inside or outside them (#BR).
                int lo = _rng.Next(-100, 100), hi = lo + _rng.Next(0, 50);
                var bounds = _real ? new MemoryOperand(None, None, 1, 0xFD00, 2, false, None) : new MemoryOperand(EBP, None, 1, (int)SafeData - 0x300, 4, false, None);
                var boundsHi = _real ? new MemoryOperand(None, None, 1, 0xFD02, 2, false, None) : new MemoryOperand(EBP, None, 1, (int)SafeData - 0x2FC, 4, false, None);
                if (_real)
                {
                    Add(Instruction.Create(Iced.Intel.Code.Mov_rm16_imm16, bounds, lo & 0xFFFF));
                    Add(Instruction.Create(Iced.Intel.Code.Mov_rm16_imm16, boundsHi, hi & 0xFFFF));
                    Add(Instruction.Create(Iced.Intel.Code.Mov_r16_imm16, AX, (lo + _rng.Next(-10, 60)) & 0xFFFF));
                    Guarded(() => Add(Instruction.Create(Iced.Intel.Code.Bound_r16_m1616, AX, bounds)));
                }
                else
                {
                    Add(Instruction.Create(Iced.Intel.Code.Mov_rm32_imm32, bounds, lo));
                    Add(Instruction.Create(Iced.Intel.Code.Mov_rm32_imm32, boundsHi, hi));
                    Add(Instruction.Create(Iced.Intel.Code.Mov_r32_imm32, EAX, lo + _rng.Next(-10, 60)));
                    Guarded(() => Add(Instruction.Create(Iced.Intel.Code.Bound_r32_m3232, EAX, bounds)));
                }
                break;
            }
            case 5:
                // INTO traps (#OF) only when OF is set.
                Add(Instruction.Create(Iced.Intel.Code.Mov_r8_imm8, AL, _rng.Next(2) == 0 ? 0x7F : 0x10));
                Add(Instruction.Create(Iced.Intel.Code.Add_rm8_imm8, AL, 1));
                Guarded(() => Add(Instruction.Create(Iced.Intel.Code.Into)));
                break;
            case 6: Guarded(() => Add(Instruction.Create(Iced.Intel.Code.Int3))); break;
            case 7:
                // LOCK on a register destination, and MOV to CS: #UD.
                if (_rng.Next(2) == 0)
                {
                    var i = Instruction.Create(Iced.Intel.Code.Add_rm32_r32, r, EBX);
                    i.HasLockPrefix = true;
                    Guarded(() => Add(i));
                }
                else Guarded(() => _a.db(0x8E, 0xC8));
                break;
            case 8:
                if (_real)
                {
                    // A word at offset 0xFFFF overruns the segment: #GP, or #SS through SS.
                    bool ss = _rng.Next(2) == 0;
                    Guarded(() => Add(Instruction.Create(Iced.Intel.Code.Mov_r16_rm16, AX, new MemoryOperand(None, None, 1, 0xFFFF, 2, false, ss ? SS : None))));
                }
                else
                {
                    // Past FS's limit: #GP(0).
                    Guarded(() => Add(Instruction.Create(Iced.Intel.Code.Mov_r32_rm32, EAX, new MemoryOperand(EBP, None, 1, (int)SafeData - _rng.Next(-16, 3), 4, false, FS))));
                }
                break;
            case 9:
            {
                // Paged32: a read from the missing page, a read or write straddling into it, a write to the read-only page.
                uint at = _rng.Next(4) switch
                {
                    0 => MissingPage + (uint)_rng.Next(0x1000),
                    1 => MissingPage - (uint)_rng.Next(1, 4),
                    2 => ReadOnlyPage + (uint)_rng.Next(0x1000),
                    _ => ReadOnlyPage - (uint)_rng.Next(1, 4),
                };
                var m = new MemoryOperand(None, None, 1, at, 4, false, None);
                if (_rng.Next(2) == 0) Guarded(() => Add(Instruction.Create(Iced.Intel.Code.Mov_r32_rm32, EAX, m)));
                else Guarded(() => Add(Instruction.Create(Iced.Intel.Code.Add_rm32_r32, m, EAX)));
                break;
            }
            default:
                // A near CALL whose push faults is not useful; a far RET to a null selector is #GP(0).
                Add(Instruction.Create(Iced.Intel.Code.Pushd_imm32, 0));
                Add(Instruction.Create(Iced.Intel.Code.Pushd_imm32, 0x1000));
                Guarded(() => Add(Instruction.Create(Iced.Intel.Code.Retfd)));
                Add(Instruction.Create(Iced.Intel.Code.Add_rm32_imm8, ESP, 8));
                break;
        }
    }

    /// <summary>
    /// 32-bit code on a 16-bit stack (SS.B = 0: PUSH/POP/CALL/RET/ENTER/LEAVE, exception and interrupt frames move SP
    /// only): pushes and pops of every size, PUSHAD/POPAD, PUSHF/POPF, near calls, ENTER/LEAVE, far transfers, string
    /// operations and faulting table instructions, then back to the 32-bit stack. ESP's high half is zero meanwhile,
    /// so the 32-bit handlers find their frames through ESP/EBP. Blocks enter code using the stack only with SS.B = 1
    /// or run it through the interpreter's handlers, which is what this checks. (Real-mode programs use a 16-bit stack anyway.)
    /// </summary>
    private void SixteenBitStack()
    {
        if (_real) { TableInstruction(memory: true, mayFault: true); return; } // (real-mode programs stay as they were)
        var saved = new MemoryOperand(None, None, 1, (int)SavedEsp, 4, false, SS);
        Add(Instruction.Create(Iced.Intel.Code.Mov_rm32_r32, saved, ESP));
        Add(Instruction.Create(Iced.Intel.Code.Mov_r32_imm32, ESP, 0x6F00 - 4 * _rng.Next(16) - (_rng.Next(4) == 0 ? 2 : 0)));
        var r = _ecxBusy ? EDX : Reg32();
        Add(Instruction.Create(Iced.Intel.Code.Mov_r32_imm32, r, Data16));
        Add(Instruction.Create(Iced.Intel.Code.Mov_Sreg_rm16, SS, Low16(r)));
        for (int k = _rng.Next(2, 8); k > 0; k--)
        {
            switch (_rng.Next(10))
            {
                case 0:
                    Add(Instruction.Create(Iced.Intel.Code.Push_r32, Reg32()));
                    Add(Instruction.Create(Iced.Intel.Code.Pop_r32, Reg32()));
                    break;
                case 1:
                    Add(Instruction.Create(Iced.Intel.Code.Push_imm16, _rng.Next(0x10000)));
                    Add(Instruction.Create(Iced.Intel.Code.Pop_r16, Reg16()));
                    break;
                case 2: NearCall(); break;
                case 3:
                    // (Unguarded, so no memory operand: EBP/ESP-based ones are #SS past Data16's limit.)
                    Add(Instruction.Create(Iced.Intel.Code.Pushad));
                    TableInstruction(memory: false, mayFault: false);
                    Add(Instruction.Create(Iced.Intel.Code.Popad));
                    break;
                case 4: TableInstruction(memory: true, mayFault: true); break;
                case 5:
                    Guarded(() => Add(Instruction.Create(Iced.Intel.Code.Push_rm32, Memory())));
                    Guarded(() => Add(Instruction.Create(Iced.Intel.Code.Pop_rm32, Memory())));
                    break;
                case 6:
                    // ENTER/LEAVE move BP (EBP's low half) and SP: nothing between them addresses through EBP.
                    Add(Instruction.Create(Iced.Intel.Code.Enterd_imm16_imm8, 4 * _rng.Next(8), _rng.Next(3)));
                    for (int t = _rng.Next(0, 3); t > 0; t--) TableInstruction(memory: false, mayFault: false);
                    Add(Instruction.Create(Iced.Intel.Code.Leaved));
                    break;
                case 7:
                    _stack16 = true;
                    FarTransfer();
                    _stack16 = false;
                    break;
                case 8: FlagsThroughStack(); break;
                default: StringOperation(); break;
            }
        }
        r = _ecxBusy ? EDX : Reg32();
        Add(Instruction.Create(Iced.Intel.Code.Mov_r32_imm32, r, Data32));
        Add(Instruction.Create(Iced.Intel.Code.Mov_Sreg_rm16, SS, Low16(r)));
        Add(Instruction.Create(Iced.Intel.Code.Mov_r32_rm32, ESP, saved));
    }

    /// <summary>PUSHF, flip some arithmetic flags (and DF) in the image, POPF: flags consumers then see values no ALU made.</summary>
    private void FlagsThroughStack()
    {
        bool o32 = !_real || _rng.Next(2) == 0;
        Add(Instruction.Create(o32 ? Iced.Intel.Code.Pushfd : Iced.Intel.Code.Pushfw));
        var top = new MemoryOperand(ESP, None, 1, 0, 0, false, None);
        if (_real)
        {
            // 16-bit code cannot address [sp]: go through BP, which is an ordinary register here.
            Add(Instruction.Create(Iced.Intel.Code.Mov_r16_rm16, BP, SP));
            top = new MemoryOperand(BP, None, 1, 0, 1, false, SS);
        }
        Add(Instruction.Create(Iced.Intel.Code.Xor_rm16_imm16, top, _rng.Next() & 0xCD5));
        Add(Instruction.Create(o32 ? Iced.Intel.Code.Popfd : Iced.Intel.Code.Popfw));
        for (int k = _rng.Next(1, 3); k > 0; k--) TableInstruction(memory: true, mayFault: true);
    }

    /// <summary>A store into the immediate of an instruction a little further on (self-modifying code inside one block).</summary>
    private void PatchNextInstruction()
    {
        int target = NewLabel();
        int value = _rng.Next(256);
        if (_real)
            Add(Instruction.Create(Iced.Intel.Code.Mov_rm8_imm8, new MemoryOperand(None, None, 1, (int)AddressOf(target) + 1, 2, false, CS), value));
        else
            Add(Instruction.Create(Iced.Intel.Code.Mov_rm8_imm8, new MemoryOperand(None, None, 1, AddressOf(target) + 1, 4, false, None), value));
        for (int k = _rng.Next(0, 3); k > 0; k--) TableInstruction(memory: false, mayFault: false);
        Place(target);
        if (_real) Add(Instruction.Create(Iced.Intel.Code.Mov_r16_imm16, _ecxBusy ? AX : Reg16(), 0x1111));
        else Add(Instruction.Create(Iced.Intel.Code.Mov_r32_imm32, _ecxBusy ? EAX : Reg32(), 0x11111111));
    }

    private sealed class ByteWriter : CodeWriter
    {
        public readonly List<byte> Bytes = [];
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
