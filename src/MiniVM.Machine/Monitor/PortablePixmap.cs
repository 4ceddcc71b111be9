using System.Text;
using MiniVM.Devices.Vga;

namespace MiniVM.Machine.Monitor;

/// <summary>The binary PPM (P6) that QEMU's screendump writes by default: a text header, then RGB bytes row by row.</summary>
public static class PortablePixmap
{
    public static void Write(Stream stream, Framebuffer frame)
    {
        stream.Write(Encoding.ASCII.GetBytes($"P6\n{frame.Width} {frame.Height}\n255\n"));
        var row = new byte[frame.Width * 3];
        var pixels = frame.Pixels;
        for (int y = 0; y < frame.Height; y++)
        {
            for (int x = 0; x < frame.Width; x++)
            {
                uint p = pixels[y * frame.Width + x];
                row[x * 3] = (byte)(p >> 16);
                row[x * 3 + 1] = (byte)(p >> 8);
                row[x * 3 + 2] = (byte)p;
            }
            stream.Write(row);
        }
    }
}
