using MiniVM.Block;
using MiniVM.Devices.Pci;

namespace MiniVM.Devices.Virtio;

/// <summary>
/// What both PCI transports of virtio-blk share (VIRTIO 1.1 §4.1): Red Hat's vendor ID, the configuration space, the
/// INTx wire (level-triggered, held while the ISR is non-zero and the command register allows it) and the block
/// device itself. The transports differ only in how the registers are reached.
/// </summary>
public abstract class VirtioBlkPci : IPciFunction, ISnapshottable, IResettable, IInterruptSource
{
    public const ushort VendorId = 0x1AF4;

    protected VirtioBlkPci(IBlockDriver disk, IGuestMemory memory, int device, ushort deviceId, byte revision,
        bool modern, string serial)
    {
        if (device is < 0 or > 31) throw new ArgumentOutOfRangeException(nameof(device), device, "PCI device number must be 0..31");
        Device = device;
        Blk = new VirtioBlk(disk, memory, modern, serial) { InterruptChanged = UpdateInterrupt };
        // Mass storage, SCSI controller, as QEMU's virtio-blk-pci.
        Config = new PciConfigSpace(VendorId, deviceId, classCode: 0x01, subclass: 0x00, revision: revision);
        Config.SetInterruptPin(IntA.PinRegister);
        Config.Written += (offset, size) =>
        {
            if (offset <= PciConfigSpace.Command + 1 && PciConfigSpace.Command < offset + size) UpdateInterrupt();
            OnConfigWritten(offset, size);
        };
    }

    /// <summary>INTA#, the function's one interrupt pin (the board routes it through the PIRQ swizzle).</summary>
    public IrqOutput IntA { get; } = IrqOutput.PciIntx(0);

    public IReadOnlyList<IrqOutput> IrqOutputs => [IntA];

    public VirtioBlk Blk { get; }
    public PciConfigSpace Config { get; }
    public int Device { get; }
    public int Function => 0;
    public abstract string SectionId { get; }
    public int SectionVersion => 1;

    public virtual uint ReadConfig(int offset, int size) => Config.Read(offset, size);
    public virtual void WriteConfig(int offset, int size, uint value) => Config.Write(offset, size, value);

    protected abstract void OnConfigWritten(int offset, int size);

    /// <summary>Re-maps the BARs after the configuration space changed (guest write, reset, loadvm).</summary>
    protected abstract void UpdateMappings();

    protected void Notify(int queue) => Blk.Notify(queue, Config.BusMasterEnabled);

    private void UpdateInterrupt()
    {
        bool level = Blk.Isr != 0;
        Config.SetInterruptStatus(level);
        IntA.SetLevel(level && !Config.InterruptDisabled);
    }

    /// <summary>Machine reset: configuration registers to power-on values, the device reset, BARs unmapped.</summary>
    public void Reset()
    {
        var c = Config.Bytes;
        c[0x04] = 0; c[0x05] = 0;
        c.Slice(0x10, 24).Clear();
        RestoreBarTypes();
        c[PciConfigSpace.InterruptLine] = 0;
        Blk.Reset();
        ResetTransport();
        UpdateMappings();
        UpdateInterrupt();
    }

    /// <summary>Transport registers (queue select, feature selects) back to zero.</summary>
    protected abstract void ResetTransport();

    protected abstract void SaveTransport(StateWriter writer);

    /// <summary>Reads the transport registers and returns the action applying them.</summary>
    protected abstract Action ReadTransport(StateReader reader);

    /// <summary>Puts back the read-only type bits of the BARs after their address bytes were cleared.</summary>
    protected abstract void RestoreBarTypes();

    public void SaveState(StateWriter writer)
    {
        Config.Save(writer);
        Blk.SaveState(writer);
        SaveTransport(writer);
    }

    public void LoadState(StateReader reader, int version)
    {
        if (version != SectionVersion) throw new StateFormatException($"section {SectionId}: version {version} is not supported (expected {SectionVersion})");
        var before = Config.Bytes.ToArray();
        Action apply, transport;
        try
        {
            Config.Load(reader);
            apply = Blk.ReadState(reader);
            transport = ReadTransport(reader);
        }
        catch (StateFormatException)
        {
            before.CopyTo(Config.Bytes);
            throw;
        }
        apply();
        transport();
        UpdateMappings();
        UpdateInterrupt();
    }
}
