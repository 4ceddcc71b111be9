using System.Text;

namespace MiniVM.Machine;

/// <summary>
/// The escapes of text typed into a guest or looked for on its screen (`--sendkeys`, `--until`, the monitor's
/// `sendserial`): \n or \r a line break (Enter), \t Tab, \b Backspace, \e Escape, \\ a backslash. Any other backslash
/// stays as it is, so DOS paths such as A:\&gt; or C:\W\BIG1.BIN mean themselves.
/// </summary>
public static class EscapedText
{
    public static string Parse(string s)
    {
        var sb = new StringBuilder(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] != '\\' || i + 1 == s.Length) { sb.Append(s[i]); continue; }
            char c = s[++i];
            switch (c)
            {
                case 'n' or 'r': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'b': sb.Append('\b'); break;
                case 'e': sb.Append('\x1b'); break;
                case '\\': sb.Append('\\'); break;
                default: sb.Append('\\').Append(c); break;
            }
        }
        return sb.ToString();
    }
}
