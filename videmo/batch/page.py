"""report.html's page: its template, style and the script that sorts its table (no network, no external files)."""

from __future__ import annotations

import html
import os
import struct
from pathlib import Path
from string import Template
from urllib.parse import quote

import pandas as pd

from videmo.core.emotions import EMOTION_COLOURS

SCRIPT = """
const table = document.getElementById("batch-table"), body = table.tBodies[0], rows = Array.from(body.rows);
rows.forEach((row, i) => { row.dataset.i = i; });
function sortBy(th) {
  const col = th.cellIndex, numeric = th.dataset.type === "num";
  const dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending", sign = dir === "ascending" ? 1 : -1;
  table.querySelectorAll("th[aria-sort]").forEach(h => h.removeAttribute("aria-sort"));
  th.setAttribute("aria-sort", dir);
  const key = row => row.cells[col].dataset.v;
  rows.sort((a, b) => {
    const x = key(a), y = key(b);
    if (x === "" || y === "") return (x === "") - (y === "") || a.dataset.i - b.dataset.i;  // empty last
    const order = numeric ? Number(x) - Number(y) : x.localeCompare(y);
    return sign * order || a.dataset.i - b.dataset.i;
  });
  rows.forEach(row => body.appendChild(row));
}
table.querySelectorAll("thead button").forEach(b => b.addEventListener("click", () => sortBy(b.parentElement)));
const filter = document.getElementById("filter"), shown = document.getElementById("shown");
function applyFilter() {
  const words = filter.value.toLowerCase().split(/\\s+/).filter(Boolean);
  let n = 0;
  rows.forEach(row => { const text = row.textContent.toLowerCase(); row.hidden = !words.every(w => text.includes(w)); n += !row.hidden; });
  shown.textContent = n + " of " + rows.length + " rows";
}
filter.addEventListener("input", applyFilter);
applyFilter();
"""


PAGE = Template("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src 'self' file: data:; media-src 'self' file:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="color-scheme" content="light">
<title>$title</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;color:#1a1a1a;background:#fff;margin:0 auto;padding:0 1rem 3rem;max-width:1400px}
h1{font-size:1.5rem;margin:1rem 0 .2rem}h2{font-size:1.2rem;margin:2rem 0 .5rem;border-bottom:2px solid #ddd}
h3{font-size:1.05rem;margin:0 0 .2rem}a{color:#0b57a4}a:focus-visible,button:focus-visible,input:focus-visible{outline:3px solid #0b57a4;outline-offset:2px}
nav a{margin-right:1rem}.path,.meta{color:#4a4a4a;margin:.1rem 0;word-break:break-all}
table{border-collapse:collapse;margin:.5rem 0;font-variant-numeric:tabular-nums}th,td{padding:.2rem .3rem;border-bottom:1px solid #e3e3e3;text-align:right}
th:first-child,td:first-child,tbody th,.text th,.text td,.t,th[data-type=text]{text-align:left}thead th{background:#f3f3f3;vertical-align:bottom}
#batch-table thead th{position:sticky;top:0}caption{text-align:left;font-weight:600;padding:.3rem 0}
th button{font:inherit;font-weight:600;background:none;border:0;padding:.1rem;color:#1a1a1a;cursor:pointer;text-align:inherit}
th button::after{content:"\\a0\\2195";color:#6b6b6b}th[aria-sort=ascending] button::after{content:"\\a0\\25B2";color:#1a1a1a}
th[aria-sort=descending] button::after{content:"\\a0\\25BC";color:#1a1a1a}#batch-table{font-size:13px}#batch-table tbody th{font-weight:normal;min-width:7rem;max-width:16rem;overflow-wrap:break-word}
abbr{text-decoration:none}th button .sw{margin-right:.2em}th button[aria-label]{white-space:nowrap}
.sw{display:inline-block;width:.8em;height:.8em;margin-right:.3em;border:1px solid #555;vertical-align:-.05em}
.bar{display:flex;width:6rem;height:.8rem;border:1px solid #888}.bar span{display:block;height:100%}
section{border-top:1px solid #ddd;padding:1rem 0}.figures{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,2.2fr);gap:1rem;align-items:start}
figure{margin:0}img{max-width:100%;height:auto;border:1px solid #ddd}figcaption{color:#4a4a4a}
.notes{background:#fff4d6;border-left:4px solid #b07d00;padding:.4rem 1.5rem}
label{font-weight:600}input{font:inherit;padding:.2rem .4rem;margin:0 .5rem;border:1px solid #767676}
$colours
</style></head>
<body>
<header><h1>videmo report</h1><p class="meta">$output: $counts. Written $written by videmo $version.</p>
<nav aria-label="Sections"><a href="#batch">Batch table</a><a href="#videos">Videos</a><a href="#failed">Failed</a><a href="#runs">Model and settings</a></nav></header>
<main>
<h2 id="batch">Batch table</h2>
<p>One row per video and face, as index.csv (<a href="index.csv">index.csv</a>, <a href="failed.csv">failed.csv</a>). Emotion columns: each one's share of the face's frames by their smoothed label (the label of the face's episodes; Dominant is the largest), in %; index.csv also has the single-frame labels' shares (raw_share_). Click a heading to sort.</p>
<p><label for="filter">Filter</label><input id="filter" type="search" placeholder="video, emotion..."><span id="shown" aria-live="polite"></span></p>
$table
<h2 id="videos">Videos</h2>
$videos
<h2 id="failed">Failed videos</h2>
$failed
<h2 id="runs">Model and settings</h2>
$runs
</main>
<script>$script</script>
</body></html>
""")


def e(value: object) -> str:
    """``value`` as HTML text or attribute: escaped, empty for a missing value."""
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else html.escape(str(value), quote=True)


def href(folder: Path, name: str) -> str:
    """The relative link from the report to ``name`` in ``folder`` (any bytes of a folder's name percent-encoded)."""
    return quote(os.fsencode(folder.name)) + "/" + quote(name)


def swatch(emotion: object) -> str:
    return f'<span class="sw e-{e(emotion)}" aria-hidden="true"></span>{e(emotion)}' if emotion in EMOTION_COLOURS else e(emotion)


def number(value: object, digits: int = 2) -> str:
    return "" if pd.isna(value) else f"{float(value):.{digits}f}".rstrip("0").rstrip(".") if digits else f"{round(float(value))}"


def percent(share: object) -> str:
    """' 47%' after an emotion's name; empty where the share is unknown."""
    return "" if share is None or pd.isna(share) else f" {100 * float(share):.0f}%"


def heading(label: str, kind: str | None) -> str:
    """A column's heading: a button that sorts it; an emotion's share as its colour and first letters."""
    if kind is None:
        return f'<th scope="col" class="t">{e(label)}</th>'
    text = (
        f'<span class="sw e-{label}" aria-hidden="true"></span><abbr title="{label}">{label[:3]}</abbr>'
        if label in EMOTION_COLOURS
        else e(label)
    )
    named = f' aria-label="share of {label}"' if label in EMOTION_COLOURS else ""
    return f'<th scope="col" data-type="{kind}"><button type="button"{named}>{text}</button></th>'


def figure(folder: Path, name: str, alt: str, caption: str) -> str:
    path = folder / name
    if not path.is_file():
        return f"<figure><figcaption>{e(caption)}: no {name}</figcaption></figure>"
    size = png_size(path)
    dims = f' width="{size[0]}" height="{size[1]}"' if size else ""
    return (
        f'<figure><a href="{href(folder, name)}"><img src="{href(folder, name)}" alt="{e(alt)}"{dims} loading="lazy"></a>'
        f"<figcaption>{e(caption)}</figcaption></figure>"
    )


def png_size(path: Path) -> tuple[int, int] | None:
    """A PNG's width and height from its header (so the page keeps its layout while images load)."""
    try:
        with path.open("rb") as f:
            head = f.read(24)
    except OSError:
        return None
    return struct.unpack(">II", head[16:24]) if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR" else None
