using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;

namespace MiniVM.Machine.Configuration;

/// <summary>
/// Reads the VM configuration in layers, later ones winning: the JSON file (`vm.json`), environment variables
/// `MINIVM__SECTION__KEY`, then command-line overrides (`--set section.key=value` and the QEMU-style shorthands).
/// Binds the layers to <see cref="VmDocument"/>, checks every value and cross-field rule, and returns the typed
/// <see cref="VmOptions"/>; a wrong value is a <see cref="VmConfigException"/> whose one-line message names the key
/// as the user would spell it in `--set`.
/// </summary>
public static partial class VmConfigLoader
{
    public const string EnvironmentPrefix = "MINIVM__";

    /// <summary>A vm.json larger than this is refused unread (the file is read whole).</summary>
    public const int MaxConfigFileBytes = 1 << 20;

    /// <summary>
    /// The most guest RAM the machine maps, in MiB: RAM is one byte array (PhysicalMemory), so it ends below
    /// Array.MaxLength (2 GiB - 57 bytes), which also keeps it below the 0xE0000000 PCI hole SeaBIOS expects.
    /// </summary>
    public static readonly int MaxMemoryMiB = Array.MaxLength >> 20;

    /// <summary>Shorthand switches that are plain aliases of configuration keys.</summary>
    private static readonly Dictionary<string, string> Aliases = new(StringComparer.OrdinalIgnoreCase)
    {
        ["--memory"] = "machine:memory",
        ["--serial"] = "serial",
        ["--monitor"] = "monitor",
        ["--display"] = "display",
        ["--clock"] = "clock",
        ["--boot"] = "boot",
        ["--bios"] = "firmware:bios",
    };

    /// <param name="configFile">The JSON file; when null, `vm.json` in the current folder if it exists.</param>
    /// <param name="sets">`key=value` overrides; keys use '.' or ':' between sections (`machine.memory=256`).</param>
    /// <param name="shorthands">Alias switches with values (`--memory`, `--serial`, ...), as (switch, value) pairs.</param>
    /// <param name="drives">Drives given with `--drive/--hda/--fda`; when any are given they replace the file's drives.</param>
    public static VmOptions Load(string? configFile, IEnumerable<string> sets, IEnumerable<(string Switch, string Value)> shorthands,
        IReadOnlyList<DriveDocument> drives, IDictionary<string, string?>? environment = null)
    {
        string baseDir = Directory.GetCurrentDirectory();
        // Without a configuration file the default firmware paths name MiniVM's own firmware/ folder.
        string firmwareBase = InstallationRoot() ?? baseDir;
        var builder = new ConfigurationBuilder();
        if (configFile is not null)
        {
            if (!File.Exists(configFile)) throw new VmConfigException($"config: file '{configFile}' not found");
            HostInput.Check(configFile, "--config", MaxConfigFileBytes);
            baseDir = firmwareBase = Path.GetDirectoryName(Path.GetFullPath(configFile))!;
            builder.AddJsonFile(Path.GetFullPath(configFile), optional: false);
        }
        else if (File.Exists("vm.json"))
        {
            HostInput.Check("vm.json", "--config", MaxConfigFileBytes);
            firmwareBase = baseDir;
            builder.AddJsonFile(Path.GetFullPath("vm.json"), optional: false);
        }

        if (environment is null) builder.AddEnvironmentVariables(EnvironmentPrefix);
        else builder.AddInMemoryCollection(environment
            .Where(kv => kv.Key.StartsWith(EnvironmentPrefix, StringComparison.OrdinalIgnoreCase))
            .Select(kv => new KeyValuePair<string, string?>(kv.Key[EnvironmentPrefix.Length..].Replace("__", ":"), kv.Value)));

        var args = new List<string>();
        foreach (var (sw, value) in shorthands)
        {
            if (!Aliases.ContainsKey(sw)) throw new VmConfigException($"config: unknown switch {sw}");
            args.Add(sw); args.Add(value);
        }
        foreach (var s in sets)
        {
            int eq = s.IndexOf('=');
            if (eq <= 0) throw new VmConfigException($"config: --set '{s}' is not key=value");
            args.Add("--" + s[..eq].Trim().Replace('.', ':') + "=" + s[(eq + 1)..]);
        }
        builder.AddCommandLine(args.ToArray(), Aliases);

        IConfigurationRoot root;
        try { root = builder.Build(); }
        catch (Exception e) when (e is FormatException or InvalidDataException or IOException)
        {
            throw new VmConfigException($"config: {configFile ?? "vm.json"}: {JsonError(e)}");
        }

        ConfigurationShape.Check(root);
        VmDocument document = Bind(root);
        if (drives.Count > 0) { document.Drives = drives.ToList(); AssignIndexes(document.Drives); }
        else foreach (var d in document.Drives) d.File = Resolve(baseDir, d.File);
        foreach (var d in document.Drives.Where(d => d.IsCdrom)) d.ReadOnly = true; // a CD-ROM's medium is never written
        document.Firmware.Bios = ResolveFirmware(firmwareBase, document.Firmware.Bios);
        document.Firmware.VgaBios = ResolveFirmware(firmwareBase, document.Firmware.VgaBios);
        return Typed(document);
    }

    private static VmDocument Bind(IConfiguration root)
    {
        try
        {
            // Unknown keys were refused by ConfigurationShape.Check, which also knows hyphenated keys
            // (ConfigurationKeyName) that the binder's own unknown-key check does not.
            return root.Get<VmDocument>() ?? new VmDocument();
        }
        catch (InvalidOperationException e)
        {
            string m = e.Message;
            var conv = ConversionError().Match(m);
            if (conv.Success)
                throw new VmConfigException($"config: {Dotted(conv.Groups["path"].Value)} = '{conv.Groups["value"].Value}' is not a valid {FriendlyType(conv.Groups["type"].Value)}");
            throw new VmConfigException("config: " + FirstLine(m));
        }
    }

    /// <summary>Checks every value of the document, in the order the keys are listed, then the rules between keys.</summary>
    private static VmOptions Typed(VmDocument o)
    {
        if (o.Machine.Memory < 1 || o.Machine.Memory > MaxMemoryMiB)
            throw new VmConfigException($"config: machine.memory = {o.Machine.Memory}: must be 1..{MaxMemoryMiB} (MiB)");
        if (!string.Equals(o.Machine.Cpu, "p6", StringComparison.OrdinalIgnoreCase))
            throw new VmConfigException($"config: machine.cpu = '{o.Machine.Cpu}': the only CPU model is p6");
        var engine = o.Machine.CpuEngine.ToLowerInvariant() switch
        {
            "jit" => MiniVM.Cpu.CpuEngine.Jit,
            "interpreter" => MiniVM.Cpu.CpuEngine.Interpreter,
            _ => throw new VmConfigException($"config: machine.cpu-engine = '{o.Machine.CpuEngine}': use jit or interpreter"),
        };
        DateTime? rtc = null;
        if (!o.Machine.Rtc.Equals("now", StringComparison.OrdinalIgnoreCase))
        {
            if (!DateTime.TryParse(o.Machine.Rtc, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var fixedTime))
                throw new VmConfigException($"config: machine.rtc = '{o.Machine.Rtc}': use now or a date like 2026-01-01T00:00:00");
            rtc = fixedTime;
        }
        if (string.IsNullOrWhiteSpace(o.Boot) || o.Boot.Any(c => "acdn".IndexOf(char.ToLowerInvariant(c)) < 0))
            throw new VmConfigException($"config: boot = '{o.Boot}': use the letters a (floppy), c (hard disk), d, n");
        // The CMOS boot order holds three devices; QEMU refuses a device named twice.
        if (o.Boot.Length > 3 || o.Boot.ToLowerInvariant().Distinct().Count() != o.Boot.Length)
            throw new VmConfigException($"config: boot = '{o.Boot}': at most 3 devices, each named once (e.g. cad)");
        var serial = ParseSerial(o.Serial);
        var monitor = ParseMonitor(o.Monitor);
        var display = o.Display.ToLowerInvariant() switch
        {
            "auto" => DisplayKind.Auto,
            "none" or "headless" => DisplayKind.None,
            "curses" => DisplayKind.Curses,
            "sdl" => DisplayKind.Sdl,
            _ => throw new VmConfigException($"config: display = '{o.Display}': use auto, none, curses or sdl"),
        };
        ClockMode? clock = o.Clock.ToLowerInvariant() switch
        {
            "auto" => null,
            "virtual" => ClockMode.Virtual,
            "paced" => ClockMode.Paced,
            "realtime" => ClockMode.Realtime,
            _ => throw new VmConfigException($"config: clock = '{o.Clock}': use auto, virtual, paced or realtime"),
        };
        var drives = new List<DriveOptions>();
        var seen = new HashSet<(DriveInterface, int)>();
        for (int i = 0; i < o.Drives.Count; i++)
        {
            var d = o.Drives[i];
            string key = $"drives.{i}";
            string iface = d.Interface.ToLowerInvariant();
            var (kind, max) = iface switch
            {
                "ide" => (DriveInterface.Ide, 3),
                "floppy" => (DriveInterface.Floppy, 1),
                "virtio" => (DriveInterface.Virtio, 7),
                _ => throw new VmConfigException($"config: {key}.interface = '{d.Interface}': use ide, floppy or virtio"),
            };
            if (d.Index < 0 || d.Index > max)
                throw new VmConfigException($"config: {key}.index = {d.Index}: {iface} takes 0..{max}");
            if (!seen.Add((kind, d.Index)))
                throw new VmConfigException($"config: {key}: {iface} index {d.Index} is used twice");
            var media = d.Media.ToLowerInvariant() switch
            {
                "disk" => DriveMedia.Disk,
                "cdrom" => DriveMedia.Cdrom,
                _ => throw new VmConfigException($"config: {key}.media = '{d.Media}': use disk or cdrom"),
            };
            if (media == DriveMedia.Cdrom && kind != DriveInterface.Ide)
                throw new VmConfigException($"config: {key}.media = cdrom: a CD-ROM drive is on the ide interface, not {iface}");
            if (string.IsNullOrWhiteSpace(d.File) && media != DriveMedia.Cdrom)
                throw new VmConfigException($"config: {key}.file is empty");
            var transport = d.Transport.ToLowerInvariant() switch
            {
                "legacy" => VirtioTransport.Legacy,
                "modern" => VirtioTransport.Modern,
                _ => throw new VmConfigException($"config: {key}.transport = '{d.Transport}': use legacy or modern"),
            };
            drives.Add(new DriveOptions
            {
                Interface = kind, Index = d.Index, File = d.File, Format = string.IsNullOrEmpty(d.Format) ? null : d.Format,
                ReadOnly = d.ReadOnly, Media = media, Transport = transport,
            });
        }
        CheckSharedImages(drives);
        // One stdio cannot carry both a guest console and the monitor; QEMU's mon:stdio multiplexing is not offered.
        if (monitor.Kind == MonitorKind.Stdio && serial.Kind == SerialSinkKind.Stdio)
            throw new VmConfigException("config: monitor = stdio and serial = stdio cannot share stdio; use --serial none|file:PATH or --monitor tcp:127.0.0.1:PORT");
        return new VmOptions
        {
            Machine = new MachineOptions { Memory = o.Machine.Memory, CpuEngine = engine, Rtc = rtc },
            Firmware = new FirmwareFiles(o.Firmware.Bios, o.Firmware.VgaBios),
            Drives = drives,
            Boot = o.Boot.ToLowerInvariant(),
            Serial = serial,
            Monitor = monitor,
            Display = display,
            Clock = clock,
        };
    }

    /// <summary>
    /// One image behind two drives would be written by two devices that each believe they own it (QEMU refuses
    /// through its image locks); two read-only drives may share one.
    /// </summary>
    private static void CheckSharedImages(List<DriveOptions> drives)
    {
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < drives.Count; i++)
        {
            if (string.IsNullOrEmpty(drives[i].File)) continue; // an empty CD-ROM drive holds no image
            string identity = FileIdentity(drives[i].File);
            if (seen.TryGetValue(identity, out int first) && !(drives[first].ReadOnly && drives[i].ReadOnly))
                throw new VmConfigException($"config: drives.{i}.file = '{drives[i].File}': the same image as drives.{first}.file; " +
                    "two drives may share an image only when both are readonly");
            seen.TryAdd(identity, i);
        }
    }

    /// <summary>The path with symbolic links resolved, so two spellings of one file compare equal.</summary>
    private static string FileIdentity(string path)
    {
        string full = Path.GetFullPath(path);
        try { return new FileInfo(full).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? full; }
        catch (IOException) { return full; }
    }

    /// <summary>A JSON syntax error as "line L, column C: what" (the parser's position, counted from 1).</summary>
    private static string JsonError(Exception e)
    {
        for (Exception? inner = e; inner is not null; inner = inner.InnerException)
            if (inner is System.Text.Json.JsonException { LineNumber: { } line } json)
            {
                string what = json.Message;
                int cut = what.IndexOf(" LineNumber:", StringComparison.Ordinal);
                if (cut > 0) what = what[..cut];
                return $"line {line + 1}, column {(json.BytePositionInLine ?? 0) + 1}: {what.Trim()}";
            }
        return FirstLine(e.InnerException?.Message ?? e.Message);
    }

    /// <summary>Parses QEMU's `-drive if=ide,index=0,file=x.irow,format=irow,readonly=on` value.</summary>
    public static DriveDocument ParseDrive(string spec, string baseDir)
    {
        var d = new DriveDocument();
        bool haveIndex = false;
        foreach (var part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = part.IndexOf('=');
            if (eq <= 0) throw new VmConfigException($"--drive '{spec}': '{part}' is not key=value");
            string k = part[..eq].Trim().ToLowerInvariant(), v = part[(eq + 1)..].Trim();
            switch (k)
            {
                case "if": d.Interface = v; break;
                case "index":
                    if (!int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int idx))
                        throw new VmConfigException($"--drive '{spec}': index '{v}' is not a number");
                    d.Index = idx; haveIndex = true; break;
                case "file": d.File = Resolve(baseDir, v); break;
                case "format": d.Format = v; break;
                case "readonly": d.ReadOnly = v is "on" or "true" or "yes" ? true : v is "off" or "false" or "no" ? false
                    : throw new VmConfigException($"--drive '{spec}': readonly '{v}' must be on or off"); break;
                case "transport": d.Transport = v; break;
                case "media": d.Media = v; break;
                default: throw new VmConfigException($"--drive '{spec}': unknown key '{k}' (if, index, file, format, readonly, media, transport)");
            }
        }
        if (string.IsNullOrEmpty(d.File) && !d.IsCdrom) throw new VmConfigException($"--drive '{spec}': file= is missing");
        d.Index = haveIndex ? d.Index : -1; // -1: the caller assigns the next free index of that interface
        return d;
    }

    /// <summary>Gives drives without an explicit index the next free one of their interface.</summary>
    public static void AssignIndexes(List<DriveDocument> drives)
    {
        foreach (var d in drives.Where(d => d.Index < 0))
        {
            int i = 0;
            while (drives.Any(o => o != d && o.Index == i && string.Equals(o.Interface, d.Interface, StringComparison.OrdinalIgnoreCase))) i++;
            d.Index = i;
        }
    }

    /// <summary>
    /// A relative firmware path names the file beside the configuration when it is there, else the installation's own
    /// (<see cref="InstallationRoot"/>: firmware/ next to the minivm executable or in the source tree), where
    /// <see cref="Firmware"/> fetches it when it is missing: a vm.json written anywhere boots without a copy of SeaBIOS.
    /// </summary>
    private static string ResolveFirmware(string configDir, string path)
    {
        string beside = Resolve(configDir, path);
        if (Path.IsPathRooted(path) || File.Exists(beside)) return beside;
        return InstallationRoot() is { } root ? Resolve(root, path) : beside;
    }

    /// <summary>The source tree or install folder MiniVM runs from: the nearest ancestor with firmware/fetch-seabios.sh.</summary>
    public static string? InstallationRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "firmware", "fetch-seabios.sh"))) return d.FullName;
        return null;
    }

    private static SerialSink ParseSerial(string s)
    {
        if (s.Equals("stdio", StringComparison.OrdinalIgnoreCase)) return SerialSink.Stdio;
        if (s.Equals("none", StringComparison.OrdinalIgnoreCase)) return SerialSink.None;
        if (s.StartsWith("file:", StringComparison.Ordinal) && s.Length > 5) return SerialSink.ToFile(s[5..]);
        throw new VmConfigException($"config: serial = '{s}': use stdio, none or file:PATH");
    }

    private static MonitorEndpoint ParseMonitor(string s)
    {
        if (s.Equals("stdio", StringComparison.OrdinalIgnoreCase)) return MonitorEndpoint.Stdio;
        if (s.Equals("none", StringComparison.OrdinalIgnoreCase)) return MonitorEndpoint.None;
        var m = TcpMonitor().Match(s);
        // Port 0: any free port, announced on stderr when the monitor starts listening.
        if (m.Success && int.TryParse(m.Groups[1].Value, out int port) && port is >= 0 and < 65536) return MonitorEndpoint.Tcp(port);
        throw new VmConfigException($"config: monitor = '{s}': use none, stdio or tcp:127.0.0.1:PORT (the monitor listens on loopback only)");
    }

    private static string Resolve(string baseDir, string path) =>
        string.IsNullOrEmpty(path) || Path.IsPathRooted(path) ? path : Path.GetFullPath(Path.Combine(baseDir, path));

    private static string Dotted(string path) => path.Replace(':', '.').ToLowerInvariant();

    private static string FriendlyType(string t) => t switch
    {
        "System.Int32" => "whole number",
        "System.Boolean" => "boolean (true or false)",
        _ => t,
    };

    private static string FirstLine(string s) => s.Split('\n')[0].Trim();

    [GeneratedRegex(@"Failed to convert configuration value '(?<value>.*)' at '(?<path>[^']*)' to type '(?<type>[^']*)'")]
    private static partial Regex ConversionError();

    [GeneratedRegex(@"^tcp:127\.0\.0\.1:(\d+)$")]
    private static partial Regex TcpMonitor();
}
