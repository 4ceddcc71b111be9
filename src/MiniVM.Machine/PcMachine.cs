using MiniVM.Block;
using MiniVM.Cpu;
using MiniVM.Devices;
using MiniVM.Devices.Pci;
using MiniVM.Devices.Storage;
using MiniVM.Devices.Vga;
using MiniVM.Devices.Virtio;
using MiniVM.Machine.Configuration;

namespace MiniVM.Machine;

/// <summary>
/// The PC: an i440FX/PIIX3 machine like QEMU's `pc`, built from a validated <see cref="VmOptions"/>.
/// Owns the RAM, the CPU, both buses, every device and the opened disk images. It executes; the policy of a run
/// (when to stop, what to print) is <see cref="MachineRunner"/>'s.
/// </summary>
public sealed partial class PcMachine : IDisposable
{
    private readonly List<IBlockDriver> _disks = new();
    private readonly List<DriveOptions> _diskDrives = new();
    private readonly List<AtapiCdrom> _cdroms = new();
    private readonly List<ISnapshottable> _sections = new();
    private readonly ShadowRom _shadow;
    private readonly byte[] _bios;

    public PcMachine(VmOptions options, MachineOutputs outputs, ImageFormats? formats = null)
    {
        Options = options;
        formats ??= ImageFormats.Default;
        long ram = (long)options.Machine.Memory << 20;

        _bios = Firmware.LoadBios(options.Firmware.Bios);
        byte[] vgaBios = Firmware.LoadVgaBios(options.Firmware.VgaBios);

        Clock = new MachineClock(options.ParsedClock);
        Memory = new PhysicalMemory(ram);
        Ports = new PortBus();
        Mmio = new MmioBus();
        Pic = new DualPic();
        // The local APIC is the CPU's interrupt controller; the 8259 pair reaches it through LINT0 (ExtINT), and
        // every ISA IRQ goes to both the 8259s and the I/O APIC (IsaInterruptRouting).
        Apic = new LocalApic(Clock.Clock, Pic);
        IoApic = new IoApic(Apic);
        var irqs = new IsaInterruptRouting(Pic, IoApic);
        Cpu = new X86Cpu(Memory, new MachineBus(Ports, Mmio, Clock), new ApicInterrupts(Apic)) { Engine = options.Machine.ParsedCpuEngine };
        Apic.NmiRequested += Cpu.RaiseNmi;
        Apic.Moved += address => MoveMmio(ref _apicAt, address, Apic, LocalApic.Size);
        MoveMmio(ref _apicAt, Apic.MappedAt, Apic, LocalApic.Size);
        Mmio.Register(Devices.IoApic.DefaultBase, Devices.IoApic.Size, IoApic);
        Memory.MapIo(Devices.IoApic.DefaultBase, Devices.IoApic.Size);
        Clock.Attach(Cpu);
        var guestMemory = new GuestMemory(Memory);

        // Firmware: the whole image just below 4 GiB (the reset vector), its last 128 KiB at 0xE0000 behind PAM.
        Memory.MapRom(0x1_0000_0000UL - (ulong)_bios.Length, (ulong)_bios.Length, _bios);
        _shadow = new ShadowRom(Memory, _bios);
        Memory.MapIo(VgaDevice.WindowBase, VgaDevice.WindowSize);

        Pic.Attach(Ports);
        Pit = new Pit8254(Clock.Clock, irqs.GetLine(0));
        Pit.Attach(Ports);
        var port61 = new SystemControlPortB(Pit, Clock.Clock);
        port61.Attach(Ports);
        Cmos = new CmosRtc(Clock.Clock, irqs.GetLine(8), options.Machine.RtcStart());
        Cmos.Attach(Ports);
        Keyboard = new Ps2Keyboard(Clock.Clock);
        var mouse = Mouse = new Ps2Mouse();
        Kbc = new I8042(Keyboard, mouse, irqs.GetLine(1), irqs.GetLine(12));
        Kbc.Attach(Ports);
        Serial = new Uart16550(Clock.Clock, irqs.GetLine(4), outputs.Serial);
        Serial.Attach(Ports);
        new DebugConsole(outputs.DebugLog).Attach(Ports);
        var post = new PostCode();
        post.Attach(Ports);
        var fastA20 = new FastA20Reset();
        fastA20.Attach(Ports);
        var resetControl = new ResetControl();
        resetControl.Attach(Ports);
        // A20 is the OR of the 8042 output port and port 0x92, as on the PIIX3.
        Kbc.A20Changed += _ => Cpu.A20Enabled = Kbc.A20Enabled || fastA20.A20Enabled;
        fastA20.A20Changed += _ => Cpu.A20Enabled = Kbc.A20Enabled || fastA20.A20Enabled;
        Kbc.ResetRequested += RequestReset;
        fastA20.ResetRequested += RequestReset;
        resetControl.ResetRequested += _ => RequestReset();
        Cpu.ShutdownRequested += RequestReset;

        // PCI: 00.0 host bridge, 01.0 ISA bridge, 01.1 IDE, 01.3 ACPI power management, 02.0 VGA, then virtio disks.
        PciHost = new PciHostBridge();
        PciHost.Attach(Ports);
        PciHost.PamChanged += _shadow.Set;
        var isa = new Piix3IsaBridge(irqs);
        PciHost.AddFunction(isa);
        // 01.3: the PIIX4 ACPI function, as on QEMU's i440FX board: SeaBIOS builds its ACPI tables when it finds it.
        // SCI on IRQ 9, the line SeaBIOS's FADT names.
        Power = new Piix4PowerManagement(Clock.Clock, irqs.GetLine(9));
        Power.Attach(Ports);
        PciHost.AddFunction(Power);
        Power.PowerOffRequested += () => PoweredOff = true;

        Vga = new VgaDevice();
        Vga.Attach(Ports, Mmio);
        var vgaPci = new VgaPci(Vga, vgaBios);
        PciHost.AddFunction(vgaPci);
        vgaPci.LfbMoved += address => MoveMmio(ref _lfbAt, address, Vga.LinearFramebuffer, vgaPci.LfbSize);
        vgaPci.RomMoved += address => MoveMmio(ref _vgaRomAt, address, vgaPci.Rom, vgaPci.RomSize);

        var ata = new IdeDevice?[4];
        var floppies = new FloppyDrive?[2];
        var virtio = new List<VirtioBlkPci>();
        foreach (var d in options.Drives)
        {
            if (d.IsCdrom) { ata[d.Index] = AddCdrom(formats, d); continue; }
            var disk = OpenDisk(formats, d, outputs.Warning);
            switch (d.ParsedInterface)
            {
                case DriveInterface.Ide: ata[d.Index] = new AtaDrive(disk, serial: $"MVM{d.Index:D5}"); break;
                case DriveInterface.Floppy: floppies[d.Index] = FloppyDrive.ForImage(disk); break;
                case DriveInterface.Virtio: virtio.Add(AddVirtioBlk(d, disk, isa, guestMemory)); break;
            }
        }
        Ide = new PiixIde(guestMemory, irqs.GetLine(14), irqs.GetLine(15), ata[0], ata[1], ata[2], ata[3]);
        Ide.Attach(Ports);
        PciHost.AddFunction(Ide);
        var dma = new Dma8237(guestMemory);
        dma.Attach(Ports);
        Floppy = new FloppyController(irqs.GetLine(6), dma, floppies[0], floppies[1]);
        Floppy.Attach(Ports);

        // What SeaBIOS learns about the machine: CMOS (QEMU's layout) and fw_cfg.
        long below4G = Math.Min(ram, 0xE000_0000L);
        Cmos.SetMemorySize(below4G, ram - below4G);
        Cmos.SetFloppyTypes((CmosFloppyType)(floppies[0]?.CmosType ?? 0), (CmosFloppyType)(floppies[1]?.CmosType ?? 0));
        Cmos.SetBootOrder(options.Boot);
        FwCfg = new FwCfg(guestMemory);
        FwCfg.Attach(Ports);
        FwCfg.SetRamSize((ulong)ram);
        FwCfg.SetCpuCount(1, 1);
        FwCfg.SetE820([new E820Entry(0, (ulong)below4G, E820Entry.Ram)]);
        FwCfg.SetBootFailWait(1000);
        // S0 and S5 only: without bit 7 SeaBIOS renames _S3/_S4 in its SSDT (acpi.c build_ssdt), since nothing here
        // could resume from suspend; soft-off (SLP_TYP 0) is what Piix4PowerManagement turns into a power-off.
        FwCfg.SetFile("etc/system-states", [0, 0, 0, 0x01, 0x02, 0]);
        // The PIT's IRQ0 is the I/O APIC's pin 2: SeaBIOS writes that override into the MP table and the MADT.
        FwCfg.SetFile("etc/irq0-override", [1, 0, 0, 0]);

        _sections.AddRange([Pic, Apic, IoApic, Pit, port61, Cmos, Keyboard, mouse, Kbc, Serial, post, fastA20, PciHost, isa, Power, Vga, vgaPci, Ide, dma, Floppy, .. virtio]);
        // A machine reset (0xCF9, 8042 pulse, port 0x92, triple fault) puts every chip back to its power-on state;
        // RAM and the CMOS contents survive, as on a PC.
        _resets = [PciHost.Reset, isa.Reset, Power.Reset, Pic.Reset, Apic.Reset, IoApic.Reset, Pit.Reset, Cmos.Reset, Keyboard.Reset, mouse.Reset, Kbc.Reset,
                   Serial.Reset, fastA20.Reset, resetControl.Reset, dma.Reset, Ide.Reset, Floppy.Reset,
                   .. virtio.Select(v => (Action)v.Reset)];
        Reset();
    }

    public VmOptions Options { get; }
    public MachineClock Clock { get; }
    public PhysicalMemory Memory { get; }
    public PortBus Ports { get; }
    public MmioBus Mmio { get; }
    public X86Cpu Cpu { get; }
    public DualPic Pic { get; }
    /// <summary>The processor's local APIC (0xFEE00000), the CPU's interrupt controller.</summary>
    public LocalApic Apic { get; }
    /// <summary>The I/O APIC (0xFEC00000): 24 pins, ISA IRQs on 0-15 (IRQ0 on pin 2).</summary>
    public IoApic IoApic { get; }
    public Pit8254 Pit { get; }
    public CmosRtc Cmos { get; }
    public Ps2Keyboard Keyboard { get; }
    public Ps2Mouse Mouse { get; }
    public I8042 Kbc { get; }
    public Uart16550 Serial { get; }
    public PciHostBridge PciHost { get; }
    /// <summary>The PIIX4 ACPI power-management function (01.3): PM timer, SCI, sleep control.</summary>
    public Piix4PowerManagement Power { get; }
    public VgaDevice Vga { get; }
    public PiixIde Ide { get; }
    public FloppyController Floppy { get; }
    public FwCfg FwCfg { get; }
    public IReadOnlyList<IBlockDriver> Disks => _disks;
    /// <summary>The CD-ROM drives (their media are not disks: never written, never snapshotted).</summary>
    public IReadOnlyList<AtapiCdrom> CdRoms => _cdroms;

    /// <summary>Set by a reset source (0xCF9, 8042 pulse, port 0x92, triple fault); the runner performs it between slices.</summary>
    public bool ResetPending { get; private set; }

    private ulong? _lfbAt, _vgaRomAt, _apicAt;

    private readonly Action[] _resets;

    private void RequestReset() => ResetPending = true;

    /// <summary>
    /// The guest powered the machine off (ACPI S5: SLP_EN with SLP_TYP 0). The CPU stops at the end of the slice and
    /// runs no more until <see cref="Reset"/> (power on again).
    /// </summary>
    public bool PoweredOff { get; private set; }

    /// <summary>Power-on state of every part that the guest can change; RAM keeps its contents as on a warm reset.</summary>
    public void Reset()
    {
        ResetPending = false;
        PoweredOff = false;
        foreach (var reset in _resets) reset();
        // PAM back to the ROM side whether or not the host bridge announced each region.
        for (int i = 0; i < PciHostBridge.PamRegionCount; i++) _shadow.Set(i, false, false);
        Cpu.Reset();
        Cpu.A20Enabled = true;
    }

    /// <summary>The longest a halted CPU sleeps between the runner's checks (timeout, screen) when no input wakes it.</summary>
    private static readonly TimeSpan HaltedWaitLimit = TimeSpan.FromMilliseconds(50);

    /// <summary>Runs at most <paramref name="maxInstructions"/>; returns how many ran. Keeps the clock in step.</summary>
    public int RunSlice(int maxInstructions)
    {
        if (ResetPending) Reset();
        if (PoweredOff) return 0;
        Clock.BeginSlice();
        int budget = Clock.InstructionBudget(maxInstructions);
        int n = Cpu.Run(budget);
        Clock.Sync();
        if (Cpu.Halted && !Apic.InterruptPending) Clock.WaitForNextTimer(HaltedWaitLimit);
        return n;
    }

    /// <summary>Flushes every writable disk (savevm, quit, and the guest's own FLUSH CACHE already do this per disk).</summary>
    public void FlushDisks()
    {
        foreach (var d in _disks) if (!d.IsReadOnly) d.Flush();
    }

    private IBlockDriver OpenDisk(ImageFormats formats, DriveOptions d, Action<string> warning)
    {
        if (!File.Exists(d.File)) throw new FileNotFoundException($"drive {d.Interface}{d.Index}: file '{d.File}' not found", d.File);
        var disk = formats.Open(d.File, string.IsNullOrEmpty(d.Format) ? null : d.Format,
            new ImageOpenContext { ReadOnly = d.ReadOnly, AllowUnsafePaths = d.AllowUnsafePaths, Registry = formats, Warning = warning, PrefetchInBackground = true });
        _disks.Add(disk);
        _diskDrives.Add(d);
        return disk;
    }

    /// <summary>The drive options of disk <paramref name="i"/> of <see cref="Disks"/>.</summary>
    public DriveOptions DiskDrive(int i) => _diskDrives[i];

    /// <summary>
    /// virtio-blk disk <c>index</c> at PCI slot 3 + index, INTA# through the PIIX3 PIRQ swizzle; the legacy transport
    /// decodes I/O BAR0 on the port bus, the modern one has its memory BAR4 mapped here when the guest places it.
    /// </summary>
    private VirtioBlkPci AddVirtioBlk(DriveOptions d, IBlockDriver disk, Piix3IsaBridge isa, GuestMemory guestMemory)
    {
        int slot = 3 + d.Index;
        var irq = isa.GetIntxLine(slot, 0);
        string serial = $"MVMVIRTIO{d.Index}";
        VirtioBlkPci device;
        if (d.Transport.Equals("legacy", StringComparison.OrdinalIgnoreCase))
        {
            var legacy = new VirtioBlkPciLegacy(disk, guestMemory, irq, slot, serial);
            legacy.Attach(Ports);
            device = legacy;
        }
        else
        {
            var modern = new VirtioBlkPciModern(disk, guestMemory, irq, slot, serial);
            ulong? mappedAt = null;
            modern.MmioMoved += address => MoveMmio(ref mappedAt, address, modern, VirtioBlkPciModern.BarSize);
            device = modern;
        }
        PciHost.AddFunction(device);
        return device;
    }

    private void MoveMmio(ref ulong? current, ulong? address, IMmioDevice device, uint size)
    {
        if (current is { } old)
        {
            Mmio.Unregister(device, old);
            Memory.Map(old, size, PageSource.Io, PageSource.Io); // stays I/O: the bus answers all-ones when nothing is there
        }
        current = address;
        if (address is { } a && a + size <= 0x1_0000_0000UL)
        {
            Mmio.Register(a, size, device);
            Memory.MapIo(a, size);
        }
    }

    public void Dispose()
    {
        foreach (var cd in _cdroms) cd.Dispose();
        foreach (var d in _disks)
        {
            try { if (!d.IsReadOnly) d.Flush(); } finally { d.Dispose(); }
        }
        _disks.Clear();
    }

    /// <summary>The CPU's view of its local APIC: INTR, INTA and IA32_APIC_BASE.</summary>
    private sealed class ApicInterrupts(LocalApic apic) : IInterruptController, IInterruptLineSignal, IApicBaseRegister
    {
        public bool InterruptPending => apic.InterruptPending;
        public byte AcknowledgeInterrupt() => apic.Acknowledge();
        // The APIC announces every change of what it would deliver (the 8259's output included).
        public event Action? LineChanged { add => apic.OutputChanged += value; remove => apic.OutputChanged -= value; }
        public ulong ApicBase => apic.ApicBase;
        public byte InitialApicId => 0;
        public bool TrySetApicBase(ulong value) => apic.TrySetBase(value);
    }
}
