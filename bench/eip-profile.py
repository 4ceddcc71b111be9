#!/usr/bin/env python3
"""Histogram of a guest's time per function from `minivm run --eip-samples FILE` and a System.map.

Usage: bench/eip-profile.py SAMPLES SYSTEM.MAP [--from SECONDS] [--to SECONDS] [--top N] [--phases SECONDS...]
                             [--kaslr-offset HEX]

Each sample stands for --eip-sample-interval instructions (the file's header says how many). --from/--to keep the
samples whose virtual time (seconds) lies in that range; --phases T1 T2 ... prints one histogram per interval
between consecutive times instead. Addresses below the kernel's first text symbol are shown as "user (cpl 3)" or
"firmware/real mode". SYSTEM.MAP is `nm`-style ("address type name"): a System.map, or /proc/kallsyms of a boot with
`nokaslr` (Debian's linux-image .deb ships a stub System.map; the real one is in the -dbg package).
A kernel built with RANDOMIZE_BASE runs at a random multiple of CONFIG_PHYSICAL_ALIGN above its link address:
without --kaslr-offset the script picks the multiple of 16 MiB that puts the most kernel-mode samples inside
[_text, _etext) and says which one it took.
"""
import argparse, bisect, collections, re, sys


def load_symbols(path):
    addrs, names = [], []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3 or parts[1] not in "tTwW":
                continue
            addrs.append(int(parts[0], 16)); names.append(parts[2])
    order = sorted(range(len(addrs)), key=addrs.__getitem__)
    return [addrs[i] for i in order], [names[i] for i in order]


def load_samples(path):
    interval, rows = None, []
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                m = re.search(r"every (\d+) instructions", line)
                if m: interval = int(m.group(1))
                continue
            fields = line.split()
            if len(fields) != 4: continue   # a line still being written
            count, ns, cpl, eip = fields
            rows.append((int(count), int(ns), int(cpl), int(eip, 16)))
    if interval is None: sys.exit(f"{path}: not an --eip-samples file (no header)")
    return interval, rows


def guess_offset(rows, addrs, names, align=0x1000000):
    """The KASLR shift (a multiple of align) that puts the most kernel-mode samples inside the kernel's text."""
    lo = addrs[names.index("_text")] if "_text" in names else addrs[0]
    hi = addrs[names.index("_etext")] if "_etext" in names else addrs[-1]
    kernel = [eip for _, _, cpl, eip in rows if cpl == 0 and eip >= lo]
    best = max(range(0, 0x40000000, align), key=lambda d: sum(lo <= e - d < hi for e in kernel))
    return best


def name_of(addrs, names, cpl, eip):
    if cpl == 3: return "user (cpl 3)"
    if not addrs or eip < addrs[0]: return "firmware/real mode/boot loader" if eip < 0x100000 else f"unmapped {eip >> 12:05x}xxx"
    i = bisect.bisect_right(addrs, eip) - 1
    return names[i]


def histogram(title, rows, interval, addrs, names, top):
    if not rows: print(f"== {title}: no samples"); return
    c = collections.Counter(name_of(addrs, names, cpl, eip) for _, _, cpl, eip in rows)
    total = len(rows)
    span = (rows[-1][1] - rows[0][1]) / 1e9
    print(f"== {title}: {total} samples = {total * interval:,} instructions over {span:.2f} s virtual")
    for name, n in c.most_common(top):
        print(f"  {100 * n / total:6.2f} %  {n * interval:>15,}  {name}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("samples"); ap.add_argument("system_map")
    ap.add_argument("--from", dest="start", type=float, default=0.0)
    ap.add_argument("--to", dest="end", type=float, default=float("inf"))
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--phases", type=float, nargs="+")
    ap.add_argument("--kaslr-offset", type=lambda v: int(v, 16))
    a = ap.parse_args()
    interval, rows = load_samples(a.samples)
    addrs, names = load_symbols(a.system_map)
    offset = a.kaslr_offset if a.kaslr_offset is not None else guess_offset(rows, addrs, names)
    print(f"kernel text shifted by 0x{offset:x} (KASLR){'' if a.kaslr_offset is not None else ', guessed from the samples'}")
    rows = [(n, ns, cpl, eip - offset if cpl == 0 and eip - offset >= addrs[0] else eip) for n, ns, cpl, eip in rows]
    if a.phases:
        bounds = a.phases
        for lo, hi in zip(bounds, bounds[1:]):
            histogram(f"{lo:.2f}..{hi:.2f} s", [r for r in rows if lo * 1e9 <= r[1] < hi * 1e9], interval, addrs, names, a.top)
    else:
        histogram(f"{a.start:.2f}..{a.end:.2f} s", [r for r in rows if a.start * 1e9 <= r[1] < a.end * 1e9], interval, addrs, names, a.top)


if __name__ == "__main__":
    main()
