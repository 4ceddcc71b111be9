using System.Text;

namespace MiniVM.Block;

/// <summary>
/// Capability: user key/value metadata stored inside the image ("qcow3" = qcow2 with a user-metadata header
/// extension, qcow3.md §4.2). Keys are UTF-8, 1..255 bytes, case-sensitive and unique; values are any bytes.
/// Every change is applied with one header rewrite, so it is durable when the call returns.
/// </summary>
public interface IUserMetadata
{
    /// <summary>All pairs, in the order they are stored.</summary>
    IReadOnlyList<KeyValuePair<string, byte[]>> UserMetadata { get; }

    /// <summary>Adds or replaces <paramref name="key"/>; throws ImageFormatException when it does not fit.</summary>
    void SetUserMetadata(string key, ReadOnlySpan<byte> value);

    /// <summary>Removes <paramref name="key"/>; false when it was not there.</summary>
    bool RemoveUserMetadata(string key);

    /// <summary>Text convenience: the value stored as UTF-8.</summary>
    void SetUserMetadata(string key, string value) => SetUserMetadata(key, Encoding.UTF8.GetBytes(value));

    /// <summary>The value of <paramref name="key"/>, or null.</summary>
    byte[]? GetUserMetadata(string key)
    {
        foreach (var kv in UserMetadata)
            if (kv.Key == key) return kv.Value;
        return null;
    }
}
