namespace MiniVM.Cli;

/// <summary>
/// Process exit codes (docs/cli.md). 1–3 and 63 keep qemu-img's meanings for `check` and `compare`;
/// the other error classes use the BSD sysexits numbers so scripts can tell them apart.
/// </summary>
public static class ExitCodes
{
    public const int Success = 0;

    /// <summary>The operation ran and answered "no": compare found a difference, io's pattern check failed, check could not run.</summary>
    public const int Failure = 1;

    /// <summary>check: the image is corrupted (qemu-img). compare: an error stopped the comparison (qemu-img).</summary>
    public const int Corruption = 2;

    /// <summary>check: leaked clusters only, data is safe (qemu-img).</summary>
    public const int LeaksOnly = 3;

    /// <summary>check: the format has no consistency check (qemu-img).</summary>
    public const int CheckUnsupported = 63;

    /// <summary>Bad command line: unknown option, bad size or number, unknown format name, bad -o option.</summary>
    public const int Usage = 64;

    /// <summary>The image is not a valid image of its format, or the request does not fit the image.</summary>
    public const int ImageFormat = 65;

    /// <summary>A file named on the command line does not exist.</summary>
    public const int NoSuchFile = 66;

    /// <summary>An unexpected internal error (a bug): reported in one line, never as a stack trace.</summary>
    public const int Internal = 70;

    /// <summary>The format cannot do what was asked (snapshots on raw, ...).</summary>
    public const int Unsupported = 69;

    /// <summary>Another process holds the image's lock (a running VM, qemu-img, qemu-io): sysexits' EX_TEMPFAIL, try again later.</summary>
    public const int Locked = 75;

    /// <summary>The operating system refused a read, write or open (disk full, permissions, ...).</summary>
    public const int IoError = 74;
}
