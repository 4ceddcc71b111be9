namespace MiniVM.Block.Qcow2;

/// <summary>One header extension as stored after the header in cluster 0 (qcow2.txt "Header extensions").</summary>
/// <param name="Type">The extension's magic; 0 ends the list and is never stored here.</param>
/// <param name="Data">The payload without its padding to 8 bytes.</param>
public sealed record Qcow2HeaderExtension(uint Type, byte[] Data)
{
    public const uint BackingFormat = 0xE2792ACA;
    public const uint FeatureNameTable = 0x6803F857;
    public const uint Bitmaps = 0x23852875;
    public const uint FullDiskEncryption = 0x0537BE77;
    public const uint ExternalDataFile = 0x44415441;
}
