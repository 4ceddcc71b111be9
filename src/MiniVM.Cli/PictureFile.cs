using MiniVM.Drawing;

namespace MiniVM.Cli;

/// <summary>Writes a picture the user named with --png or --svg, and says so on stdout.</summary>
internal static class PictureFile
{
    public static void CheckName(string? file)
    {
        if (file is not null && Directory.Exists(file)) throw CommandFailure.Usage($"{file}: is a directory, not a picture file name");
    }

    /// <summary>Drawn into memory first, so a failing draw leaves no half-written picture behind.</summary>
    public static void Write(CliContext context, Picture picture, string file, bool svg, string what)
    {
        using var buffer = new MemoryStream();
        picture.Write(buffer, svg);
        File.WriteAllBytes(file, buffer.ToArray());
        context.Out.WriteLine($"{what} drawn into {file} ({buffer.Length} bytes)");
    }
}
