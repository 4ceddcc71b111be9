using System.Buffers.Binary;
using System.Text;

namespace MiniVM.Devices.Vga;

/// <summary>
/// Turns video memory and registers into pixels (QEMU vga_draw_text / vga_draw_graphic), at the mode's
/// logical resolution: 720×400 for 80×25 text, 320×200 for mode 13h, 640×480 for mode 12h, XRES×YRES for VBE.
/// </summary>
public sealed partial class VgaDevice
{
    private readonly Framebuffer _frame = new();
    private readonly uint[] _palette = new uint[256];
    private readonly uint[] _palette16 = new uint[16];

    /// <summary>
    /// The blink phase for text modes: when false, the cursor and characters with the blink attribute are hidden.
    /// A window toggles it about twice a second; it stays true for screendumps so they are reproducible.
    /// </summary>
    public bool BlinkVisible { get; set; } = true;

    /// <summary>True when the standard VGA is in an alphanumeric mode (GR6 bit 0 clear) and VBE is off.</summary>
    public bool IsTextMode => !VbeEnabled && (_gc[6] & 1) == 0;

    /// <summary>Renders the current screen into the device's reusable <see cref="Framebuffer"/>.</summary>
    public Framebuffer Render()
    {
        BuildPalettes();
        if (VbeEnabled) RenderVbe();
        else
        {
            // Attribute index bit 5 clear (palette being loaded) or SR1 "screen off" blank the display.
            bool blank = (_attrIndex & 0x20) == 0 || (_seq[1] & 0x20) != 0;
            if (IsTextMode) RenderText(blank);
            else RenderGraphics(blank);
        }
        return _frame;
    }

    private uint DacColour(int index)
    {
        int o = index * 3;
        int r = _dac[o], g = _dac[o + 1], b = _dac[o + 2];
        if (!_dac8Bit)
        {
            // 6-bit components (entries written while the 8-bit DAC was on keep only their low 6 bits here).
            r &= 0x3F; g &= 0x3F; b &= 0x3F;
            r = (r << 2) | (r >> 4); g = (g << 2) | (g >> 4); b = (b << 2) | (b >> 4);
        }
        return 0xFF000000u | (uint)(r << 16) | (uint)(g << 8) | (uint)b;
    }

    private void BuildPalettes()
    {
        for (int i = 0; i < 256; i++) _palette[i] = DacColour(i & _pelMask);
        for (int i = 0; i < 16; i++)
        {
            // Attribute controller: colour plane enable, palette register, then colour select (AR14) bits 7-4.
            int p = _attr[i & _attr[0x12] & 0x0F];
            if ((_attr[0x10] & 0x80) != 0) p = (p & 0x0F) | ((_attr[0x14] & 3) << 4);
            p |= (_attr[0x14] & 0x0C) << 4;
            _palette16[i] = _palette[p];
        }
    }

    private int VerticalDisplayLines => (_crtc[0x12] | ((_crtc[7] & 0x02) << 7) | ((_crtc[7] & 0x40) << 3)) + 1;
    private int StartAddress => (_crtc[0x0C] << 8) | _crtc[0x0D];
    /// <summary>CR13 counts pairs of plane addresses per row (QEMU line_offset = CR13 × 8 bytes).</summary>
    private int RowPitch => _crtc[0x13] * 2;

    private void TextGeometry(out int cols, out int rows, out int charWidth, out int charHeight)
    {
        cols = _crtc[1] + 1;
        charWidth = (_seq[1] & 1) != 0 ? 8 : 9;
        charHeight = (_crtc[9] & 0x1F) + 1;
        int lines = VerticalDisplayLines;
        if ((_crtc[9] & 0x80) != 0) lines >>= 1;
        rows = Math.Max(1, lines / charHeight);
    }

    private void RenderText(bool blank)
    {
        TextGeometry(out int cols, out int rows, out int cw, out int ch);
        int width = cols * cw;
        var px = _frame.Resize(width, rows * ch);
        if (blank) { px.Fill(0xFF000000u); return; }

        int start = StartAddress, pitch = RowPitch;
        int sr3 = _seq[3];
        // SR3 picks the two character maps in plane 2; attribute bit 3 chooses between them (map A when set).
        int fontA = ((((sr3 >> 5) & 1) | ((sr3 >> 1) & 6)) * 8192 * 4) + 2;
        int fontB = ((((sr3 >> 4) & 1) | ((sr3 << 1) & 6)) * 8192 * 4) + 2;
        bool blinkAttr = (_attr[0x10] & 0x08) != 0;
        bool lineGraphics = (_attr[0x10] & 0x04) != 0;
        // Monochrome attributes (AR10 bit 1, mode 7): foreground 1 with background 0 is underlined at CR14's scan line.
        bool monoAttributes = (_attr[0x10] & 0x02) != 0;
        int underline = _crtc[0x14] & 0x1F;
        int cursor = (_crtc[0x0E] << 8) | _crtc[0x0F];
        bool cursorOn = (_crtc[0x0A] & 0x20) == 0 && BlinkVisible;
        int cursorFirst = _crtc[0x0A] & 0x1F, cursorLast = _crtc[0x0B] & 0x1F;
        var vram = _vram;

        for (int row = 0; row < rows; row++)
        {
            for (int col = 0; col < cols; col++)
            {
                int cell = (start + row * pitch + col) & 0xFFFF;
                int c = vram[cell << 2], a = vram[(cell << 2) + 1];
                uint fg = _palette16[a & 0x0F];
                uint bg = _palette16[blinkAttr ? (a >> 4) & 7 : a >> 4];
                if (blinkAttr && (a & 0x80) != 0 && !BlinkVisible) fg = bg;
                int glyph = ((a & 8) != 0 ? fontA : fontB) + c * 128;
                bool cursorCell = cursorOn && cell == cursor;
                bool extend = lineGraphics && c is >= 0xC0 and <= 0xDF;
                int underlineAt = monoAttributes && (a & 0x77) == 0x01 ? underline : -1;
                int dst = row * ch * width + col * cw;
                for (int line = 0; line < ch; line++, dst += width)
                {
                    int bits = vram[glyph + line * 4];
                    if ((cursorCell && line >= cursorFirst && line <= cursorLast) || line == underlineAt) bits = 0x1FF;
                    else if (cw == 9 && extend) bits = (bits << 1) | (bits & 1);
                    else bits <<= 1;
                    // bits now holds 9 dots, most significant first; 8-dot fonts ignore the last one.
                    for (int k = 0; k < cw; k++)
                        px[dst + k] = (bits & (0x100 >> k)) != 0 ? fg : bg;
                }
            }
        }
    }

    private void RenderGraphics(bool blank)
    {
        int shift = (_gc[5] >> 5) & 3;
        int dots = (_crtc[1] + 1) * 8;
        int lines = VerticalDisplayLines;
        if ((_crtc[9] & 0x80) != 0) lines >>= 1;
        int scansPerRow = (_crtc[9] & 0x1F) + 1;
        int mode17 = _crtc[0x17];
        // CR17 bits 0/1 clear: CGA/Hercules interleave, the row scan counter replaces address bits, so every
        // scan line is distinct. Otherwise the rows repeat max-scan-line times (mode 13h's 200 of 400 lines).
        bool interleaved = (mode17 & 3) != 3;
        int height = Math.Max(1, interleaved ? lines : lines / scansPerRow);
        int width = shift >= 2 ? dots / 2 : dots;
        var px = _frame.Resize(width, height);
        if (blank) { px.Fill(0xFF000000u); return; }

        int start = StartAddress, pitch = RowPitch;
        int cgaBit = (mode17 & 0x40) != 0 ? 13 : 12;
        // Line compare (CR18, CR7 bit 4, CR9 bit 6) restarts the display at address 0 after that scan line:
        // the split screen of status bars and some games. Counted in output lines here.
        int lineCompare = _crtc[0x18] | ((_crtc[7] & 0x10) << 4) | ((_crtc[9] & 0x40) << 3);
        int scansPerLine = ((_crtc[9] & 0x80) != 0 ? 2 : 1) * (interleaved ? 1 : scansPerRow);
        int split = lineCompare / scansPerLine + 1;
        // AR13 pixel panning (smooth horizontal scrolling): 0-7 dots, and 256-colour pixels are two dots wide.
        // AR10 bit 5 keeps the split-screen part below line compare unpanned.
        int pan = _attr[0x13] & 7;
        if (shift >= 2) pan >>= 1;
        bool splitUnpanned = (_attr[0x10] & 0x20) != 0;
        var vram = _vram;
        for (int y = 0; y < height; y++)
        {
            int ly = y < split ? y : y - split;
            int row = interleaved ? ly / scansPerRow : ly;
            int scan = interleaved ? ly % scansPerRow : 0;
            int addr = (y < split ? start : 0) + row * pitch;
            if ((mode17 & 1) == 0) addr = (addr & ~(1 << cgaBit)) | ((scan & 1) << cgaBit);
            if ((mode17 & 2) == 0) addr = (addr & ~(1 << 13)) | (((scan >> 1) & 1) << 13);
            var dst = px.Slice(y * width, width);
            int linePan = y >= split && splitUnpanned ? 0 : pan;
            switch (shift)
            {
                case 0: DrawPlanarLine(dst, addr, 0xFFFF, linePan); break;
                case 1: DrawCgaLine(dst, addr); break;
                default:
                    {
                        int b = (addr << 2) + linePan;
                        for (int x = 0; x < width; x++) dst[x] = _palette[vram[(b + x) & (PlanesSize - 1)]];
                        break;
                    }
            }
        }
    }

    /// <summary>
    /// 16 colours, one bit per plane per pixel, 8 pixels per plane address, starting <paramref name="skip"/>
    /// pixels into the first address (panning).
    /// </summary>
    private void DrawPlanarLine(Span<uint> dst, int addr, int addressMask, int skip)
    {
        var vram = _vram;
        int x = 0, k = skip;
        while (x < dst.Length)
        {
            int o = (addr & addressMask) << 2;
            if (o < 0 || o > vram.Length - 4) { dst[x..].Fill(0xFF000000u); return; }
            int p0 = vram[o], p1 = vram[o + 1], p2 = vram[o + 2], p3 = vram[o + 3];
            for (; k < 8 && x < dst.Length; k++, x++)
            {
                int bit = 7 - k;
                int v = ((p0 >> bit) & 1) | (((p1 >> bit) & 1) << 1) | (((p2 >> bit) & 1) << 2) | (((p3 >> bit) & 1) << 3);
                dst[x] = _palette16[v];
            }
            k = 0;
            addr++;
        }
    }

    /// <summary>CGA 4-colour packing (GR5 shift-register interleave): 2 bits per pixel, plane 0 then plane 1.</summary>
    private void DrawCgaLine(Span<uint> dst, int addr)
    {
        var vram = _vram;
        for (int x = 0; x + 8 <= dst.Length; x += 8, addr++)
        {
            int o = (addr & 0xFFFF) << 2;
            int p0 = vram[o], p1 = vram[o + 1], p2 = vram[o + 2], p3 = vram[o + 3];
            for (int k = 0; k < 4; k++)
            {
                int s = 6 - 2 * k;
                dst[x + k] = _palette16[((p0 >> s) & 3) | (((p2 >> s) & 3) << 2)];
                dst[x + 4 + k] = _palette16[((p1 >> s) & 3) | (((p3 >> s) & 3) << 2)];
            }
        }
    }

    private void RenderVbe()
    {
        int width = _vbe[VbeXres], height = _vbe[VbeYres], bpp = _vbe[VbeBpp];
        int line = VbeLineLength, start = VbeStartOffset;
        var px = _frame.Resize(width, height);
        var vram = _vram;
        int rowBytes = bpp == 4 ? width / 2 : width * VbeBytesPerPixel;
        for (int y = 0; y < height; y++)
        {
            var dst = px.Slice(y * width, width);
            int o = start + y * line;
            if (o < 0 || o > vram.Length - rowBytes) { dst.Fill(0xFF000000u); continue; }
            var src = vram.AsSpan(o, rowBytes);
            switch (bpp)
            {
                case 4: DrawPlanarLine(dst, o >> 2, int.MaxValue, (_vbe[VbeXOffset] & 7)); break;
                case 8:
                    for (int x = 0; x < width; x++) dst[x] = _palette[src[x]];
                    break;
                case 15:
                    for (int x = 0; x < width; x++)
                    {
                        int v = BinaryPrimitives.ReadUInt16LittleEndian(src[(x * 2)..]);
                        int r = (v >> 10) & 0x1F, g = (v >> 5) & 0x1F, b = v & 0x1F;
                        dst[x] = 0xFF000000u | (uint)(((r << 3) | (r >> 2)) << 16) | (uint)(((g << 3) | (g >> 2)) << 8) | (uint)((b << 3) | (b >> 2));
                    }
                    break;
                case 16:
                    for (int x = 0; x < width; x++)
                    {
                        int v = BinaryPrimitives.ReadUInt16LittleEndian(src[(x * 2)..]);
                        int r = v >> 11, g = (v >> 5) & 0x3F, b = v & 0x1F;
                        dst[x] = 0xFF000000u | (uint)(((r << 3) | (r >> 2)) << 16) | (uint)(((g << 2) | (g >> 4)) << 8) | (uint)((b << 3) | (b >> 2));
                    }
                    break;
                case 24:
                    for (int x = 0, i = 0; x < width; x++, i += 3)
                        dst[x] = 0xFF000000u | (uint)(src[i + 2] << 16) | (uint)(src[i + 1] << 8) | src[i];
                    break;
                default:
                    for (int x = 0; x < width; x++)
                        dst[x] = 0xFF000000u | (BinaryPrimitives.ReadUInt32LittleEndian(src[(x * 4)..]) & 0xFFFFFF);
                    break;
            }
        }
    }

    /// <summary>The text screen's characters, attributes and cursor; null when not in a text mode.</summary>
    public TextScreen? ReadTextScreen()
    {
        if (!IsTextMode) return null;
        TextGeometry(out int cols, out int rows, out _, out _);
        int start = StartAddress, pitch = RowPitch;
        var cells = new ushort[cols * rows];
        for (int row = 0; row < rows; row++)
            for (int col = 0; col < cols; col++)
            {
                int cell = (start + row * pitch + col) & 0xFFFF;
                cells[row * cols + col] = (ushort)(_vram[cell << 2] | (_vram[(cell << 2) + 1] << 8));
            }
        int cursor = ((_crtc[0x0E] << 8) | _crtc[0x0F]) - start;
        bool visible = (_crtc[0x0A] & 0x20) == 0 && cursor >= 0 && pitch > 0 && cursor / pitch < rows && cursor % pitch < cols;
        return visible
            ? new TextScreen(cols, rows, cells, cursor % pitch, cursor / pitch, true)
            : new TextScreen(cols, rows, cells, 0, 0, false);
    }

    /// <summary>
    /// The text screen as lines of Unicode (CP437 glyphs such as box drawing mapped to their characters),
    /// trailing spaces trimmed, each line ending in '\n'. Empty when not in a text mode.
    /// </summary>
    public string DumpText()
    {
        if (!IsTextMode) return "";
        TextGeometry(out int cols, out int rows, out _, out _);
        int start = StartAddress, pitch = RowPitch;
        var sb = new StringBuilder(rows * (cols + 1));
        for (int row = 0; row < rows; row++)
        {
            int lineStart = sb.Length;
            for (int col = 0; col < cols; col++)
            {
                int cell = (start + row * pitch + col) & 0xFFFF;
                sb.Append(Cp437.ToChar(_vram[cell << 2]));
            }
            int end = sb.Length;
            while (end > lineStart && sb[end - 1] == ' ') end--;
            sb.Length = end;
            sb.Append('\n');
        }
        return sb.ToString();
    }
}
