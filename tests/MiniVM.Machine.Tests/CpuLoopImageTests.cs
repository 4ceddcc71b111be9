using System.Buffers.Binary;
using System.Text;
using MiniVM.Machine.Configuration;
using MiniVM.Machine.Tests.Boot;

namespace MiniVM.Machine.Tests;

/// <summary>
/// The boot image of bench/cpu-vs-bochs.sh (bench/cpu-loop.bin, assembled from bench/cpu-loop.asm; the script refuses
/// to run when the two differ, so this test needs no assembler) booted by SeaBIOS on the PC, in process. It proves
/// the image runs the intended loop: the registers it reports on COM1 and the debug console are those an independent
/// model of GuestLoop.cs's loop computes, and the guest instructions between two iteration counts are exactly
/// 13 per iteration plus the INC EBP fall-throughs, the count the script turns into MIPS.
/// </summary>
public sealed class CpuLoopImageTests : IDisposable
{
    private const int IterationsOffset = 0x1F8;
    private readonly string _dir = Directory.CreateTempSubdirectory("minivm-cpuloop").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The loop of GuestLoop.cs on a model CPU: EAX, EBX, EDI and EBP after <paramref name="iterations"/>.</summary>
    private static (uint Eax, uint Ebx, uint Edi, uint Ebp) Model(uint iterations)
    {
        uint eax = 0, ebx = 0, edi = 0, ebp = 0;
        for (uint ecx = iterations; ecx != 0; ecx--)
        {
            eax += ecx;
            ebx ^= eax;
            uint edx = eax;                    // stored to [ESI + 1 MiB] and loaded back
            if (edx != ebx) ebp++;             // JE skip falls through to INC EBP
            edi += edx * 2 + 1;                // LEA in the called function
        }
        return (eax, ebx, edi, ebp);
    }

    /// <summary>
    /// The loop's machine code in cpu-loop.bin, from TOP to RET: the same instructions and encodings Iced assembles for
    /// GuestLoop.cs (only CALL's displacement differs: GuestLoop has a 1-byte HLT after JNZ, the image a 2-byte JMP).
    /// </summary>
    private static readonly byte[] LoopCode = Convert.FromHexString(
        "01C8" + "31C3" + "898600001000" + "8B9600001000" + "83C604" + "81E6FF0F0000" + "39DA" + "7401" + "45" +
        "E805000000" + "49" + "75DA" + "EB05" + "8D7C5701" + "C3");

    /// <param name="InstructionsToReport">The CPU's count when it first stood at the report code after the loop.</param>
    private sealed record Boot(string Serial, string Debug, ulong InstructionsToReport, uint[] Saved);

    private Boot Run(uint iterations)
    {
        byte[] sector = File.ReadAllBytes(Path.Combine(MiniVmProcess.RepoRoot, "bench", "cpu-loop.bin"));
        Assert.Equal(512, sector.Length);
        Assert.Equal(0xAA55, BinaryPrimitives.ReadUInt16LittleEndian(sector.AsSpan(510)));
        int top = sector.AsSpan().IndexOf(LoopCode);
        Assert.True(top > 0, "bench/cpu-loop.bin does not hold GuestLoop's loop");
        uint loopStart = 0x7C00 + (uint)top, report = loopStart + (uint)LoopCode.Length;
        BinaryPrimitives.WriteUInt32LittleEndian(sector.AsSpan(IterationsOffset), iterations);
        string floppy = Path.Combine(_dir, $"loop-{iterations}.img");
        var options = MiniVmProcess.FloppyBootOptions(floppy, sector);
        var serial = new SerialText();
        var debug = new StringBuilder();
        using var machine = new PcMachine(options, new MachineOutputs { Serial = serial.Append, DebugLog = b => debug.Append((char)b) });
        var cpu = machine.Cpu;

        // To the report code in slices of 10,000 instructions, single steps once fewer than 1024 iterations are left,
        // so the count is exact. The slices before the loop are the same whatever the iteration count (virtual clock,
        // fixed RTC).
        bool Paged() => (cpu.Cr0 & 0x8000_0000) != 0;
        bool InLoop() => Paged() && cpu.Eip >= loopStart && cpu.Eip < report;
        for (long guard = 0; !(Paged() && cpu.Eip == report); guard++)
        {
            Assert.True(guard < 2_000_000 && !(cpu.Halted && (cpu.Eflags & 0x200) == 0), $"the guest never left the loop (EIP={cpu.Eip:X8})");
            machine.RunSlice(InLoop() && cpu.Ecx < 1024 ? 1 : 10_000);
        }
        ulong toReport = cpu.InstructionCount;

        var runner = new MachineRunner(machine, serial) { Until = " END\r\n", Timeout = TimeSpan.FromSeconds(60) };
        var outcome = runner.Run();
        Assert.True(outcome is RunOutcome.UntilMatched or RunOutcome.GuestHalted, $"run ended {outcome}; COM1: {serial}");
        for (int slice = 0; slice < 100 && !cpu.Halted; slice++) machine.RunSlice(200_000);
        Assert.True(cpu.Halted && (cpu.Eflags & 0x200) == 0, "the guest did not stop with CLI; HLT");

        // cpu-loop.asm keeps the registers the loop left at 0x7000 before printing them.
        byte[] saved = new byte[16];
        machine.Memory.Read(0x7000, saved);
        uint[] registers = [.. Enumerable.Range(0, 4).Select(i => BinaryPrimitives.ReadUInt32LittleEndian(saved.AsSpan(i * 4)))];
        return new Boot(serial.ToString(), debug.ToString(), toReport, registers);
    }

    /// <summary>Two boots (the script's N and 3N in small): each reports the model's registers, and they differ by the loop alone.</summary>
    [Fact]
    public void TheBenchmarkImageRunsGuestLoopsLoopAndReportsItsRegisters()
    {
        const uint small = 20_000, large = 60_000;
        var a = Run(small);
        var b = Run(large);

        foreach (var (iterations, boot) in new[] { (small, a), (large, b) })
        {
            var (eax, ebx, edi, ebp) = Model(iterations);
            string expected = $"CPULOOP EAX={eax:X8} EBX={ebx:X8} EDI={edi:X8} EBP={ebp:X8} END\r\n";
            Assert.Equal([eax, ebx, edi, ebp], boot.Saved);
            Assert.Contains(expected, boot.Serial);                 // COM1: what `minivm run --until` watches
            Assert.EndsWith("\n" + expected, boot.Debug);           // port 0x402, after SeaBIOS's own log
        }
        // Up to the report, boot and setup are the same for both counts and the loop runs with IF=0: only the loop
        // differs, by 13 instructions an iteration plus INC EBP's — the count bench/cpu-vs-bochs.sh divides by time.
        ulong loopDifference = 13UL * (large - small) + Model(large).Ebp - Model(small).Ebp;
        Assert.Equal(loopDifference, b.InstructionsToReport - a.InstructionsToReport);
    }
}
