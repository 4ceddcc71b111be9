using System.Globalization;
using System.Text;
using MiniVM.Machine.Configuration;

namespace MiniVM.Machine.Monitor;

/// <summary>What makes a monitor-script line fire, counted from the moment the line before it fired.</summary>
public enum ScriptTrigger
{
    /// <summary>No trigger: right after the previous line.</summary>
    Immediately,
    /// <summary>`when "TEXT"`: TEXT is on the text screen, or new serial output contains it.</summary>
    Text,
    /// <summary>`after 2.5s` / `after 300ms`: virtual nanoseconds of guest execution.</summary>
    VirtualTime,
    /// <summary>`after 100000000i`: executed instructions.</summary>
    Instructions,
}

/// <summary>One line of a monitor script.</summary>
public sealed record ScriptStep(int Line, ScriptTrigger Trigger, string Text, long Amount, string Command);

/// <summary>
/// `--monitor-script FILE` (docs/monitor.md): monitor commands run in order, each when its trigger fires. Lines:
/// <c>COMMAND</c>, <c>when "TEXT" COMMAND</c>, <c>after 2.5s COMMAND</c>, <c>after 300ms COMMAND</c>,
/// <c>after 1000000i COMMAND</c>; '#' starts a comment line. Times and counts run from the previous line's firing.
/// </summary>
public sealed class MonitorScript
{
    private readonly List<ScriptStep> _steps;

    private MonitorScript(List<ScriptStep> steps) => _steps = steps;

    public IReadOnlyList<ScriptStep> Steps => _steps;

    /// <summary>A script is read whole; a larger file (or /dev/zero, a FIFO) is refused unread.</summary>
    public const int MaxFileBytes = 1 << 20;

    public static MonitorScript Load(string file)
    {
        string text;
        try { text = System.Text.Encoding.UTF8.GetString(HostInput.ReadAll(file, "--monitor-script", MaxFileBytes)); }
        catch (VmConfigException e) { throw new MonitorException(e.Message); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new MonitorException($"monitor script {file}: {e.Message}"); }
        return Parse(text, file);
    }

    public static MonitorScript Parse(string text, string name = "script")
    {
        var steps = new List<ScriptStep>();
        var lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            steps.Add(ParseLine(line, i + 1, name));
        }
        return new MonitorScript(steps);
    }

    private static ScriptStep ParseLine(string line, int number, string name)
    {
        MonitorException Fail(string why) => new($"{name}:{number}: {why}");
        string Command(string rest)
        {
            rest = rest.Trim();
            if (rest.Length == 0) throw Fail("a trigger needs a command after it");
            string word = rest.Split([' ', '\t', '/'], 2)[0]; // as HumanMonitor splits: `x/4x ADDR`
            if (!HumanMonitor.IsCommand(word)) throw Fail($"unknown command '{word}'");
            return rest;
        }

        if (line.StartsWith("when ", StringComparison.Ordinal))
        {
            string rest = line[5..].TrimStart();
            if (rest.Length == 0 || rest[0] != '"') throw Fail("when needs a quoted text: when \"C:\\>\" savevm s1");
            var sb = new StringBuilder();
            int k = 1;
            for (; k < rest.Length && rest[k] != '"'; k++)
            {
                if (rest[k] == '\\' && k + 1 < rest.Length && rest[k + 1] is '"' or '\\' or 'n')
                {
                    k++;
                    sb.Append(rest[k] == 'n' ? '\n' : rest[k]);
                }
                else sb.Append(rest[k]);
            }
            if (k >= rest.Length) throw Fail("unterminated quoted text");
            if (sb.Length == 0) throw Fail("the text to wait for is empty");
            return new ScriptStep(number, ScriptTrigger.Text, sb.ToString(), 0, Command(rest[(k + 1)..]));
        }
        if (line.StartsWith("after ", StringComparison.Ordinal))
        {
            string rest = line[6..].TrimStart();
            int sp = rest.IndexOf(' ');
            string amount = sp < 0 ? rest : rest[..sp];
            string command = Command(sp < 0 ? "" : rest[sp..]);
            if (amount.EndsWith('i') && long.TryParse(amount[..^1], NumberStyles.None, CultureInfo.InvariantCulture, out long n))
                return new ScriptStep(number, ScriptTrigger.Instructions, "", n, command);
            double scale = amount.EndsWith("ms", StringComparison.Ordinal) ? 1e6 : amount.EndsWith('s') ? 1e9 : 0;
            string digits = amount.EndsWith("ms", StringComparison.Ordinal) ? amount[..^2] : amount.EndsWith('s') ? amount[..^1] : "";
            if (scale > 0 && double.TryParse(digits, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double v) && v * scale < long.MaxValue / 2)
                return new ScriptStep(number, ScriptTrigger.VirtualTime, "", (long)(v * scale), command);
            throw Fail($"'{amount}' is not a delay: use 2.5s, 300ms (virtual time) or 1000000i (instructions)");
        }
        return new ScriptStep(number, ScriptTrigger.Immediately, "", 0, Command(line));
    }
}
