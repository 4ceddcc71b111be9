namespace MiniVM.Block.Qcow2;

/// <summary>The backing link in cluster 0 (qcow2.txt backing_file_offset/size, the backing format extension).</summary>
public sealed partial class Qcow2Image : IBackingLink
{
    public void SetBackingFile(string? name, string? format)
    {
        using var gate = Gate.EnterScope();
        CheckUsable();
        CheckWritable();
        FlushMetadata();
        string? oldName = _h.BackingFileName, oldFormat = _h.BackingFormat;
        _h.BackingFileName = name;
        _h.BackingFormat = name is null ? null : format;
        try { _h.ToBytes(); }
        catch (ImageFormatException e)
        {
            _h.BackingFileName = oldName;
            _h.BackingFormat = oldFormat;
            throw new ImageFormatException(FileName, e.Message);
        }
        WriteHeader();
    }
}
