using System.Globalization;

namespace MiniVM.Cli;

/// <summary>
/// qemu-img's -p progress (util/qemu-progress.c): "    (P/100%)\r" with P to two decimals, printed at 0, on every
/// step of at least one percent, and at 100 followed by a newline.
/// </summary>
internal sealed class QemuProgress
{
    private readonly TextWriter? _out;
    private double _shown = -1;

    public QemuProgress(TextWriter output, bool enabled)
    {
        _out = enabled ? output : null;
        Report(0);
    }

    /// <summary>Reports <paramref name="done"/> of <paramref name="total"/> units.</summary>
    public void Report(long done, long total) => Report(total <= 0 ? 100 : 100.0 * done / total);

    private void Report(double percent)
    {
        if (_out is null || (_shown >= 0 && percent - _shown < 1 && percent < 100)) return;
        _shown = percent;
        _out.Write(string.Create(CultureInfo.InvariantCulture, $"    ({percent:0.00}/100%)\r"));
    }

    public void End()
    {
        if (_out is null) return;
        _out.Write(string.Create(CultureInfo.InvariantCulture, $"    ({100.0:0.00}/100%)\r"));
        _out.Write('\n');
    }
}
