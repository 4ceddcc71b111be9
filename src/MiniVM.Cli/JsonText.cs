using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace MiniVM.Cli;

/// <summary>Indented JSON for `--output json`, with file names left readable (no \u escaping of '+' or '/').</summary>
internal static class JsonText
{
    public static string Write(Action<Utf8JsonWriter> body)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            body(w);
        return Encoding.UTF8.GetString(stream.GetBuffer(), 0, (int)stream.Length);
    }
}
