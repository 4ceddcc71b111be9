using System.Collections;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace MiniVM.Machine.Configuration;

/// <summary>
/// Checks the merged configuration tree against the shape of <see cref="VmDocument"/> before binding, so every
/// mistake is named by its key as `--set` spells it: an unknown key, a section given a value (`--set machine=3`,
/// which the binder would silently drop when the JSON file also has a machine section), a value given keys,
/// a list given names instead of indexes, a required value set to null.
/// </summary>
internal static class ConfigurationShape
{
    public static void Check(IConfiguration root) => CheckSection(root, typeof(VmDocument), "");

    private static void CheckSection(IConfiguration section, Type type, string prefix)
    {
        foreach (var child in section.GetChildren())
        {
            string key = prefix + child.Key.ToLowerInvariant();
            var property = type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
                .FirstOrDefault(p => KeyOf(p).Equals(child.Key, StringComparison.OrdinalIgnoreCase));
            if (property is null || !property.CanWrite)
                throw new VmConfigException($"config: unknown key {key} ({Describe(type, prefix)})");
            CheckValue(child, property.PropertyType, key, property);
        }
    }

    private static void CheckValue(IConfigurationSection node, Type type, string key, PropertyInfo? property)
    {
        bool hasChildren = node.GetChildren().Any();
        if (IsScalar(type))
        {
            if (hasChildren)
                throw new VmConfigException($"config: {key} is a single value, not a section: it has no keys of its own ({string.Join(", ", node.GetChildren().Select(c => key + "." + c.Key))})");
            if (node.Value is null && property is not null && !AllowsNull(property))
                throw new VmConfigException($"config: {key} is null; give it a value or leave the key out");
            return;
        }
        if (ListElement(type) is { } element)
        {
            if (node.Value is { Length: > 0 } listValue)
                throw new VmConfigException($"config: {key} = '{listValue}': {key} is a list (a JSON array, or {key}.0.KEY=VALUE), not a single value");
            foreach (var item in node.GetChildren())
            {
                if (!int.TryParse(item.Key, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                    throw new VmConfigException($"config: {key}.{item.Key}: {key} is a list; its entries are numbered ({key}.0, {key}.1, ...)");
                CheckValue(item, element, $"{key}.{item.Key}", null);
            }
            return;
        }
        if (node.Value is { Length: > 0 } value)
            throw new VmConfigException($"config: {key} = '{value}': {key} is a section, not a single value ({Describe(type, key + ".")})");
        CheckSection(node, type, key + ".");
    }

    private static bool IsScalar(Type t) =>
        t == typeof(string) || t.IsPrimitive || t.IsEnum || Nullable.GetUnderlyingType(t) is not null;

    private static Type? ListElement(Type t) =>
        t != typeof(string) && typeof(IEnumerable).IsAssignableFrom(t) && t.IsGenericType ? t.GetGenericArguments()[0] : null;

    private static bool AllowsNull(PropertyInfo p) =>
        Nullable.GetUnderlyingType(p.PropertyType) is not null ||
        (!p.PropertyType.IsValueType && new NullabilityInfoContext().Create(p).WriteState != NullabilityState.NotNull);

    private static string Describe(Type type, string prefix) =>
        "keys: " + string.Join(", ", type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite).Select(p => prefix + KeyOf(p)));

    /// <summary>The key a property is spelled with in vm.json and `--set`: its ConfigurationKeyName, else its name.</summary>
    private static string KeyOf(PropertyInfo p) =>
        p.GetCustomAttribute<ConfigurationKeyNameAttribute>()?.Name ?? p.Name.ToLowerInvariant();
}
