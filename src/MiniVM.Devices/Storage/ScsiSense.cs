namespace MiniVM.Devices.Storage;

/// <summary>
/// A SCSI sense condition: sense key, additional sense code and qualifier (SPC-3 §4.5.6, Annex D), the reason a
/// packet command ended with CHECK CONDITION. REQUEST SENSE reports the last one; the ATAPI Error register carries
/// its key in bits 4-7 (ATA-6 §8.23).
/// </summary>
public readonly record struct ScsiSense(byte Key, byte Asc, byte Ascq = 0)
{
    public const byte NoSenseKey = 0x0, NotReadyKey = 0x2, MediumErrorKey = 0x3, IllegalRequestKey = 0x5, UnitAttentionKey = 0x6;

    public static ScsiSense None => new(NoSenseKey, 0);
    public static ScsiSense MediumNotPresentTrayClosed => new(NotReadyKey, 0x3A, 0x01);
    public static ScsiSense MediumNotPresentTrayOpen => new(NotReadyKey, 0x3A, 0x02);
    public static ScsiSense MediumRemovalPrevented => new(NotReadyKey, 0x53, 0x02);
    public static ScsiSense UnrecoveredReadError => new(MediumErrorKey, 0x11);
    public static ScsiSense InvalidOpcode => new(IllegalRequestKey, 0x20);
    public static ScsiSense LbaOutOfRange => new(IllegalRequestKey, 0x21);
    public static ScsiSense InvalidFieldInCdb => new(IllegalRequestKey, 0x24);
    public static ScsiSense SavingParametersNotSupported => new(IllegalRequestKey, 0x39);
    public static ScsiSense IncompatibleMedium => new(IllegalRequestKey, 0x30);
    public static ScsiSense MediumMayHaveChanged => new(UnitAttentionKey, 0x28);

    /// <summary>The 18-byte fixed-format sense data (SPC-3 §4.5.3), response code 70h.</summary>
    public void WriteFixedFormat(Span<byte> data)
    {
        data[..18].Clear();
        data[0] = 0x70;
        data[2] = Key;
        data[7] = 10;
        data[12] = Asc;
        data[13] = Ascq;
    }
}
