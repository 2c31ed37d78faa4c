"""report.html: one page to look at a whole batch, written beside ``index.csv`` after every run.

It owns the page and nothing else: it reads only what a run left in the output folder (the batch
table, ``failed.csv``, each results folder's ``summary.json`` and ``episodes.csv``), so it is the
same after ``--ray`` or Ctrl-C, and can be rebuilt at any time. The page is one self-contained file
(inline CSS and JS, a Content-Security-Policy that allows no network) that links each video's images
and files relatively, so it stays small for hundreds of videos and the output folder can be zipped
and sent. Every value from a file is escaped; file names go through ``errors.printable``.
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from videmo.batch.index import build_index, read_failed, update_index
from videmo.batch.page import (
    PAGE,
    SCRIPT,
    e,
    figure,
    heading,
    href,
    number,
    percent,
    swatch,
)
from videmo.core.emotions import CLASSES, EMOTION_COLOURS
from videmo.core.errors import VidemoError, plural, printable
from videmo.core.files import written_atomically
from videmo.core.options import words
from videmo.core.version import __version__
from videmo.results.io import (
    ANNOTATED_MP4,
    EPISODES_CSV,
    FACES_PNG,
    FRAMES_CSV,
    INDEX_CSV,
    TIMELINE_CSV,
    TIMELINE_PNG,
    read_episodes,
    read_summary,
)
from videmo.results.store import RESULT_SETTINGS, output_locked
from videmo.results.types import SUMMARY_JSON
from videmo.video.listing import short_words

REPORT_HTML = "report.html"
MOST_EPISODES = 30  # per video, the longest; episodes.csv has them all
# The batch table's columns: index.csv's column (or one made of several), heading, kind ("num", "text", None: not sortable).
COLUMNS = [
    ("folder", "Video", "text"),
    ("face_id", "Face", "num"),
    ("duration_s", "Duration s", "num"),
    ("first_s", "First s", "num"),
    ("last_s", "Last s", "num"),
    ("n_frames", "Face frames", "num"),
    ("dominant_emotion", "Dominant", "text"),
    ("runner_up", "Runner-up", "num"),
    ("shares", "Shares", None),
    *[(f"share_{c}", c, "num") for c in CLASSES],
    ("episodes", "Episodes", "num"),
]


def update_batch(output: str | os.PathLike, tried: list[Path], failures: dict[str, str], report: bool = True) -> None:
    """After a run that ``tried`` these videos and had these ``failures``: the batch tables rewritten
    (``index.update_index``), and ``report.html`` from them with ``report``."""
    tables = update_index(output, tried, failures)
    if not report or tables is None:
        return
    try:
        with output_locked(Path(output)):  # from the tables as they are now: a run beside this one may have rebuilt them since
            write_report(output)
    except OSError as e:  # a full disk, say: the results folders and the tables are complete
        raise VidemoError(f"{printable(str(output))}: cannot write the batch tables ({e.strerror or e})") from None


def batch_line(output: str | os.PathLike, report: bool = True) -> str | None:
    """The line that closes a batch: where its table and (with ``report``) its page are; None where no table was written."""
    output = Path(output)
    if not (output / INDEX_CSV).is_file():
        return None
    page = f", report {printable(str(output / REPORT_HTML))}" if report and (output / REPORT_HTML).is_file() else ""
    return f"videmo: batch table {printable(str(output / INDEX_CSV))}{page}"


def write_report(output: str | os.PathLike, index: pd.DataFrame | None = None, failed: pd.DataFrame | None = None) -> Path:
    """Write ``<output>/report.html`` atomically from the batch table and ``failed.csv`` (read from
    ``output`` unless given) and the results folders; returns its path."""
    output = Path(output)
    index = build_index(output) if index is None else index
    failed = read_failed(output) if failed is None else failed
    path = output / REPORT_HTML
    with written_atomically(path) as partial:
        partial.write_text(page(output, index, failed), encoding="utf-8")
    return path


def results_folders(output: Path, index: pd.DataFrame) -> dict[str, Path]:
    """The results folders the batch table names, by its ``folder`` value (their printable names)."""
    named = set(index["folder"])
    folders = (p for p in sorted(output.iterdir()) if p.is_dir() and not p.name.startswith(".")) if output.is_dir() else ()
    return {printable(p.name): p for p in folders if printable(p.name) in named and (p / SUMMARY_JSON).is_file()}


def page(output: Path, index: pd.DataFrame, failed: pd.DataFrame) -> str:
    folders = results_folders(output, index)
    anchors = {name: f"v{i}" for i, name in enumerate(folders)}
    summaries = {}
    for name, folder in folders.items():
        try:
            summaries[name] = read_summary(folder)
        except (OSError, ValueError):
            continue
    faces = int(index["face_id"].notna().sum())
    counts = f'{plural(len(folders), "video")}, {plural(faces, "face")}, <a href="#failed">{len(failed)} failed</a>'
    sections = "\n".join(video_section(folders[name], summaries[name], anchors[name]) for name in summaries)
    return PAGE.substitute(
        title=e(f"videmo report: {printable(output.absolute().name)}"),
        output=e(printable(str(output.absolute()))),
        counts=counts,
        written=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        version=e(__version__),
        colours="".join(f".e-{c}{{background:{EMOTION_COLOURS[c]}}}" for c in CLASSES),
        table=batch_table(index, anchors),
        videos=sections or "<p>No video has results yet.</p>",
        failed=failed_table(failed),
        runs=runs_table(summaries),
        script=SCRIPT,
    )


def batch_table(index: pd.DataFrame, anchors: dict[str, str]) -> str:
    """The batch table: a row per row of ``index.csv``, a sortable header of buttons."""
    head = "".join(heading(label, kind) for _, label, kind in COLUMNS)
    rows = []
    for row in index.itertuples(index=False):
        row = row._asdict()
        link = f'<a href="#{anchors[row["folder"]]}">{e(row["folder"])}</a>' if row["folder"] in anchors else e(row["folder"])
        cells = [f'<th scope="row" data-v="{e(row["folder"])}" title="{e(row["video"])}">{link}</th>']
        cells += [cell(row, column) for column, _, _ in COLUMNS[1:]]
        rows.append(f'<tr data-folder="{e(row["folder"])}" data-face="{e(row["face_id"])}">{"".join(cells)}</tr>')
    return f'<table id="batch-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def cell(row: dict, column: str) -> str:
    """One cell of the batch table: shown rounded, its exact value in ``data-v`` for sorting."""
    if column == "shares":
        return f"<td>{shares_bar(row)}</td>"
    value = row.get(column)
    if column == "episodes":  # of every emotion; none known for results from before episodes
        value = None if pd.isna(row[f"episodes_{CLASSES[0]}"]) else sum(row[f"episodes_{c}"] for c in CLASSES)
    if column == "dominant_emotion":  # with its share; sorted by name
        return f'<td class="t" data-v="{e(value)}">{swatch(value)}{percent(row.get("dominant_share"))}</td>'
    if column == "runner_up":  # the next emotion and its share, sorted by that share: a close call sorts high
        share = row.get("runner_up_share")
        return f'<td class="t" data-v="{e(share)}">{swatch(value)}{percent(share) if pd.notna(value) else ""}</td>'
    if column.startswith("share_"):
        return f'<td data-v="{e(value)}">{number(None if pd.isna(value) else 100 * value, 0)}</td>'
    return f'<td data-v="{e(value)}">{number(value, 0 if column in ("face_id", "n_frames", "episodes") else 2)}</td>'


def shares_bar(row: dict) -> str:
    """Each emotion's share of a face's frames as a bar of its colours (the numbers are in the next columns)."""
    parts = [(c, row[f"share_{c}"]) for c in CLASSES if pd.notna(row[f"share_{c}"]) and row[f"share_{c}"] > 0]
    if not parts:
        return ""
    said = ", ".join(f"{c} {100 * share:.0f}%" for c, share in sorted(parts, key=lambda part: -part[1]))
    return (
        f'<span class="bar" role="img" aria-label="{said}">'
        + "".join(f'<span class="e-{c}" style="width:{100 * s:.1f}%"></span>' for c, s in parts)
        + "</span>"
    )


def video_section(folder: Path, summary: dict, anchor: str) -> str:
    """One video: what it is, its notes, its files, its face sheet and timeline, its episodes (a
    summary someone edited gets a line saying so, not a report that stops the batch)."""
    try:
        return section(folder, summary, anchor)
    except (KeyError, TypeError, AttributeError, ValueError):
        return f'<section id="{anchor}"><h3>{e(printable(folder.name))}</h3><p>Its summary.json could not be read.</p></section>'


def section(folder: Path, summary: dict, anchor: str) -> str:
    name, video, counts = e(printable(folder.name)), summary.get("video", {}), summary.get("counts", {})
    tracks = summary.get("tracks", [])
    facts = (
        f"{number(video.get('duration_s'))} s, {e(video.get('width'))}x{e(video.get('height'))} {e(video.get('codec'))} at "
        f"{number(video.get('fps'))} fps; {e(counts.get('frames_analysed'))} frames analysed, {plural(len(tracks), 'face')}, "
        f"{e(plural(counts.get('episodes', 0), 'episode'))}; {e(summary.get('frames_per_second'))} frames/s"
    )
    files = [FRAMES_CSV, EPISODES_CSV, TIMELINE_CSV, SUMMARY_JSON] + (
        [ANNOTATED_MP4] if (folder / ANNOTATED_MP4).is_file() else []
    )
    links = " · ".join(f'<a href="{href(folder, f)}">{f}</a>' for f in files if (folder / f).is_file())
    dominant = "; ".join(f"face {t.get('face_id')} mostly {t.get('dominant_emotion')}" for t in tracks[:12])
    figures = [
        figure(
            folder,
            FACES_PNG,
            f"Face sheet of {printable(folder.name)}: the most confident crop of each face"
            + (f" ({dominant})" if dominant else " (no faces)"),
            "Faces",
        ),
        figure(
            folder,
            TIMELINE_PNG,
            f"Timeline of {printable(folder.name)}: each face's emotion probabilities over time, "
            "its episodes as a band of colours beneath",
            "Timeline with episode bands",
        ),
    ]
    notes = "".join(f"<li>{e(note)}</li>" for note in frame_notes(summary))
    return (
        f'<section id="{anchor}" aria-labelledby="{anchor}-h"><h3 id="{anchor}-h">{name}</h3>'
        f'<p class="path">{e(video.get("path"))}</p><p>{facts}</p>'
        + (f'<ul class="notes">{notes}</ul>' if notes else "")
        + f'<p class="files">Files: {links}</p><div class="figures">{"".join(figures)}</div>'
        + episodes_table(folder)
        + '<p><a href="#batch">Back to the batch table</a></p></section>'
    )


def frame_notes(summary: dict) -> list[str]:
    """What the closing line said of frames that never came, did not decode or could not be read."""
    notes, missing, unreadable = [], summary.get("frames_missing"), summary.get("frames_unreadable")
    if isinstance(summary.get("frames_short"), dict):  # far short: the file was cut
        notes.append(short_words(summary["frames_short"]))
    elif missing:
        notes.append(f"{missing.get('count')} listed frames from frame {missing.get('from_frame')} were not in the stream")
    lost = summary.get("frames_undecodable") or []
    if lost:
        shown = ", ".join(map(str, lost[:10])) + (", ..." if len(lost) > 10 else "")
        notes.append(f"{plural(len(lost), 'frame')} did not decode (damaged data): frame {shown}")
    if unreadable:
        notes.append(f"the file could not be read from frame {unreadable.get('from_frame')} on: {unreadable.get('cause')}")
    return notes


def episodes_table(folder: Path) -> str:
    """The video's longest episodes (all of them for most videos), in time order."""
    try:
        episodes = read_episodes(folder)
    except (OSError, ValueError, VidemoError):
        return "<p>No episodes.csv could be read.</p>"
    if episodes.empty:
        return "<p>No episodes.</p>"
    shown = episodes.nlargest(MOST_EPISODES, "duration_s", keep="first").sort_values(["t_start", "face_id"], kind="stable")
    caption = (
        "Episodes"
        if len(shown) == len(episodes)
        else f"The {len(shown)} longest of {len(episodes)} episodes (all in episodes.csv)"
    )
    head = "".join(
        f'<th scope="col" class="{"t" if h == "Emotion" else ""}">{h}</th>'
        for h in ("Face", "Emotion", "From s", "To s", "Duration s", "Mean p", "Peak p", "Peak at s")
    )
    rows = "".join(
        f"<tr><td>{e(r.face_id)}</td><td class='t'>{swatch(r.emotion)}</td><td>{number(r.t_start)}</td><td>{number(r.t_end)}</td>"
        f"<td>{number(r.duration_s)}</td><td>{number(r.mean_probability)}</td><td>{number(r.peak_probability)}</td>"
        f"<td>{number(r.t_peak)}</td></tr>"
        for r in shown.itertuples(index=False)
    )
    return f'<table class="episodes"><caption>{caption}</caption><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def failed_table(failed: pd.DataFrame) -> str:
    if failed.empty:
        return "<p>No video failed.</p>"
    rows = "".join(
        f"<tr><td>{e(v)}</td><td>{e(str(err).removeprefix(f'{v}: '))}</td></tr>"
        for v, err in zip(failed["video"], failed["error"])
    )
    return f'<table class="text"><thead><tr><th scope="col">Video</th><th scope="col">Why</th></tr></thead><tbody>{rows}</tbody></table>'


def runs_table(summaries: dict[str, dict]) -> str:
    """The models and settings the results were made with: one row per distinct combination."""
    groups: Counter = Counter()
    for summary in summaries.values():
        model, settings = (part if isinstance(part, dict) else {} for part in (summary.get("model"), summary.get("settings")))
        shown = [f"{s} {words(settings[s])}" for s in (*RESULT_SETTINGS, "device", "precision") if s in settings]
        key = (
            str(model.get("name")),
            str(model.get("arch")),
            str(model.get("image_size")),
            str(model.get("sha256", ""))[:12],
            ", ".join(shown),
            str(summary.get("videmo_version")),
        )
        groups[key] += 1
    if not groups:
        return "<p>No results yet.</p>"
    rows = "".join(
        f"<tr><td>{e(m)} ({e(a)}, {e(s)} px)</td><td><code>{e(h)}</code></td><td>{e(st)}</td><td>{e(v)}</td><td>{count}</td></tr>"
        for (m, a, s, h, st, v), count in groups.items()
    )
    head = "".join(f'<th scope="col">{h}</th>' for h in ("Model", "sha256", "Settings", "videmo", "Videos"))
    return f'<table class="text"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
