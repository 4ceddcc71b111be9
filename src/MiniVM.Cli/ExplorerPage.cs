using System.Text;
using System.Text.Json;

namespace MiniVM.Cli;

/// <summary>
/// `img explore`: one self-contained HTML page (inline style and script, no network) with the image's states
/// (<see cref="StateGraph"/>) and the map of the current view (<see cref="AllocationMap"/>). Clicking a state paints
/// the cells it owns in its colour and dims the rest (iROW: every cluster of its btmp, including ones a later state has
/// rewritten; a qcow2 snapshot: the clusters its own table holds that the current view no longer reads; a backing layer
/// or a format without per-state owners: its cells of the current view); hovering a cell
/// says its guest offset, owner, host file and host offset. The URL fragment <c>#state=NAME-OR-ID</c> clicks that state
/// on load, so a link (or a headless browser) can open the page on one state.
/// </summary>
internal static class ExplorerPage
{
    public static string Build(string title, AllocationMap map, MapOwners owners, List<StateNode> roots)
    {
        var grid = MapPicture.GridOf(map.CellCount, 0, 0);
        var rows = StateGraph.Flatten(roots);
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("title", title);
            w.WriteNumber("size", map.ImageSize);
            w.WriteNumber("clusterSize", map.ClusterSize);
            w.WriteNumber("cellBytes", map.CellBytes);
            w.WriteNumber("columns", grid.Columns);
            w.WriteStartArray("owners");
            for (int i = 0; i < owners.Labels.Count; i++)
            {
                w.WriteStartObject();
                w.WriteString("label", owners.Labels[i]);
                w.WriteString("colour", MapPicture.Css(MapPicture.OwnerColour(owners.ColourOf(i))));
                w.WriteBoolean("own", map.IsThisState(i));
                w.WriteNumber("bytes", i < map.OwnerBytes.Count ? map.OwnerBytes[i] : 0);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            WriteInts(w, "cells", map.Owners);
            WriteInts(w, "hostFile", map.HostFile);
            w.WriteStartArray("hostOffset");
            foreach (long o in map.HostOffset) w.WriteNumberValue(o);
            w.WriteEndArray();
            w.WriteStartArray("files");
            foreach (var f in map.HostFiles) w.WriteStringValue(f);
            w.WriteEndArray();
            w.WriteNumber("zeroBytes", map.ZeroBytes);
            w.WriteNumber("unallocatedBytes", map.UnallocatedBytes);
            w.WriteStartArray("states");
            foreach (var n in rows) WriteState(w, n, owners);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        // The default encoder escapes <, > and &: the JSON cannot end its <script> element early.
        string data = Encoding.UTF8.GetString(stream.GetBuffer(), 0, (int)stream.Length);
        return Template.Replace("%TITLE%", System.Net.WebUtility.HtmlEncode(title)).Replace("%DATA%", data);
    }

    private static void WriteInts(Utf8JsonWriter w, string name, int[] values)
    {
        w.WriteStartArray(name);
        foreach (int v in values) w.WriteNumberValue(v);
        w.WriteEndArray();
    }

    private static void WriteState(Utf8JsonWriter w, StateNode n, MapOwners owners)
    {
        w.WriteStartObject();
        w.WriteString("name", n.Name);
        if (n.Id is not null) w.WriteString("id", n.Id);
        w.WriteString("title", TreePicture.NameLine(n));
        w.WriteString("detail", TreePicture.DetailLine(n));
        w.WriteNumber("depth", n.Depth);
        w.WriteBoolean("current", n.IsCurrent);
        w.WriteBoolean("deleted", n.IsDeleted);
        w.WriteBoolean("layer", n.IsLayer);
        if (n.OwnedBytes is { } b) w.WriteNumber("ownedBytes", b);
        w.WriteString("colour", n.ColourIn(owners) is { } colour && n.OwnedBytes != 0 ? MapPicture.Css(MapPicture.OwnerColour(colour)) : "#c0c0c0");
        w.WriteStartArray("owners");
        foreach (int o in n.Owners) w.WriteNumberValue(o);
        w.WriteEndArray();
        if (n.OwnedCells is { } cells)
        {
            // Runs of consecutive cells: [first, count, first, count, ...], small for the usual long runs.
            w.WriteStartArray("ownedRuns");
            for (int i = 0; i < cells.Count;)
            {
                int j = i + 1;
                while (j < cells.Count && cells[j] == cells[j - 1] + 1) j++;
                w.WriteNumberValue(cells[i]);
                w.WriteNumberValue(j - i);
                i = j;
            }
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }

    private const string Template = """
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>%TITLE%</title>
<style>
body { font: 14px "DejaVu Sans", Verdana, sans-serif; color: #202020; margin: 16px; }
h1 { font-size: 18px; margin: 0 0 4px; }
#scale, .note { color: #505050; font-size: 12px; margin: 2px 0 10px; }
#layout { display: flex; gap: 24px; align-items: flex-start; }
#states { min-width: 280px; max-width: 460px; }
.state { display: block; width: 100%; text-align: left; border: 1px solid #909090; background: #fff; margin: 0 0 6px;
  padding: 4px 8px 4px 30px; cursor: pointer; position: relative; font: inherit; }
.state .sw { position: absolute; left: 8px; top: 9px; width: 14px; height: 14px; }
.state .d { display: block; font-size: 11px; color: #606060; }
.state.current { border: 3px solid #202020; }
.state.current .n { font-weight: bold; }
.state.deleted { border: 1.5px dashed #909090; background: #f4f4f4; color: #909090; }
.state.selected { outline: 3px solid #e8a000; }
#map { display: grid; gap: 1px; align-items: center; }
.lbl { font-size: 11px; color: #606060; text-align: right; padding-right: 6px; white-space: nowrap; }
.cell { width: var(--cell); height: var(--cell); box-sizing: border-box; }
.cell.none { border: 1px solid #c0c0c0; }
.cell.zero { background: #a8a8a8; }
.cell.dim { opacity: 0.2; }
.cell.hl { outline: 2px solid #202020; outline-offset: -1px; }
#info { font-family: "DejaVu Sans Mono", monospace; font-size: 12px; min-height: 3.2em; margin: 8px 0; white-space: pre; }
#selection { font-size: 13px; margin: 6px 0; min-height: 1.4em; }
#legend div { margin: 3px 0; font-size: 12px; }
#legend .sw { display: inline-block; width: 12px; height: 12px; vertical-align: -1px; margin-right: 6px; box-sizing: border-box; }
</style>
</head>
<body>
<h1 id="title"></h1>
<div id="scale"></div>
<div id="layout">
  <div id="states"><div class="note">Click a state to show what it owns; heavy border: the current state; dashed: deleted, kept for its children.</div></div>
  <div>
    <div id="selection"></div>
    <div id="map"></div>
    <div id="info">Hover a cell for its guest offset, owner and host location.</div>
    <div id="legend"></div>
  </div>
</div>
<script type="application/json" id="data">%DATA%</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
function size(b) {
  if (b === 0) return "0";
  let u = 0;
  while (u < units.length - 1 && b >= Math.pow(1024, u + 1)) u++;
  const v = b / Math.pow(1024, u);
  return (Number.isInteger(v) ? v : parseFloat(v.toFixed(3))) + " " + units[u];
}
function hex(n) { return "0x" + n.toString(16); }
function clusters(b) { const n = Math.ceil(b / D.clusterSize); return n + " cluster" + (n === 1 ? "" : "s") + " (" + size(b) + ")"; }
const ancestorMark = "linear-gradient(to top right, transparent 40%, #fff 40%, #fff 60%, transparent 60%)";
function paint(el, colour, own) {
  el.style.background = colour;
  if (!own) el.style.backgroundImage = ancestorMark;
}

document.getElementById("title").textContent = D.title;
const merged = D.cellBytes / D.clusterSize;
document.getElementById("scale").textContent = "one cell = " + size(D.cellBytes) +
  (merged > 1 ? " (" + merged + " clusters of " + size(D.clusterSize) + ", largest data owner shown)" : " (one cluster)") +
  "; one row = " + size(D.cellBytes * D.columns);

// The map: a label column, then the cells of each row.
const map = document.getElementById("map");
const cellPx = Math.max(8, Math.min(20, Math.floor(640 / D.columns)));
map.style.setProperty("--cell", (cellPx - 1) + "px");
map.style.gridTemplateColumns = "auto repeat(" + D.columns + ", " + (cellPx - 1) + "px)";
const cellEls = [];
for (let i = 0; i < D.cells.length; i++) {
  if (i % D.columns === 0) {
    const l = document.createElement("div");
    l.className = "lbl";
    l.textContent = size(i * D.cellBytes);
    map.appendChild(l);
  }
  const c = document.createElement("div");
  c.dataset.i = i;
  cellEls.push(c);
  map.appendChild(c);
}
function resetCell(i) {
  const c = cellEls[i], who = D.cells[i];
  c.removeAttribute("style");
  if (who >= 0) { c.className = "cell data " + (D.owners[who].own ? "own" : "ancestor"); paint(c, D.owners[who].colour, D.owners[who].own); }
  else c.className = "cell " + (who === -1 ? "zero" : "none");
}
for (let i = 0; i < cellEls.length; i++) resetCell(i);

const info = document.getElementById("info");
map.addEventListener("mouseover", e => {
  const i = e.target.dataset ? e.target.dataset.i : undefined;
  if (i === undefined) return;
  const k = Number(i), who = D.cells[k];
  const start = k * D.cellBytes, end = Math.min(start + D.cellBytes, D.size);
  let text = "guest offset " + hex(start) + " (" + size(start) + ") .. " + hex(end - 1) + "\n";
  if (who >= 0) {
    text += "owner: " + D.owners[who].label + (D.owners[who].own ? " (this state)" : " (ancestor)") + "\n";
    text += D.hostFile[k] >= 0 ? "host: " + D.files[D.hostFile[k]] + " at " + hex(D.hostOffset[k]) : "host: (not known)";
  } else text += (who === -1 ? "zero: reads as zeroes, no data stored" : "unallocated: no layer holds it, reads as zeroes") + "\nhost: none";
  info.textContent = text;
});

// The legend: only what the map shows.
const legend = document.getElementById("legend");
function legendRow(swatch, text) {
  const d = document.createElement("div");
  d.appendChild(swatch);
  d.appendChild(document.createTextNode(text));
  legend.appendChild(d);
}
D.owners.forEach(o => {
  if (o.bytes <= 0) return;
  const s = document.createElement("span"); s.className = "sw"; paint(s, o.colour, o.own);
  legendRow(s, o.label + ", " + (o.own ? "this state" : "ancestor") + ": " + clusters(o.bytes));
});
if (D.zeroBytes > 0) { const s = document.createElement("span"); s.className = "sw"; s.style.background = "#a8a8a8"; legendRow(s, "zero: " + clusters(D.zeroBytes)); }
if (D.unallocatedBytes > 0) { const s = document.createElement("span"); s.className = "sw"; s.style.border = "1px solid #c0c0c0"; legendRow(s, "unallocated: " + clusters(D.unallocatedBytes)); }

// The states, indented by depth; clicking one shows what it owns.
const statesEl = document.getElementById("states");
const buttons = [];
D.states.forEach((s, k) => {
  const b = document.createElement("button");
  b.type = "button";
  b.id = "state-" + k;
  b.className = "state" + (s.current ? " current" : "") + (s.deleted ? " deleted" : "");
  b.style.marginLeft = Math.min(s.depth, 20) * 18 + "px";
  b.style.width = "calc(100% - " + Math.min(s.depth, 20) * 18 + "px)";
  const sw = document.createElement("span"); sw.className = "sw"; sw.style.background = s.colour;
  const n = document.createElement("span"); n.className = "n"; n.textContent = s.title;
  const d = document.createElement("span"); d.className = "d"; d.textContent = s.detail;
  b.append(sw, n, d);
  b.addEventListener("click", () => select(k));
  buttons.push(b);
  statesEl.appendChild(b);
});

function ownedCells(s) {
  const set = new Set();
  if (s.ownedRuns) {
    for (let r = 0; r < s.ownedRuns.length; r += 2)
      for (let i = s.ownedRuns[r]; i < s.ownedRuns[r] + s.ownedRuns[r + 1]; i++) set.add(i);
  } else {
    const mine = new Set(s.owners);
    D.cells.forEach((who, i) => { if (mine.has(who)) set.add(i); });
  }
  return set;
}

let selected = -1;
function select(k) {
  buttons.forEach(b => b.classList.remove("selected"));
  for (let i = 0; i < cellEls.length; i++) resetCell(i);
  const sel = document.getElementById("selection");
  if (k === selected) { selected = -1; sel.textContent = ""; document.body.dataset.selected = ""; return; }
  selected = k;
  const s = D.states[k];
  buttons[k].classList.add("selected");
  const owned = ownedCells(s);
  for (let i = 0; i < cellEls.length; i++) {
    const c = cellEls[i];
    if (owned.has(i)) { c.removeAttribute("style"); c.className = "cell data own hl"; c.style.background = s.colour; }
    else c.classList.add("dim");
  }
  let shown = 0;
  owned.forEach(i => { if (D.cells[i] >= 0 && s.owners.includes(D.cells[i])) shown++; });
  sel.textContent = s.title + ": " + (s.ownedBytes === undefined
    ? "this format keeps no owner per snapshot (its clusters are shared by reference counts)"
    : "owns " + size(s.ownedBytes) + " in " + owned.size + " cell" + (owned.size === 1 ? "" : "s") +
      (s.ownedRuns ? ", " + shown + " of them read by the current view" : ""));
  document.body.dataset.selected = s.id || s.name;
}

// #state=NAME-OR-ID clicks that state, as a link or a headless browser would.
function fromFragment() {
  const m = /^#state=(.*)$/.exec(location.hash);
  if (!m) return;
  const want = decodeURIComponent(m[1]);
  const k = D.states.findIndex(s => s.id === want || s.name === want);
  if (k >= 0 && k !== selected) buttons[k].click();
}
window.addEventListener("hashchange", fromFragment);
fromFragment();
</script>
</body>
</html>
""";
}
