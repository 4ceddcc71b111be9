using System.Collections;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text;
using MiniVM.Block;
using MiniVM.Devices;
using MiniVM.Machine.Configuration;
using MiniVM.Machine.Snapshots;
using MiniVM.Machine.Tests.Boot;

namespace MiniVM.Machine.Tests.Snapshots;

/// <summary>
/// Every piece of state a machine carries must be in what savevm writes. The test does not trust the machine's own
/// list: it walks everything reachable from a <see cref="PcMachine"/> (fields, buses, closures of event handlers) and
/// fails naming any <see cref="ISnapshottable"/> whose section is not in the saved stream.
/// </summary>
public sealed class DeviceStateCoverageTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("minivm-coverage").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A machine with every kind of device: floppy, IDE disk, CD-ROM, virtio-blk on both transports.</summary>
    private PcMachine EveryDevice()
    {
        string Disk(string name)
        {
            string path = Path.Combine(_dir, name);
            ImageFormats.Default.Create("irow", path, 8 << 20, new ImageCreateOptions()).Dispose();
            return path;
        }
        var options = new VmOptions
        {
            Machine = new MachineOptions { Memory = 16, Rtc = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc) },
            Firmware = MiniVmProcess.Firmware,
            Drives =
            [
                new DriveOptions { Interface = DriveInterface.Floppy, Index = 0, File = MiniVmProcess.Guest("freedos722.img"), Format = "raw", ReadOnly = true },
                new DriveOptions { Interface = DriveInterface.Ide, Index = 0, File = Disk("ide.irow"), Format = "irow" },
                new DriveOptions { Interface = DriveInterface.Ide, Index = 2, Media = DriveMedia.Cdrom, File = "", ReadOnly = true },
                new DriveOptions { Interface = DriveInterface.Virtio, Index = 0, File = Disk("modern.irow"), Format = "irow", Transport = VirtioTransport.Modern },
                new DriveOptions { Interface = DriveInterface.Virtio, Index = 1, File = Disk("legacy.irow"), Format = "irow", Transport = VirtioTransport.Legacy },
            ],
            Boot = "a",
            Serial = SerialSink.None,
        };
        return new PcMachine(options, new MachineOutputs());
    }

    [Fact]
    public void EveryStateCarryingPartReachableFromTheMachineIsInTheSavedStream()
    {
        using var machine = EveryDevice();
        var saved = SectionIds(machine);

        var missing = Reachable(machine).OfType<ISnapshottable>()
            .Where(s => !saved.Contains(s.SectionId))
            .Select(s => $"{s.GetType().Name} (section '{s.SectionId}')")
            .ToList();
        Assert.True(missing.Count == 0, "not in the VM state: " + string.Join(", ", missing));

        // The walk does see the devices (a walk that found nothing would pass the check above).
        var found = Reachable(machine).OfType<ISnapshottable>().Select(s => s.SectionId).ToHashSet();
        Assert.Contains("fwcfg", found);
        Assert.Contains("lapic", found);
        Assert.Contains("ioapic", found);
        Assert.Contains("ide", found);
        Assert.Contains("virtio-blk-modern@03", found);
        Assert.Contains("virtio-blk-legacy@04", found);
        Assert.Contains("rcr", found); // the 0xCF9 reset control register
    }

    [Fact]
    public void EveryDeviceOnTheBoardWithStateIsOneSection()
    {
        using var machine = EveryDevice();
        var saved = SectionIds(machine);
        foreach (var device in machine.Devices.OfType<ISnapshottable>()) Assert.Contains(device.SectionId, saved);
        // Each section once (the board refuses a device added twice, or two devices sharing an id).
        Assert.Equal(saved.Count, saved.Distinct().Count());
    }

    [Fact]
    public void EveryInterruptOutputReachableFromTheMachineIsDeclaredByADeviceOnTheBoardAndWired()
    {
        using var machine = EveryDevice();
        var reachable = Reachable(machine);
        var declared = machine.Devices.OfType<IInterruptSource>().SelectMany(s => s.IrqOutputs).ToHashSet(ReferenceEqualityComparer.Instance);

        // An output the board never saw (a device that drives one but does not declare it, or is not on the board).
        var undeclared = reachable.OfType<IrqOutput>().Where(o => !declared.Contains(o)).Select(o => o.ToString()).ToList();
        Assert.True(undeclared.Count == 0, "interrupt outputs no device on the board declares: " + string.Join(", ", undeclared));
        var unwired = declared.Cast<IrqOutput>().Where(o => !o.IsConnected).Select(o => o.ToString()).ToList();
        Assert.True(unwired.Count == 0, "declared but not wired: " + string.Join(", ", unwired));

        // A device handed a controller input directly, past the board: any field holding a line that is not a
        // declared output (the outputs' own connection and the controllers' inputs are what the board wired).
        var bypass = new List<string>();
        foreach (var o in reachable)
        {
            if (o is IrqOutput) continue;
            for (var t = o.GetType(); t is not null && t != typeof(object); t = t.BaseType)
                foreach (var f in t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
                    if (f.FieldType == typeof(IIrqLine) && f.GetValue(o) is { } line && !declared.Contains(line))
                        bypass.Add($"{t.Name}.{f.Name} ({line.GetType().Name})");
        }
        Assert.True(bypass.Count == 0, "interrupt lines not wired by the board: " + string.Join(", ", bypass));

        // The walk sees every wire of this machine: the ISA devices' IRQs, the PIIX3's PIRQ outputs (every routable
        // ISA IRQ) and each virtio disk's INTA#.
        int[] devices = [0, 1, 4, 6, 8, 9, 12, 14, 15], pirqRoutes = [3, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15];
        Assert.Equal(devices.Concat(pirqRoutes).Order(), declared.Cast<IrqOutput>().Where(o => o.IsaIrq is not null).Select(o => o.IsaIrq!.Value).Order());
        Assert.Equal(2, declared.Cast<IrqOutput>().Count(o => o.PciPin == 0));
        Assert.Equal(declared.Count, reachable.OfType<IrqOutput>().Count());
    }

    /// <summary>The section ids, in order, of the stream savevm writes for <paramref name="machine"/>.</summary>
    private static List<string> SectionIds(PcMachine machine)
    {
        var ms = new MemoryStream();
        VmStateStream.Save(ms, machine.Fingerprint, machine.StateSections, machine.Memory.Ram);
        ms.Position = 0;
        var r = new BinaryReader(ms, Encoding.UTF8);
        Assert.Equal("MINIVMST"u8.ToArray(), r.ReadBytes(8));
        Assert.Equal(VmStateStream.FormatVersion, r.ReadUInt32());
        r.ReadString(); // fingerprint
        var ids = new List<string>();
        while (r.ReadByte() == 1)
        {
            ids.Add(r.ReadString());
            r.ReadInt32();
            long length = r.ReadInt64();
            ms.Position += length;
        }
        return ids;
    }

    /// <summary>
    /// Every object reachable from <paramref name="root"/> through fields, arrays, collections and delegates, staying
    /// inside MiniVM's own types (the runtime's internals and byte arrays such as RAM are not walked).
    /// </summary>
    private static HashSet<object> Reachable(object root)
    {
        var seen = new HashSet<object>(ReferenceEqualityComparer.Instance);
        var todo = new Stack<object>();
        todo.Push(root);
        while (todo.Count > 0)
        {
            object o = todo.Pop();
            if (!seen.Add(o)) continue;
            if (o is Delegate d)
            {
                foreach (var single in d.GetInvocationList())
                    if (single.Target is { } t) todo.Push(t);
                continue;
            }
            var type = o.GetType();
            if (o is Array array)
            {
                // Arrays of plain values (RAM, page tables, decoded instructions) hold no device; a collection's
                // entries (generic structs such as a dictionary's) may.
                var element = type.GetElementType()!;
                if (element.IsValueType && !element.IsGenericType) continue;
                foreach (var e in array) if (e is not null && Walkable(e.GetType())) todo.Push(e);
                continue;
            }
            for (var t = type; t is not null && t != typeof(object); t = t.BaseType)
            {
                foreach (var f in t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
                {
                    if (f.FieldType.IsPrimitive || f.FieldType.IsPointer) continue;
                    object? v = f.GetValue(o);
                    if (v is null) continue;
                    if (v is Delegate || v is Array || Walkable(v.GetType())) todo.Push(v);
                }
            }
        }
        return seen;
    }

    private static bool Walkable(Type t) =>
        !t.IsPrimitive && t != typeof(string) &&
        (t.Assembly.GetName().Name!.StartsWith("MiniVM", StringComparison.Ordinal)
         || t.Namespace?.StartsWith("System.Collections", StringComparison.Ordinal) == true
         || t.IsDefined(typeof(CompilerGeneratedAttribute)));
}
