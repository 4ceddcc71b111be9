namespace MiniVM.Cpu;

// Privilege-changing transfers (interrupts through gates, inner calls) switch CS, SS and ESP before they push
// the return frame. A fault while pushing must leave the old context intact so the exception (or #DF) is
// delivered from where the guest really was (SDM vol. 3 §6.12.1: the transfer is not committed).
public sealed partial class X86Cpu
{
    private struct TransferSnapshot
    {
        public SegmentCache Es, Cs, Ss, Ds, Fs, Gs;
        public byte AccEs, AccCs, AccSs, AccDs, AccFs, AccGs;
        public uint Esp, Flags;
        public int Cpl;
    }

    private TransferSnapshot Snapshot() => new()
    {
        Es = S[0], Cs = S[1], Ss = S[2], Ds = S[3], Fs = S[4], Gs = S[5],
        AccEs = SegAccess[0], AccCs = SegAccess[1], AccSs = SegAccess[2], AccDs = SegAccess[3], AccFs = SegAccess[4], AccGs = SegAccess[5],
        Esp = R[4], Flags = Flags_, Cpl = Cpl,
    };

    private void Restore(in TransferSnapshot s)
    {
        S[0] = s.Es; S[1] = s.Cs; S[2] = s.Ss; S[3] = s.Ds; S[4] = s.Fs; S[5] = s.Gs;
        SegAccess[0] = s.AccEs; SegAccess[1] = s.AccCs; SegAccess[2] = s.AccSs; SegAccess[3] = s.AccDs; SegAccess[4] = s.AccFs; SegAccess[5] = s.AccGs;
        R[4] = s.Esp;
        Flags_ = s.Flags;
        SetCpl(s.Cpl);
        UpdateCodeBits();
    }
}
