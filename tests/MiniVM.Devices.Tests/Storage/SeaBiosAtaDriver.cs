using System.Buffers.Binary;
using MiniVM.Devices;

namespace MiniVM.Devices.Tests.Storage;

/// <summary>
/// The port protocol of SeaBIOS 1.16 src/hw/ata.c against one legacy channel: ata_detect (register echo test,
/// SRST reset, IDENTIFY PACKET then IDENTIFY), send_cmd, ata_wait_data, ata_pio_transfer with nIEN set, and
/// ata_readwrite's choice between LBA28 and LBA48 commands. Busy-waits are bounded so a hang fails the test.
/// </summary>
internal sealed class SeaBiosAtaDriver(PortBus ports, ushort iobase1, ushort iobase2)
{
    public const byte StBsy = 0x80, StRdy = 0x40, StDf = 0x20, StDrq = 0x08, StErr = 0x01;

    private void Out(int reg, byte value) => ports.Write((ushort)(iobase1 + reg), 1, value);
    private byte In(int reg) => (byte)ports.Read((ushort)(iobase1 + reg), 1);
    private byte Status => In(7);
    private byte AltStatus => (byte)ports.Read(iobase2, 1);
    private void Control(byte value) => ports.Write(iobase2, 1, value);

    /// <summary>await_ide: poll STAT until (status &amp; mask) == flags; -1 on timeout.</summary>
    private int Await(byte mask, byte flags)
    {
        for (int i = 0; i < 1000; i++)
        {
            byte s = Status;
            if ((s & mask) == flags) return s;
        }
        return -1;
    }

    private int AwaitNotBusy() => Await(StBsy, 0);

    private int PowerupAwaitNonBusy()
    {
        byte or = 0;
        for (int i = 0; i < 1000; i++)
        {
            byte s = Status;
            if ((s & StBsy) == 0) return s;
            or |= s;
            if (or == 0xFF) return or; // floating bus
        }
        return -1;
    }

    public void Reset(bool slave)
    {
        Control(0x08 | 0x02 | 0x04);
        Control(0x08 | 0x02);
        if (AwaitNotBusy() < 0) throw new InvalidOperationException("device stayed busy after SRST");
        if (slave)
        {
            Out(6, 0xB0);
            if (AwaitNotBusy() < 0 || In(6) != 0xB0) throw new InvalidOperationException("device 1 select failed");
        }
        else Out(6, 0xA0);
        Control(0x08);
    }

    /// <summary>ata_detect for one channel: which of master/slave answer as ATA disks, with their IDENTIFY data.</summary>
    public List<(int Slave, ushort[] Identify)> Detect()
    {
        var found = new List<(int, ushort[])>();
        bool didReset = false;
        for (int slave = 0; slave <= 1; slave++)
        {
            if (PowerupAwaitNonBusy() < 0) continue;
            byte newdh = slave != 0 ? (byte)0xB0 : (byte)0xA0;
            Out(6, newdh);
            if (PowerupAwaitNonBusy() < 0) continue;
            Out(6, newdh);
            byte dh = In(6);
            Out(2, 0x55);
            Out(3, 0xAA);
            byte sc = In(2), sn = In(3);
            if (sc != 0x55 || sn != 0xAA || dh != newdh) continue;
            if (!didReset) { Reset(slave != 0); didReset = true; }
            var buffer = new byte[512];
            if (PioCommand(slave, 0xA1, buffer, write: false) == 0) continue; // an ATAPI device: not expected here
            if (Status == 0) continue;                                       // nothing answered
            if (Await(StRdy, StRdy) < 0) continue;
            if (PioCommand(slave, 0xEC, buffer, write: false) != 0) continue;
            var words = new ushort[256];
            for (int i = 0; i < 256; i++) words[i] = BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(i * 2));
            found.Add((slave, words));
        }
        return found;
    }

    /// <summary>ata_pio_cmd_data for a 28-bit style command with no address (IDENTIFY); 0 on success.</summary>
    private int PioCommand(int slave, byte command, byte[] buffer, bool write)
    {
        Control(0x08 | 0x02);
        try
        {
            int ret = SendCommand(slave, new Cmd { Command = command });
            if (ret != 0) return ret;
            ret = WaitData();
            if (ret != 0) return ret;
            return PioTransfer(buffer, 1, write);
        }
        finally { Control(0x08); }
    }

    public struct Cmd
    {
        public byte SectorCount, LbaLow, LbaMid, LbaHigh, Device, Command; // features are always 0 in ata_readwrite
        public byte SectorCount2, LbaLow2, LbaMid2, LbaHigh2;
    }

    public int SendCommand(int slave, Cmd cmd)
    {
        if (AwaitNotBusy() < 0) return -1;
        byte newdh = (byte)((cmd.Device & ~0x10) | (slave != 0 ? 0xB0 : 0xA0));
        byte olddh = In(6);
        Out(6, newdh);
        if (((olddh ^ newdh) & 0x10) != 0 && AwaitNotBusy() < 0) return -1;
        if ((cmd.Command & ~0x11) == 0x24)
        {
            Out(1, 0); Out(2, cmd.SectorCount2); Out(3, cmd.LbaLow2); Out(4, cmd.LbaMid2); Out(5, cmd.LbaHigh2);
        }
        Out(1, 0); Out(2, cmd.SectorCount); Out(3, cmd.LbaLow); Out(4, cmd.LbaMid); Out(5, cmd.LbaHigh);
        Out(7, cmd.Command);
        return 0;
    }

    private int WaitData()
    {
        int status = AwaitNotBusy();
        if (status < 0) return status;
        if ((status & StErr) != 0) return -4;
        if ((status & StDrq) == 0) return -5;
        return 0;
    }

    private int PioTransfer(byte[] buffer, int count, bool write)
    {
        int offset = 0;
        int status;
        while (true)
        {
            for (int i = 0; i < 512; i += 2, offset += 2)
            {
                if (write) ports.Write(iobase1, 2, BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(offset)));
                else BinaryPrimitives.WriteUInt16LittleEndian(buffer.AsSpan(offset), (ushort)ports.Read(iobase1, 2));
            }
            _ = AltStatus;
            status = AwaitNotBusy();
            if (status < 0) return status;
            if (--count == 0) break;
            if ((status & (StBsy | StDrq | StErr)) != StDrq) return -6;
        }
        status &= StBsy | StDf | StDrq | StErr;
        if (!write) status &= ~StDf;
        return status != 0 ? -7 : 0;
    }

    /// <summary>ata_readwrite in PIO: LBA28 READ/WRITE SECTORS, or the EXT forms at or beyond 2^28 or for 256+ sectors.</summary>
    public int ReadWrite(int slave, long lba, int count, byte[] buffer, bool write)
    {
        var cmd = new Cmd();
        if (count >= 256 || lba + count >= 1L << 28)
        {
            cmd.SectorCount2 = (byte)(count >> 8);
            cmd.LbaLow2 = (byte)(lba >> 24);
            cmd.LbaMid2 = (byte)(lba >> 32);
            cmd.LbaHigh2 = (byte)(lba >> 40);
            lba &= 0xFFFFFF;
            cmd.Command = write ? (byte)0x34 : (byte)0x24;
        }
        else cmd.Command = write ? (byte)0x30 : (byte)0x20;
        cmd.SectorCount = (byte)count;
        cmd.LbaLow = (byte)lba;
        cmd.LbaMid = (byte)(lba >> 8);
        cmd.LbaHigh = (byte)(lba >> 16);
        cmd.Device = (byte)(((lba >> 24) & 0xF) | 0x40);
        Control(0x08 | 0x02);
        try
        {
            int ret = SendCommand(slave, cmd);
            if (ret != 0) return ret;
            ret = WaitData();
            if (ret != 0) return ret;
            return PioTransfer(buffer, count, write);
        }
        finally { Control(0x08); }
    }

    public static string Model(ushort[] identify)
    {
        var chars = new char[40];
        for (int i = 0; i < 20; i++) { chars[2 * i] = (char)(identify[27 + i] >> 8); chars[2 * i + 1] = (char)(identify[27 + i] & 0xFF); }
        return new string(chars).TrimEnd();
    }
}
