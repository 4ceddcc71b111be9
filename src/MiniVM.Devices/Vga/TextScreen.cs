namespace MiniVM.Devices.Vga;

/// <summary>
/// A copy of the VGA text screen: per cell the CP437 code in the low byte and the attribute in the high byte
/// (foreground in bits 0..3, background in 4..6, blink or bright background in 7), and where the cursor is.
/// What a text front end (the terminal display) draws; <see cref="VgaDevice.ReadTextScreen"/> makes one.
/// </summary>
public sealed record TextScreen(int Columns, int Rows, ushort[] Cells, int CursorColumn, int CursorRow, bool CursorVisible)
{
    public ushort this[int row, int column] => Cells[row * Columns + column];
}
