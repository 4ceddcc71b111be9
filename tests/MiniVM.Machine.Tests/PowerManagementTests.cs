using System.Buffers.Binary;
using System.Text;
using MiniVM.Machine.Configuration;
using MiniVM.Machine.Tests.Boot;

namespace MiniVM.Machine.Tests;

/// <summary>
/// SeaBIOS (firmware/bios.bin) finds the PIIX4 power-management function at 01.3 and, as fw_cfg offers no
/// etc/table-loader, builds the ACPI tables itself (src/fw/acpi.c, acpi_setup): an RSDP in the F segment, an RSDT
/// whose FADT points at the PM block SeaBIOS programmed into PMBA, the SCI on IRQ 9, the 0xB2 ACPI enable protocol,
/// GPE0 at 0xAFE0 and a DSDT; the SSDT has _S5 but not _S3/_S4, which etc/system-states switched off. Writing
/// SLP_EN with the S5 type there powers the machine off and ends the run.
/// </summary>
[Collection("boots")]
[Trait("Category", "Boot")]
public sealed class PowerManagementTests
{
    private static PcMachine NewMachine(StringBuilder debugLog) => new(new VmOptions
    {
        Machine = new MachineOptions { Memory = 32, Rtc = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc) },
        Firmware = MiniVmProcess.Firmware,
        Boot = "c",
        Serial = SerialSink.None,
    }, new MachineOutputs { DebugLog = b => debugLog.Append((char)b) });

    /// <summary>Runs the BIOS until its log shows it went on past table building to the option ROMs.</summary>
    private static void RunBiosPastAcpiSetup(PcMachine machine, StringBuilder log)
    {
        long limit = 400_000_000;
        while (!log.ToString().Contains("Scan for VGA option rom", StringComparison.Ordinal))
        {
            Assert.True((long)machine.Cpu.InstructionCount < limit, $"SeaBIOS did not reach its option ROM scan; log:\n{log}");
            machine.RunSlice(200_000);
        }
    }

    private static ReadOnlySpan<byte> Table(byte[] ram, uint address, string signature)
    {
        Assert.True(address + 36 <= ram.Length, $"{signature} at 0x{address:X} is outside RAM");
        var header = ram.AsSpan((int)address, 36);
        Assert.Equal(signature, Encoding.ASCII.GetString(header[..4]));
        int length = BinaryPrimitives.ReadInt32LittleEndian(header[4..]);
        var table = ram.AsSpan((int)address, length);
        Assert.Equal(0, Checksum(table));
        return table;
    }

    private static int Checksum(ReadOnlySpan<byte> bytes)
    {
        int sum = 0;
        foreach (byte b in bytes) sum += b;
        return sum & 0xFF;
    }

    [Fact]
    public void SeaBiosBuildsAcpiTablesThatDescribeThePiix4PmFunction()
    {
        var log = new StringBuilder();
        using var machine = NewMachine(log);
        RunBiosPastAcpiSetup(machine, log);
        string text = log.ToString();
        Assert.Contains("PCI: init bdf=00:01.3 id=8086:7113", text);
        Assert.Contains("Using pmtimer, ioport 0xb008", text);
        Assert.Contains("ACPI DSDT=", text);    // printed by the legacy builder only (fill_dsdt)

        // ACPI 6.5 §5.2.5.1: the RSDP is on a 16-byte boundary in E0000-FFFFF; its first 20 bytes sum to zero.
        byte[] ram = machine.Memory.Ram;
        int rsdp = -1;
        for (int a = 0xE0000; a < 0x100000; a += 16)
            if (ram.AsSpan(a, 8).SequenceEqual("RSD PTR "u8)) { rsdp = a; break; }
        Assert.True(rsdp >= 0, "no RSDP in E0000-FFFFF");
        Assert.Equal(0, Checksum(ram.AsSpan(rsdp, 20)));
        Assert.Equal("BOCHS ", Encoding.ASCII.GetString(ram, rsdp + 9, 6));

        var rsdt = Table(ram, BinaryPrimitives.ReadUInt32LittleEndian(ram.AsSpan(rsdp + 16)), "RSDT");
        var signatures = new Dictionary<string, uint>();
        for (int i = 36; i + 4 <= rsdt.Length; i += 4)
        {
            uint at = BinaryPrimitives.ReadUInt32LittleEndian(rsdt[i..]);
            signatures[Encoding.ASCII.GetString(ram, (int)at, 4)] = at;
        }
        Assert.Contains("FACP", signatures.Keys);
        Assert.Contains("APIC", signatures.Keys);
        Assert.Contains("SSDT", signatures.Keys);

        // FADT (ACPI 1.0 layout, §5.2.9): what piix4_fadt_setup filled in, which must match the hardware.
        var fadt = Table(ram, signatures["FACP"], "FACP");
        ushort pmBase = machine.Power.PmBase ?? 0;
        Assert.Equal((ushort)0xB000, pmBase);
        Assert.Equal(9, BinaryPrimitives.ReadUInt16LittleEndian(fadt[46..]));      // SCI_INT
        Assert.Equal(0xB2u, BinaryPrimitives.ReadUInt32LittleEndian(fadt[48..]));  // SMI_CMD
        Assert.Equal(0xF1, fadt[52]);                                               // ACPI_ENABLE
        Assert.Equal(0xF0, fadt[53]);                                               // ACPI_DISABLE
        Assert.Equal(pmBase, BinaryPrimitives.ReadUInt32LittleEndian(fadt[56..]));  // PM1a_EVT_BLK
        Assert.Equal(pmBase + 4u, BinaryPrimitives.ReadUInt32LittleEndian(fadt[64..])); // PM1a_CNT_BLK
        Assert.Equal(pmBase + 8u, BinaryPrimitives.ReadUInt32LittleEndian(fadt[76..])); // PM_TMR_BLK
        Assert.Equal(0xAFE0u, BinaryPrimitives.ReadUInt32LittleEndian(fadt[80..])); // GPE0_BLK
        Assert.Equal(4, fadt[92]);                                                  // GPE0_BLK_LEN
        uint facs = BinaryPrimitives.ReadUInt32LittleEndian(fadt[36..]);       // FIRMWARE_CTRL (the FACS has no checksum)
        Assert.Equal("FACS", Encoding.ASCII.GetString(ram, (int)facs, 4));
        var dsdt = Table(ram, BinaryPrimitives.ReadUInt32LittleEndian(fadt[40..]), "DSDT");
        Assert.True(dsdt.IndexOf("PX13"u8) > 0, "the DSDT describes 01.3 (PX13)");

        // Sleep states: soft-off only (etc/system-states cleared bit 7 of S3 and S4, so SeaBIOS renamed them).
        var ssdt = Table(ram, signatures["SSDT"], "SSDT");
        Assert.True(ssdt.IndexOf("_S5_"u8) > 0, "SSDT has _S5");
        Assert.True(ssdt.IndexOf("_S3_"u8) < 0 && ssdt.IndexOf("XS3_"u8) > 0, "SSDT's _S3 is disabled");
        Assert.True(ssdt.IndexOf("_S4_"u8) < 0 && ssdt.IndexOf("XS4_"u8) > 0, "SSDT's _S4 is disabled");

        // The BIOS leaves ACPI mode to the OS: SCI_EN is clear until the 0xB2 handshake.
        Assert.False(machine.Power.SciEnabled);
    }

    [Fact]
    public void SlpEnWithTheS5TypeEndsTheRunAsPoweredOffAndResetPowersOnAgain()
    {
        var log = new StringBuilder();
        using var machine = NewMachine(log);
        RunBiosPastAcpiSetup(machine, log);
        ushort pm1Control = (ushort)(machine.Power.PmBase!.Value + 4);
        // What Linux's acpi_enable and acpi_hw_legacy_sleep write: the ACPI enable handshake, SLP_TYP, SLP_TYP|SLP_EN.
        machine.Ports.Write(0xB2, 1, 0xF1);
        Assert.True(machine.Power.SciEnabled);
        machine.Ports.Write(pm1Control, 2, 0x0001);
        Assert.False(machine.PoweredOff);
        machine.Ports.Write(pm1Control, 2, 0x2001);
        Assert.True(machine.PoweredOff);

        ulong instructions = machine.Cpu.InstructionCount;
        Assert.Equal(0, machine.RunSlice(100_000));
        Assert.Equal(instructions, machine.Cpu.InstructionCount);
        var runner = new MachineRunner(machine, new SerialText()) { Timeout = TimeSpan.FromMinutes(1) };
        Assert.Equal(RunOutcome.PoweredOff, runner.Run());
        Assert.Equal(0, runner.Instructions);

        machine.Reset();
        Assert.False(machine.PoweredOff);
        Assert.Null(machine.Power.PmBase);          // decoded again only once the BIOS programs PMBA
        Assert.True(machine.RunSlice(100_000) > 0);
    }
}
