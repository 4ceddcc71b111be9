namespace MiniVM.Devices.Storage;

/// <summary>
/// The transfer mode a host selects with SET FEATURES 03h (ATA-6 §8.46.11, Table 44): the code in Sector Count is
/// 00h/01h PIO default, 08h+n PIO flow-control mode n, 20h+n multiword DMA mode n, 40h+n Ultra DMA mode n. The
/// device only records it (timing means nothing here) and reports it in IDENTIFY words 63 and 88, where Linux's
/// libata reads back what it set ("UDMA/100").
/// </summary>
public readonly record struct TransferMode(byte Code)
{
    public const int MaxMultiword = 2, MaxUltra = 5;

    /// <summary>After power-on: Ultra DMA 5 selected, the fastest mode offered (a host sets its own before using DMA).</summary>
    public static TransferMode Default => new(0x40 | MaxUltra);

    public static TransferMode? FromSetFeatures(byte code) => code switch
    {
        0x00 or 0x01 or (>= 0x08 and <= 0x0C) => new TransferMode(code),
        >= 0x20 and <= 0x20 + MaxMultiword => new TransferMode(code),
        >= 0x40 and <= 0x40 + MaxUltra => new TransferMode(code),
        _ => null,
    };

    /// <summary>IDENTIFY word 63: multiword DMA modes supported (bits 0-2) and the selected one (bits 8-10).</summary>
    public int MultiwordWord => 0x07 | ((Code & 0xF8) == 0x20 ? 0x100 << (Code & 7) : 0);

    /// <summary>IDENTIFY word 88: Ultra DMA modes supported (bits 0-5) and the selected one (bits 8-13).</summary>
    public int UltraWord => 0x3F | ((Code & 0xF8) == 0x40 ? 0x100 << (Code & 7) : 0);
}
