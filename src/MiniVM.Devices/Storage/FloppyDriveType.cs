namespace MiniVM.Devices.Storage;

/// <summary>Floppy drive types, numbered as the CMOS byte 0x10 nibbles that the BIOS reads (SeaBIOS FloppyInfo).</summary>
public enum FloppyDriveType : byte
{
    None = 0,
    Drive360K = 1,
    Drive1200K = 2,
    Drive720K = 3,
    Drive1440K = 4,
    Drive2880K = 5,
}
