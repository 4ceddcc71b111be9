using System.Diagnostics;
using System.Globalization;
using MiniVM.Block.CrashWriter;

namespace MiniVM.Block.Tests;

/// <summary>
/// The SIGKILL crash harness every format's crash test shares: start the CrashWriter child on an image, kill it a
/// while after READY, then replay the same workload to know which bytes a completed flush made durable and which a
/// later (possibly half-done) op may have changed. The per-format tests keep their own rounds, kill windows, checks
/// and repair rules.
/// </summary>
internal static class CrashRounds
{
    /// <summary>Ops per writer run; the kill comes long before the writer gets through them.</summary>
    public const int MaxOps = 20_000;

    /// <summary>How many ops after the last completed flush are counted as possibly landed (the rest cannot have run).</summary>
    private const int LaterOpsBound = 4000;

    /// <summary>The CrashWriter assembly copied next to the tests.</summary>
    public static string WriterPath()
    {
        string writer = Path.Combine(AppContext.BaseDirectory, "MiniVM.Block.CrashWriter.dll");
        Assert.True(File.Exists(writer), writer);
        return writer;
    }

    /// <summary>
    /// Starts the writer, SIGKILLs it <paramref name="killAfterMs"/> after its first progress line, returns the last op index whose flush
    /// completed (-1 if none). With <paramref name="stderrMustBeEmpty"/> anything the writer wrote to stderr fails the test.
    /// </summary>
    public static int RunAndKill(string writer, string image, int seed, int killAfterMs, bool withSnapshots, bool stderrMustBeEmpty) =>
        RunAndKill(writer, image, seed, killAfterMs, withSnapshots ? "snapshots" : null, stderrMustBeEmpty);

    /// <summary>
    /// As above with the writer's mode (null, "snapshots" or "noflush"); in "noflush" mode the answer is the last op
    /// whose write returned before the kill.
    /// </summary>
    public static int RunAndKill(string writer, string image, int seed, int killAfterMs, string? mode, bool stderrMustBeEmpty)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(writer);
        psi.ArgumentList.Add(image);
        psi.ArgumentList.Add(seed.ToString(CultureInfo.InvariantCulture));
        psi.ArgumentList.Add(MaxOps.ToString(CultureInfo.InvariantCulture));
        if (mode is not null) psi.ArgumentList.Add(mode);
        using var p = Process.Start(psi)!;
        string? first = p.StandardOutput.ReadLine();
        if (first != "READY")
        {
            p.Kill();
            Assert.Fail($"writer did not start: {first} {p.StandardError.ReadToEnd()}");
        }
        // The kill timer starts at the first FLUSHED/COMPLETED line, so a loaded machine still kills mid-workload
        // rather than before anything could be checked.
        int last = -1;
        var progressed = new ManualResetEventSlim();
        var reader = Task.Run(() =>
        {
            string? line;
            while ((line = p.StandardOutput.ReadLine()) is not null)
            {
                if (line.StartsWith("FLUSHED ", StringComparison.Ordinal)) Volatile.Write(ref last, int.Parse(line.AsSpan(8), CultureInfo.InvariantCulture));
                else if (line.StartsWith("COMPLETED ", StringComparison.Ordinal)) Volatile.Write(ref last, int.Parse(line.AsSpan(10), CultureInfo.InvariantCulture));
                else if (line == "DONE") Volatile.Write(ref last, MaxOps);
                progressed.Set();
            }
            progressed.Set();
        });
        progressed.Wait(TimeSpan.FromSeconds(60));
        Thread.Sleep(killAfterMs);
        try { p.Kill(); } catch (InvalidOperationException) { } // already exited
        p.WaitForExit();
        reader.Wait();
        if (stderrMustBeEmpty)
        {
            string err = p.StandardError.ReadToEnd();
            Assert.True(err.Length == 0, $"writer failed (seed {seed}): {err}");
        }
        return last;
    }

    /// <summary>
    /// Replays the workload of <paramref name="seed"/> over <paramref name="shadow"/> (the disk before this run):
    /// ops up to <paramref name="lastFlushed"/> give the durable bytes, the writes and zeroes after it mark bytes that
    /// may differ and are returned in order.
    /// </summary>
    public static CrashReplay Replay(byte[] shadow, int seed, int lastFlushed, bool withSnapshots, byte[] buffer) =>
        Replay(shadow, seed, lastFlushed, withSnapshots, buffer, LaterOpsBound);

    /// <summary>As above, with at most <paramref name="laterOps"/> ops after <paramref name="lastFlushed"/> possibly landed.</summary>
    public static CrashReplay Replay(byte[] shadow, int seed, int lastFlushed, bool withSnapshots, byte[] buffer, int laterOps)
    {
        var durable = (byte[])shadow.Clone();
        var mayDiffer = new bool[shadow.Length];
        var laterChanges = new List<CrashOp>();
        int later = 0;
        foreach (var op in CrashWorkload.Ops(seed, shadow.Length, MaxOps, withSnapshots))
        {
            if (op.Index <= lastFlushed)
            {
                if (op.Kind == CrashOpKind.Write)
                {
                    CrashWorkload.Data(op.DataSeed, buffer.AsSpan(0, op.Length));
                    buffer.AsSpan(0, op.Length).CopyTo(durable.AsSpan((int)op.Offset));
                }
                else if (op.Kind == CrashOpKind.Zero) durable.AsSpan((int)op.Offset, op.Length).Clear();
                continue;
            }
            if (op.Kind is CrashOpKind.Write or CrashOpKind.Zero)
            {
                Array.Fill(mayDiffer, true, (int)op.Offset, op.Length);
                laterChanges.Add(op);
            }
            if (++later > laterOps) break;
        }
        return new CrashReplay(durable, mayDiffer, laterChanges);
    }

    /// <summary>Fails on the first byte that differs from its durable value although no later op touched it.</summary>
    public static void AssertDurable(byte[] actual, CrashReplay replay, int round, int seed, int lastFlushed)
    {
        var durable = replay.Durable;
        for (int i = 0; i < durable.Length; i++)
        {
            i += actual.AsSpan(i).CommonPrefixLength(durable.AsSpan(i)); // vectorised skip over equal bytes
            if (i >= durable.Length || replay.MayDiffer[i]) continue;
            Assert.Fail($"round {round} (seed {seed}, flushed through op {lastFlushed}): byte {i} is {actual[i]:x2}, a completed flush made it {durable[i]:x2}");
        }
    }
}

/// <summary>What a crash round's replay says about the disk: durable bytes, bytes later ops may have changed, and those ops.</summary>
internal sealed record CrashReplay(byte[] Durable, bool[] MayDiffer, List<CrashOp> LaterChanges);
