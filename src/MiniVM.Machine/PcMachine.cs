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
    private readonly Board _board;
    private readonly ShadowRom _shadow;
    private readonly byte[] _bios;
    private readonly LocalApic _apic;
    private readonly I8042 _kbc;
    private readonly FastA20Reset _fastA20;
    private readonly PciHostBridge _pciHost;

    public PcMachine(VmOptions options, MachineOutputs outputs, ImageFormats? formats = null)
    {
        Options = options;
        formats ??= ImageFormats.Default;
        long ram = (long)options.Machine.Memory << 20;

        _bios = Firmware.LoadBios(options.Firmware.Bios);
        byte[] vgaBios = Firmware.LoadVgaBios(options.Firmware.VgaBios);

        Clock = new MachineClock(options.Clock ?? ClockMode.Virtual);
        Memory = new PhysicalMemory(ram);
        Ports = new PortBus();
        var mmio = new MmioBus();
        var board = _board = new Board(Ports, mmio, Memory);
        // Firmware: the whole image just below 4 GiB (the reset vector), its last 128 KiB at 0xE0000 behind PAM.
        Memory.MapRom(0x1_0000_0000UL - (ulong)_bios.Length, (ulong)_bios.Length, _bios);
        _shadow = new ShadowRom(Memory, _bios);

        // Every device is added to the board once, in VM-state stream order; what it implements wires it
        // (ports, MMIO windows, PCI function, state section, reset, interrupt outputs).
        // The local APIC is the CPU's interrupt controller; the board wires the 8259 pair to its LINT0 (ExtINT), the
        // I/O APIC to it, and every ISA IRQ to both the 8259s and the I/O APIC (IsaInterruptRouting).
        board.Add(new DualPic());
        var apic = _apic = board.Add(new LocalApic(Clock.Clock));
        board.Add(new IoApic());
        board.Add(new IsaInterruptRouting());
        Cpu = new X86Cpu(Memory, new MachineBus(Ports, mmio, Clock), new ApicInterrupts(apic)) { Engine = options.Machine.CpuEngine, JitCompileInBackground = true };
        apic.NmiRequested += Cpu.RaiseNmi;
        Clock.Attach(Cpu);
        var guestMemory = new GuestMemory(Memory);

        var pit = board.Add(new Pit8254(Clock.Clock));
        board.Add(new SystemControlPortB(pit, Clock.Clock));
        var cmos = board.Add(new CmosRtc(Clock.Clock, options.Machine.RtcStart()));
        Keyboard = board.Add(new Ps2Keyboard(Clock.Clock));
        Mouse = board.Add(new Ps2Mouse());
        var kbc = _kbc = board.Add(new I8042(Keyboard, Mouse));
        Serial = board.Add(new Uart16550(Clock.Clock, outputs.Serial));
        board.Add(new DebugConsole(outputs.DebugLog));
        board.Add(new PostCode());
        var fastA20 = _fastA20 = board.Add(new FastA20Reset());
        var resetControl = board.Add(new ResetControl());
        // A20 is the OR of the 8042 output port and port 0x92, as on the PIIX3.
        kbc.A20Changed += _ => UpdateA20();
        fastA20.A20Changed += _ => UpdateA20();
        kbc.ResetRequested += RequestReset;
        fastA20.ResetRequested += RequestReset;
        resetControl.ResetRequested += _ => RequestReset();
        Cpu.ShutdownRequested += RequestReset;

        // PCI: 00.0 host bridge, 01.0 ISA bridge, 01.1 IDE, 01.3 ACPI power management, 02.0 VGA, then virtio disks.
        var pciHost = _pciHost = board.Add(new PciHostBridge());
        pciHost.PamChanged += _shadow.Set;
        board.Add(new Piix3IsaBridge());
        // 01.3: the PIIX4 ACPI function, as on QEMU's i440FX board: SeaBIOS builds its ACPI tables when it finds it.
        Power = board.Add(new Piix4PowerManagement(Clock.Clock));
        Power.PowerOffRequested += () => PoweredOff = true;
        Vga = board.Add(new VgaDevice());
        board.Add(new VgaPci(Vga, vgaBios));

        var ata = new IdeDevice?[4];
        var floppies = new FloppyDrive?[2];
        var virtio = new List<VirtioBlkPci>();
        foreach (var d in options.Drives)
        {
            if (d.IsCdrom) { ata[d.Index] = AddCdrom(formats, d); continue; }
            var disk = OpenDisk(formats, d, outputs.Warning);
            switch (d.Interface)
            {
                case DriveInterface.Ide: ata[d.Index] = new AtaDrive(disk, serial: $"MVM{d.Index:D5}"); break;
                case DriveInterface.Floppy: floppies[d.Index] = FloppyDrive.ForImage(disk); break;
                case DriveInterface.Virtio: virtio.Add(NewVirtioBlk(d, disk, guestMemory)); break;
            }
        }
        board.Add(new PiixIde(guestMemory, ata[0], ata[1], ata[2], ata[3]));
        var dma = board.Add(new Dma8237(guestMemory));
        board.Add(new FloppyController(dma, floppies[0], floppies[1]));
        foreach (var v in virtio) board.Add(v);

        // What SeaBIOS learns about the machine: CMOS (QEMU's layout) and fw_cfg.
        long below4G = Math.Min(ram, 0xE000_0000L);
        cmos.SetMemorySize(below4G, ram - below4G);
        cmos.SetFloppyTypes((CmosFloppyType)(floppies[0]?.CmosType ?? 0), (CmosFloppyType)(floppies[1]?.CmosType ?? 0));
        cmos.SetBootOrder(options.Boot);
        var fwCfg = board.Add(new FwCfg(guestMemory));
        fwCfg.SetRamSize((ulong)ram);
        fwCfg.SetCpuCount(1, 1);
        fwCfg.SetE820([new E820Entry(0, (ulong)below4G, E820Entry.Ram)]);
        fwCfg.SetBootFailWait(1000);
        // S0 and S5 only: without bit 7 SeaBIOS renames _S3/_S4 in its SSDT (acpi.c build_ssdt), since nothing here
        // could resume from suspend; soft-off (SLP_TYP 0) is what Piix4PowerManagement turns into a power-off.
        fwCfg.SetFile("etc/system-states", [0, 0, 0, 0x01, 0x02, 0]);
        // The PIT's IRQ0 is the I/O APIC's pin 2: SeaBIOS writes that override into the MP table and the MADT.
        fwCfg.SetFile("etc/irq0-override", [1, 0, 0, 0]);

        Reset();
    }

    public VmOptions Options { get; }
    public MachineClock Clock { get; }
    public PhysicalMemory Memory { get; }
    public PortBus Ports { get; }
    public X86Cpu Cpu { get; }
    public Ps2Keyboard Keyboard { get; }
    public Ps2Mouse Mouse { get; }
    public Uart16550 Serial { get; }
    /// <summary>The PIIX4 ACPI power-management function (01.3): PM timer, SCI, sleep control.</summary>
    public Piix4PowerManagement Power { get; }
    public VgaDevice Vga { get; }
    /// <summary>Every device on the board, in the order it was added (VM-state stream order).</summary>
    public IReadOnlyList<object> Devices => _board.Devices;
    public IReadOnlyList<IBlockDriver> Disks => _disks;
    /// <summary>The CD-ROM drives (their media are not disks: never written, never snapshotted).</summary>
    public IReadOnlyList<AtapiCdrom> CdRoms => _cdroms;

    /// <summary>A20 is the OR of the 8042 output port and port 0x92, as on the PIIX3.</summary>
    private void UpdateA20() => Cpu.A20Enabled = _kbc.A20Enabled || _fastA20.A20Enabled;

    /// <summary>Set by a reset source (0xCF9, 8042 pulse, port 0x92, triple fault); the runner performs it between slices.</summary>
    public bool ResetPending { get; private set; }

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
        _board.Reset();
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
        if (Cpu.Halted && !_apic.InterruptPending) Clock.WaitForNextTimer(HaltedWaitLimit);
        else Clock.Pace();
        return n;
    }

    /// <summary>Flushes every writable disk (savevm, quit, and the guest's own FLUSH CACHE already do this per disk).</summary>
    public void FlushDisks()
    {
        foreach (var d in _disks) if (!d.IsReadOnly) d.Flush();
    }

    private IBlockDriver OpenDisk(ImageFormats formats, DriveOptions d, Action<string> warning)
    {
        if (!File.Exists(d.File)) throw new FileNotFoundException($"drive {d.Label}: file '{d.File}' not found", d.File);
        var disk = formats.Open(d.File, d.Format,
            new ImageOpenContext { ReadOnly = d.ReadOnly, AllowUnsafePaths = d.AllowUnsafePaths, Registry = formats, Warning = warning, PrefetchInBackground = true });
        _disks.Add(disk);
        _diskDrives.Add(d);
        return disk;
    }

    /// <summary>The drive options of disk <paramref name="i"/> of <see cref="Disks"/>.</summary>
    public DriveOptions DiskDrive(int i) => _diskDrives[i];

    /// <summary>
    /// virtio-blk disk <c>index</c> at PCI slot 3 + index (the board routes its INTA# through the PIIX3 PIRQ swizzle); the legacy transport
    /// decodes I/O BAR0 on the port bus, the modern one memory BAR4 (both placed by the guest).
    /// </summary>
    private static VirtioBlkPci NewVirtioBlk(DriveOptions d, IBlockDriver disk, GuestMemory guestMemory)
    {
        int slot = 3 + d.Index;
        string serial = $"MVMVIRTIO{d.Index}";
        return d.Transport == VirtioTransport.Legacy
            ? new VirtioBlkPciLegacy(disk, guestMemory, slot, serial)
            : new VirtioBlkPciModern(disk, guestMemory, slot, serial);
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
