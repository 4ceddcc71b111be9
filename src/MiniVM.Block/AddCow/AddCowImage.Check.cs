namespace MiniVM.Block.AddCow;

/// <summary>
/// Consistency check. The header and bitmap length were validated by open; what remains is what open tolerates:
/// bits past the end of the disk (§5.2 item 6), a bitmap longer than the disk needs (a crashed shrink, §3.7), and
/// a raw file whose length changed under the open image.
/// </summary>
public sealed partial class AddCowImage
{
    public CheckResult Check(RepairMode repair = RepairMode.None)
    {
        lock (Gate)
        {
            CheckUsable();
            if (repair != RepairMode.None) CheckWritable();
            var r = new CheckResult { TotalClusters = _bitmap.Clusters, AllocatedClusters = _bitmap.CountSet() };
            try
            {
                if (_strayBitsFound > 0)
                {
                    if (IsReadOnly)
                    {
                        r.Corruptions += _strayBitsFound;
                        r.Messages.Add($"ERROR {_strayBitsFound} bitmap bits set past the last cluster ({_bitmap.Clusters - 1}); ignored, cleared when opened for writing");
                    }
                    else
                    {
                        r.CorruptionsFixed += _strayBitsFound;
                        r.Messages.Add($"Repaired: {_strayBitsFound} bitmap bits set past the last cluster were cleared when the image was opened");
                    }
                }
                long rawLength = RandomAccess.GetLength(_raw);
                if (rawLength != Size)
                {
                    r.Corruptions++;
                    r.Messages.Add($"ERROR image file {RawPath} is {rawLength} bytes, the disk was opened with {Size}");
                }
                long tail = _metaLength - (AddCowHeader.Size + _bitmap.Length);
                if (tail > 0)
                {
                    if (repair != RepairMode.None)
                    {
                        _metaLength = AddCowHeader.Size + _bitmap.Length;
                        RandomAccess.SetLength(_meta, _metaLength);
                        HostFile.SyncData(_meta, FileName);
                        r.LeaksFixed++;
                        r.Messages.Add($"Repaired: {tail} bytes past the end of the bitmap were cut off");
                    }
                    else
                    {
                        r.Leaks++;
                        r.Messages.Add($"Leaked: {tail} bytes past the end of the bitmap (left by a shrink); harmless");
                    }
                }
            }
            catch (IOException e) { throw HostError("check", e); }
            return r;
        }
    }
}
