using Iced.Intel;
using MiniVM.Cpu.Fpu;

namespace MiniVM.Cpu;

// Integration of the x87 unit: CR0.EM/TS/MP (#NM), pending-error handling (#MF when CR0.NE=1, else the FERR#
// line the machine routes to IRQ13), FNSTSW AX, and EFLAGS exchange for FCOMI/FCMOV (SDM vol. 1 §8.7, vol. 3 §2.5).
public sealed partial class X86Cpu
{
    private readonly X87 _fpu = new();
    private readonly FpuOperandAccess _fpuMemory;
    private bool _ferr;
    private static readonly bool[] X87Codes = BuildX87Codes();

    public X87 Fpu => _fpu;

    /// <summary>State of the FERR# output (CR0.NE = 0 error reporting). The machine raises IRQ13 while it is set.</summary>
    public bool FerrAsserted => _ferr;

    /// <summary>Raised whenever FERR# changes level.</summary>
    public event Action<bool>? FerrChanged;

    internal uint InstructionStartEip => _startEip;

    private void InitFpu() => _ferr = false;

    private static bool[] BuildX87Codes()
    {
        var t = new bool[Enum.GetValues<Code>().Length + 1];
        foreach (Code c in Enum.GetValues<Code>())
        {
            var info = c.ToOpCode();
            uint first = info.OpCodeLength == 2 ? info.OpCode >> 8 : info.OpCode;
            if (info.Encoding == EncodingKind.Legacy && info.Table == OpCodeTableKind.Normal && first is >= 0xD8 and <= 0xDF)
                t[(int)c] = true;
        }
        return t;
    }

    private static bool IsX87(in Instruction ins) => X87Codes[(int)ins.Code];

    private void SetFerr(bool level)
    {
        if (_ferr == level) return;
        _ferr = level;
        FerrChanged?.Invoke(level);
    }

    private static bool IsNonWaiting(in Instruction ins) => ins.Mnemonic is Mnemonic.Fninit or Mnemonic.Fnclex or Mnemonic.Fnstcw
        or Mnemonic.Fnstsw or Mnemonic.Fnstenv or Mnemonic.Fnsave or Mnemonic.Fneni or Mnemonic.Fndisi or Mnemonic.Fnsetpm;

    private void ExecuteX87(in Instruction ins)
    {
        // EM or TS makes every ESC instruction #NM (SDM vol. 3 Table 2-2).
        if ((Cr0_ & (CR0_EM | CR0_TS)) != 0) throw new GuestFault(7);
        if (!IsNonWaiting(in ins) && _fpu.ErrorPending)
        {
            if ((Cr0_ & CR0_NE) != 0) throw new GuestFault(16);
            SetFerr(true);
        }
        if (ins.Code is Code.Fnstsw_AX or Code.Fstsw_AX)
        {
            R[0] = (R[0] & 0xFFFF0000) | _fpu.StatusWord;
        }
        else
        {
            _fpuMemory.Setup(in ins);
            try
            {
                if (X87.UsesEflags(in ins))
                {
                    _fpu.Eflags = Flags_;
                    _fpu.Execute(in ins, _fpuMemory);
                    Flags_ = (Flags_ & ~ArithFlags) | (_fpu.Eflags & ArithFlags);
                }
                else _fpu.Execute(in ins, _fpuMemory);
            }
            catch (ArgumentException)
            {
                // X87 rejects ESC encodings a P6 does not have (287XL/387SL forms): those are #UD.
                throw new GuestFault(6);
            }
        }
        if (!_fpu.ErrorPending) SetFerr(false);
    }

    private void ExecWait()
    {
        if ((Cr0_ & (CR0_TS | CR0_MP)) == (CR0_TS | CR0_MP)) throw new GuestFault(7);
        if (_fpu.ErrorPending)
        {
            if ((Cr0_ & CR0_NE) != 0) throw new GuestFault(16);
            SetFerr(true);
        }
    }

    /// <summary>Checks that every byte of a linear range is writable before a multi-byte FPU store begins.</summary>
    internal void ProbeWrite(uint lin, int length)
    {
        Translate(lin, true, Cpl == 3);
        Translate(lin + (uint)length - 1, true, Cpl == 3);
    }
}
