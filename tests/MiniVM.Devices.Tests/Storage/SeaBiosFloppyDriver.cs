using MiniVM.Devices;

namespace MiniVM.Devices.Tests.Storage;

/// <summary>
/// The port protocol of SeaBIOS 1.16 src/hw/floppy.c and src/hw/dma.c, replayed against the devices:
/// floppy_pio's MSR checks, floppy_enable_controller's DOR 00h/0Ch reset, recalibrate + sense, READ ID media
/// sense, explicit seeks and dma_floppy's channel-2 programming. A failed check throws with the reason.
/// </summary>
internal sealed class SeaBiosFloppyDriver(PortBus ports, EdgeCountingIrq irq6)
{
    public const byte CheckIrq = 0x08, Seek = 0x0F, Recalibrate = 0x07, ReadId = 0x4A, Read = 0xE6, Write = 0xC5, Format = 0x4D;

    private byte _dor;
    private int _edgesSeen = irq6.RisingEdges;

    public int Spt { get; set; } = 18;
    public int Heads { get; set; } = 2;
    public byte DataRate { get; set; }
    public int CurrentCylinder { get; private set; } = -1;

    private void Out(ushort port, byte value) => ports.Write(port, 1, value);
    private byte In(ushort port) => (byte)ports.Read(port, 1);

    private void DorWrite(byte value) { Out(0x3F2, value); _dor = value; }

    /// <summary>floppy_wait_irq: IRQ 6 must have fired since the last wait (the ISR sets a BDA flag).</summary>
    private void WaitIrq()
    {
        if (irq6.RisingEdges == _edgesSeen) throw new InvalidOperationException("timeout waiting for IRQ 6");
        _edgesSeen = irq6.RisingEdges;
    }

    /// <summary>floppy_pio: send command and parameters while MSR says RQM and not DIO, wait for the IRQ, read results.</summary>
    public byte[] Pio(byte[] command, int resultLength, bool waitIrq)
    {
        foreach (byte b in command)
        {
            byte sts = In(0x3F4);
            if ((sts & 0x80) == 0) throw new InvalidOperationException($"controller not ready for command byte (MSR {sts:X2})");
            if ((sts & 0x40) != 0) throw new InvalidOperationException($"controller wants to send while we write (MSR {sts:X2})");
            Out(0x3F5, b);
        }
        if (waitIrq) WaitIrq();
        var result = new byte[resultLength];
        for (int i = 0; ; i++)
        {
            byte sts = In(0x3F4);
            if ((sts & 0x80) == 0) throw new InvalidOperationException($"controller not ready for result (MSR {sts:X2})");
            if (i >= resultLength)
            {
                if ((sts & 0x40) != 0) throw new InvalidOperationException($"controller has more result bytes (MSR {sts:X2})");
                break;
            }
            if ((sts & 0x40) == 0) throw new InvalidOperationException($"controller has no result byte {i} (MSR {sts:X2})");
            result[i] = In(0x3F5);
        }
        return result;
    }

    public void EnableController()
    {
        DorWrite(0x00);
        DorWrite(0x0C);
        WaitIrq();
        Pio([CheckIrq], 2, waitIrq: false);
    }

    /// <summary>floppy_drive_pio: enable if needed, select drive with its motor on, send, sense after result-less IRQ commands.</summary>
    public byte[] DrivePio(int drive, byte[] command, int resultLength, bool waitIrq)
    {
        if ((_dor & 0x04) == 0) EnableController();
        DorWrite((byte)((drive != 0 ? 0x20 : 0x10) | 0x0C | drive));
        var result = Pio(command, resultLength, waitIrq);
        if (waitIrq && resultLength == 0) return Pio([CheckIrq], 2, waitIrq: false);
        return result;
    }

    public byte[] DoRecalibrate(int drive)
    {
        var r = DrivePio(drive, [Recalibrate, (byte)drive], 0, waitIrq: true);
        CurrentCylinder = 0;
        return r;
    }

    public byte[] DoReadId(int drive, byte rate, int head = 0)
    {
        Out(0x3F7, rate);
        return DrivePio(drive, [ReadId, (byte)((head << 2) | drive)], 7, waitIrq: true);
    }

    public byte[] DoSeek(int drive, int cylinder)
    {
        var r = DrivePio(drive, [Seek, (byte)drive, (byte)cylinder], 0, waitIrq: true);
        CurrentCylinder = cylinder;
        return r;
    }

    /// <summary>dma_floppy: channel 2, single mode, increment, no autoinit; 46h = device→memory, 4Ah = memory→device.</summary>
    public void DmaFloppy(uint address, int count, bool isWrite)
    {
        ushort end = (ushort)(count - 1);
        if ((address >> 16) != ((address + end) >> 16)) throw new InvalidOperationException("64K boundary");
        Out(0x0A, 0x06);
        Out(0x0C, 0x00);
        Out(0x04, (byte)address);
        Out(0x04, (byte)(address >> 8));
        Out(0x0C, 0x00);
        Out(0x05, (byte)end);
        Out(0x05, (byte)(end >> 8));
        Out(0x0B, isWrite ? (byte)0x4A : (byte)0x46);
        Out(0x81, (byte)(address >> 16));
        Out(0x0A, 0x02);
    }

    /// <summary>floppy_prep + floppy_read/floppy_write: recalibrate and sense once, seek, DMA, READ/WRITE DATA. Returns the 7 result bytes.</summary>
    public byte[] Transfer(int drive, int lba, int count, uint address, bool write)
    {
        int sector = lba % Spt + 1, head = lba / Spt % Heads, cylinder = lba / Spt / Heads;
        if (CurrentCylinder < 0)
        {
            DoRecalibrate(drive);
            var id = DoReadId(drive, DataRate);
            if ((id[0] & 0xC0) != 0) throw new InvalidOperationException($"media sense failed: ST0 {id[0]:X2} ST1 {id[1]:X2}");
        }
        if (cylinder != CurrentCylinder) DoSeek(drive, cylinder);
        DmaFloppy(address, count * 512, write);
        byte[] cmd = [write ? Write : Read, (byte)((head << 2) | drive), (byte)cylinder, (byte)head, (byte)sector, 2, (byte)(sector + count - 1), 0x1B, 0xFF];
        return DrivePio(drive, cmd, 7, waitIrq: true);
    }
}
