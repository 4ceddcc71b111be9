namespace MiniVM.Devices.Vga;

/// <summary>The IBM PC character ROM's code page 437 as Unicode, including the glyphs in 0x01–0x1F and 0x7F.</summary>
public static class Cp437
{
    private const string Low = " ☺☻♥♦♣♠•◘○◙♂♀♪♫☼►◄↕‼¶§▬↨↑↓→←∟↔▲▼";
    private const string High =
        "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒ" +
        "áíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐" +
        "└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀" +
        "αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■ ";

    public static char ToChar(byte code) => code switch
    {
        < 0x20 => Low[code],
        < 0x7F => (char)code,
        0x7F => '⌂',
        _ => High[code - 0x80],
    };
}
