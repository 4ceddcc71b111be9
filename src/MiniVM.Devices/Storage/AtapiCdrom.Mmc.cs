using System.Buffers.Binary;

namespace MiniVM.Devices.Storage;

/// <summary>
/// The MMC commands of the CD-ROM (SCSI Multimedia Commands, MMC-5 / T10 1675D, and SPC-3 for the common ones): the
/// set SeaBIOS's El Torito boot, Linux's sr_mod/cdrom/isofs, ISOLINUX and GRUB use. Each command validates its
/// packet, then replies from a buffer (truncated to the allocation length, however absurd) or from the medium.
/// The medium is presented as a single-session data disc with one track (what an ISO 9660 image is).
/// </summary>
public sealed partial class AtapiCdrom
{
    // Discs larger than an 80-minute CD are reported as DVD-ROM (QEMU's CD_MAX_SECTORS).
    private const long CdMaxSectors = 80L * 60 * 75;

    private void ExecutePacket(ReadOnlySpan<byte> p)
    {
        byte op = p[0];
        // A pending medium change is reported once to any command but those that must work through it
        // (SPC-3 §5.8.7; QEMU's ALLOW_UA flag).
        if (_unitAttention && op is not (0x03 or 0x12 or 0x46 or 0x4A))
        {
            _unitAttention = false;
            Fail(ScsiSense.MediumMayHaveChanged);
            return;
        }
        if (NeedsMedium(op) && !MediumPresent)
        {
            Fail(TrayOpen ? ScsiSense.MediumNotPresentTrayOpen : ScsiSense.MediumNotPresentTrayClosed);
            return;
        }
        switch (op)
        {
            case 0x00: CommandOk(); break;                                   // TEST UNIT READY
            case 0x03: RequestSense(p); break;
            case 0x12: Inquiry(p); break;
            case 0x1B: StartStopUnit(p); break;
            case 0x1E: Locked = (p[4] & 1) != 0; CommandOk(); break;         // PREVENT ALLOW MEDIUM REMOVAL
            case 0x25: ReadCapacity(); break;
            case 0x28: Read(p, BinaryPrimitives.ReadUInt32BigEndian(p[2..]), BinaryPrimitives.ReadUInt16BigEndian(p[7..])); break;
            case 0xA8: Read(p, BinaryPrimitives.ReadUInt32BigEndian(p[2..]), BinaryPrimitives.ReadUInt32BigEndian(p[6..])); break;
            case 0xBE: ReadCd(p); break;
            case 0x2B: Seek(p); break;
            case 0x43: ReadToc(p); break;
            case 0x46: GetConfiguration(p); break;
            case 0x4A: GetEventStatusNotification(p); break;
            case 0x51: ReadDiscInformation(p); break;
            case 0x5A: ModeSense10(p); break;
            case 0xBB: CommandOk(); break;                                   // SET CD SPEED: any speed is ours
            case 0xBD: MechanismStatus(p); break;
            default: Fail(ScsiSense.InvalidOpcode); break;
        }
    }

    private static bool NeedsMedium(byte op) => op is 0x00 or 0x25 or 0x28 or 0xA8 or 0xBE or 0x2B or 0x43 or 0x51;

    private static int Alloc16(ReadOnlySpan<byte> p, int at) => BinaryPrimitives.ReadUInt16BigEndian(p[at..]);

    private void ReplyTruncated(int length, int allocation) => Reply(Math.Min(length, allocation));

    private void RequestSense(ReadOnlySpan<byte> p)
    {
        var sense = _sense;
        sense.WriteFixedFormat(_buffer);
        ReplyTruncated(18, p[4]); // the reply's completion clears the sense, a unit attention included
    }

    private void Inquiry(ReadOnlySpan<byte> p)
    {
        if ((p[1] & 1) != 0) { Fail(ScsiSense.InvalidFieldInCdb); return; } // no vital product data pages
        var b = _buffer.AsSpan(0, 36);
        b.Clear();
        b[0] = 0x05;        // CD/DVD device
        b[1] = 0x80;        // removable
        b[2] = 0x00;
        b[3] = 0x21;        // ATAPI transport version 2, response data format 1
        b[4] = 36 - 5;
        Ascii(b[8..16], "MiniVM");
        Ascii(b[16..32], Model);
        Ascii(b[32..36], Firmware);
        ReplyTruncated(36, Alloc16(p, 3));
    }

    private static void Ascii(Span<byte> field, string text)
    {
        for (int i = 0; i < field.Length; i++) field[i] = i < text.Length ? (byte)text[i] : (byte)' ';
    }

    // START STOP UNIT (MMC-5 §6.39): LoEj with Start=0 opens the tray (the medium stays in it, as on a real drive),
    // LoEj with Start=1 closes it. A guest lock refuses the eject.
    private void StartStopUnit(ReadOnlySpan<byte> p)
    {
        bool start = (p[4] & 1) != 0, loadEject = (p[4] & 2) != 0;
        if (loadEject)
        {
            if (!start)
            {
                if (Locked) { Fail(ScsiSense.MediumRemovalPrevented); return; }
                TrayOpen = true;
            }
            else if (TrayOpen)
            {
                TrayOpen = false;
                if (_medium is not null) _newMediaEvent = true;
            }
        }
        CommandOk();
    }

    private void ReadCapacity()
    {
        BinaryPrimitives.WriteUInt32BigEndian(_buffer, (uint)Math.Min(MediumSectors - 1, uint.MaxValue));
        BinaryPrimitives.WriteUInt32BigEndian(_buffer.AsSpan(4), SectorSize);
        Reply(8);
    }

    private void Read(ReadOnlySpan<byte> p, uint lba, uint count)
    {
        if (count == 0) { CommandOk(); return; }
        if (lba + (long)count > MediumSectors) { Fail(ScsiSense.LbaOutOfRange); return; }
        ReplyFromMedium(lba, count);
    }

    // READ CD (MMC-5 §6.19): only whole user-data sectors of a data track (byte 9 = 10h), which is all a
    // 2048-byte ISO image has; a request for no fields moves nothing.
    private void ReadCd(ReadOnlySpan<byte> p)
    {
        uint lba = BinaryPrimitives.ReadUInt32BigEndian(p[2..]);
        uint count = (uint)((p[6] << 16) | (p[7] << 8) | p[8]);
        switch (p[9] & 0xF8)
        {
            case 0x00: CommandOk(); break;
            case 0x10: Read(p, lba, count); break;
            default: Fail(ScsiSense.InvalidFieldInCdb); break;
        }
    }

    private void Seek(ReadOnlySpan<byte> p)
    {
        if (BinaryPrimitives.ReadUInt32BigEndian(p[2..]) >= MediumSectors) { Fail(ScsiSense.LbaOutOfRange); return; }
        CommandOk();
    }

    // READ TOC/PMA/ATIP (MMC-5 §6.26): format 0 (TOC), 1 (session information), 2 (raw TOC), in LBA or MSF.
    private void ReadToc(ReadOnlySpan<byte> p)
    {
        bool msf = (p[1] & 2) != 0;
        int format = p[2] & 0x0F;
        if (format == 0) format = p[9] >> 6; // the SFF-8020i placement, still used by older hosts
        int startTrack = p[6];
        int allocation = Alloc16(p, 7);
        var b = _buffer.AsSpan(0, 64);
        b.Clear();
        long sectors = MediumSectors;
        int len;
        switch (format)
        {
            case 0:
            {
                if (startTrack > 1 && startTrack != 0xAA) { Fail(ScsiSense.InvalidFieldInCdb); return; }
                b[2] = 1; b[3] = 1;
                int q = 4;
                if (startTrack <= 1) q = TocEntry(b, q, 1, 0, msf);
                q = TocEntry(b, q, 0xAA, sectors, msf);
                len = q;
                break;
            }
            case 1:
                b[2] = 1; b[3] = 1;
                TocEntry(b, 4, 1, 0, msf);
                len = 12;
                break;
            case 2:
            {
                b[2] = 1; b[3] = 1;
                int q = 4;
                q = RawTocEntry(b, q, 0xA0, [0, 1, 0, 0]);           // first track 1, disc type CD-ROM
                q = RawTocEntry(b, q, 0xA1, [0, 1, 0, 0]);           // last track 1
                Span<byte> leadOut = stackalloc byte[4];
                Address(leadOut, sectors, msf);
                q = RawTocEntry(b, q, 0xA2, leadOut);
                Span<byte> track = stackalloc byte[4];
                Address(track, 0, msf);
                q = RawTocEntry(b, q, 1, track);
                len = q;
                break;
            }
            default:
                Fail(ScsiSense.InvalidFieldInCdb);
                return;
        }
        BinaryPrimitives.WriteUInt16BigEndian(b, (ushort)(len - 2));
        ReplyTruncated(len, allocation);
    }

    private static int TocEntry(Span<byte> b, int q, int track, long lba, bool msf)
    {
        b[q + 1] = 0x14; // ADR 1 (position), control 4 (data track)
        b[q + 2] = (byte)track;
        Address(b.Slice(q + 4, 4), lba, msf);
        return q + 8;
    }

    private static int RawTocEntry(Span<byte> b, int q, int point, ReadOnlySpan<byte> pAddress)
    {
        b[q] = 1;        // session
        b[q + 1] = 0x14;
        b[q + 3] = (byte)point;
        pAddress.CopyTo(b[(q + 7)..]);
        return q + 11;
    }

    // An address field: a big-endian LBA, or 0, M, S, F with the 2-second lead-in (MMC-5 §4.2.3.3).
    private static void Address(Span<byte> field, long lba, bool msf)
    {
        if (!msf) { BinaryPrimitives.WriteUInt32BigEndian(field, (uint)lba); return; }
        long frames = lba + 150;
        field[0] = 0;
        field[1] = (byte)Math.Min(frames / (75 * 60), 255);
        field[2] = (byte)(frames / 75 % 60);
        field[3] = (byte)(frames % 75);
    }

    // GET CONFIGURATION (MMC-5 §6.6): the profile list (DVD-ROM, CD-ROM, the current one flagged), Core (ATAPI) and
    // Removable Medium features; without a medium the current profile is 0.
    private void GetConfiguration(ReadOnlySpan<byte> p)
    {
        var b = _buffer.AsSpan(0, 64);
        b.Clear();
        int profile = !MediumPresent ? 0 : MediumSectors > CdMaxSectors ? 0x0010 : 0x0008;
        BinaryPrimitives.WriteUInt16BigEndian(b[6..], (ushort)profile);
        int q = 8;
        // Feature 0000h: profile list.
        b[q + 2] = 0x03; b[q + 3] = 8;
        BinaryPrimitives.WriteUInt16BigEndian(b[(q + 4)..], 0x0010); b[q + 6] = (byte)(profile == 0x0010 ? 1 : 0);
        BinaryPrimitives.WriteUInt16BigEndian(b[(q + 8)..], 0x0008); b[q + 10] = (byte)(profile == 0x0008 ? 1 : 0);
        q += 12;
        // Feature 0001h: core, physical interface ATAPI.
        b[q + 1] = 0x01; b[q + 2] = 0x0B; b[q + 3] = 8;
        BinaryPrimitives.WriteUInt32BigEndian(b[(q + 4)..], 2);
        b[q + 8] = 1;
        q += 12;
        // Feature 0003h: removable medium, tray loader, eject and lock supported, lock state.
        b[q + 1] = 0x03; b[q + 2] = 0x0B; b[q + 3] = 4;
        b[q + 4] = (byte)(0x39 | (Locked ? 0x04 : 0));
        q += 8;
        BinaryPrimitives.WriteUInt32BigEndian(b, (uint)(q - 4));
        ReplyTruncated(q, Alloc16(p, 7));
    }

    // GET EVENT STATUS NOTIFICATION (MMC-5 §6.7), polled only: the media class, whose event is reported once.
    private void GetEventStatusNotification(ReadOnlySpan<byte> p)
    {
        if ((p[1] & 1) == 0) { Fail(ScsiSense.InvalidFieldInCdb); return; } // asynchronous operation is not supported
        var b = _buffer.AsSpan(0, 8);
        b.Clear();
        const byte MediaClass = 1 << 4;
        b[3] = MediaClass;                                   // supported event classes
        int len;
        if ((p[4] & MediaClass) != 0)
        {
            b[2] = 4;                                        // notification class: media
            b[4] = (byte)(_ejectRequestEvent ? 1 : _newMediaEvent ? 2 : 0);
            b[5] = (byte)((TrayOpen ? 1 : 0) | (MediumPresent ? 2 : 0));
            _ejectRequestEvent = _newMediaEvent = false;
            len = 8;
        }
        else
        {
            b[2] = 0x80;                                     // no event available of the requested classes
            len = 4;
        }
        BinaryPrimitives.WriteUInt16BigEndian(b, (ushort)(len - 4));
        ReplyTruncated(len, Alloc16(p, 7));
    }

    // READ DISC INFORMATION (MMC-5 §6.22), standard type: a complete, finalized one-session disc.
    private void ReadDiscInformation(ReadOnlySpan<byte> p)
    {
        if ((p[1] & 7) != 0) { Fail(ScsiSense.InvalidFieldInCdb); return; }
        var b = _buffer.AsSpan(0, 34);
        b.Clear();
        b[1] = 32;
        b[2] = 0x0E;        // last session complete, disc finalized
        b[3] = 1; b[4] = 1; b[5] = 1; b[6] = 1;
        b[7] = 0x20;        // unrestricted use
        ReplyTruncated(34, Alloc16(p, 7));
    }

    // MODE SENSE(10) (SPC-3 §6.10): the read-write error recovery page (01h), the capabilities page (2Ah), or both.
    private void ModeSense10(ReadOnlySpan<byte> p)
    {
        int control = p[2] >> 6, page = p[2] & 0x3F;
        if (control == 3) { Fail(ScsiSense.SavingParametersNotSupported); return; }
        if (page is not (0x01 or 0x2A or 0x3F)) { Fail(ScsiSense.InvalidFieldInCdb); return; }
        var b = _buffer.AsSpan(0, 64);
        b.Clear();
        b[2] = 0x70;        // medium type, as QEMU reports it
        int q = 8;
        if (page is 0x01 or 0x3F)
        {
            b[q] = 0x01; b[q + 1] = 6;
            b[q + 3] = 5;   // read retry count
            q += 8;
        }
        if (page is 0x2A or 0x3F)
        {
            b[q] = 0x2A; b[q + 1] = 18;
            b[q + 2] = 0x3B;                                  // reads CD-R/RW, DVD-ROM/R/RAM
            b[q + 4] = 0x71;                                  // audio play (some Linux versions test it), multisession, mode 2
            b[q + 5] = 3 << 5;
            b[q + 6] = (byte)(0x29 | (Locked ? 0x02 : 0));    // lock, eject, tray loader; lock state
            BinaryPrimitives.WriteUInt16BigEndian(b[(q + 8)..], 706);  // maximum read speed, kB/s
            b[q + 11] = 2;                                    // volume levels
            BinaryPrimitives.WriteUInt16BigEndian(b[(q + 12)..], 512); // buffer, KiB
            BinaryPrimitives.WriteUInt16BigEndian(b[(q + 14)..], 706); // current read speed
            q += 20;
        }
        BinaryPrimitives.WriteUInt16BigEndian(b, (ushort)(q - 2));
        ReplyTruncated(q, Alloc16(p, 7));
    }

    private void MechanismStatus(ReadOnlySpan<byte> p)
    {
        var b = _buffer.AsSpan(0, 8);
        b.Clear();
        b[1] = (byte)(TrayOpen ? 0x10 : 0);                    // door open
        b[5] = 1;                                              // one slot
        ReplyTruncated(8, Alloc16(p, 8));
    }
}
