"""One small writer per output file of a video's results folder, and the reader of them."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from .aggregate import FRAME_DTYPES, TIMELINE_COLUMNS, tracked
from .checkpoint import CLASSES
from .episodes import EPISODE_DTYPES, frame_step
from .errors import VidemoError, printable
from .results import SUMMARY_JSON, Summary, read_summary

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FRAMES_CSV, TIMELINE_CSV, TIMELINE_PNG = "frames.csv", "timeline.csv", "timeline.png"
FACES_PNG, ANNOTATED_MP4, EPISODES_CSV = "faces.png", "annotated.mp4", "episodes.csv"
OUTPUT_FILES = (FRAMES_CSV, TIMELINE_CSV, EPISODES_CSV, SUMMARY_JSON, TIMELINE_PNG, FACES_PNG)  # and ANNOTATED_MP4 with --annotate
RESULT_DTYPES = {**FRAME_DTYPES, "emotion_smoothed": "string", "short_track": "bool"}  # frames.csv: the raw table, the episodes' label, the flag
# One colour per emotion, the same in every figure, the annotated video and report.html: Okabe and Ito's
# palette for colour-blind readers (six of its colours; its yellow, which white shows poorly, left out)
# and a light grey for neutral, where their grey looked like fear's purple under deuteranopia. No two
# emotions come closer than 17 CIELAB units for normal, protanopic or deuteranopic sight (tests/test_figures.py).
EMOTION_COLOURS = {"surprise": "#56B4E9", "fear": "#CC79A7", "disgust": "#009E73", "happiness": "#E69F00",
                   "sadness": "#0072B2", "anger": "#D55E00", "neutral": "#CCCCCC"}


def ink(colour: str) -> str:
    """Black or white, whichever reads better as text on ``colour`` (a '#rrggbb'), by its WCAG luminance."""
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "#000000" if (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) else "#ffffff"


def write_frames_csv(frames: pd.DataFrame, path: Path) -> None:
    frames.to_csv(path, index=False, float_format="%.6g")


def write_timeline_csv(timeline: pd.DataFrame, path: Path) -> None:
    timeline.to_csv(path, index=False, float_format="%.6g")


def write_episodes_csv(episodes: pd.DataFrame, path: Path) -> None:
    episodes.to_csv(path, index=False, float_format="%.6g")


def write_summary_json(summary: Summary, path: Path) -> None:
    path.write_text(json.dumps(asdict(summary), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


TIMELINE_FACES = 6  # panels in timeline.png: the faces seen in most frames


def write_timeline_png(frames: pd.DataFrame, path: Path, title: str, episodes: pd.DataFrame) -> None:
    timeline_figure(frames, title, episodes).savefig(path, dpi=100)


def timeline_figure(frames: pd.DataFrame, title: str, episodes: pd.DataFrame) -> Figure:
    """Each track's emotion probabilities over time, stacked to 1, one panel per track (the
    ``TIMELINE_FACES`` seen in most frames), and beneath it a band of its episodes on an axis of its
    own, each named where it is wide enough. A Figure of its own, not pyplot's: a notebook's backend
    is left as it was."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    faces = tracked(frames)
    counts = faces["face_id"].value_counts()
    shown = sorted(counts.index[:TIMELINE_FACES].tolist())
    panels = max(len(shown), 1)
    figure = Figure(figsize=(10, 2.3 * panels + 1.3))
    grid = figure.add_gridspec(panels, 1, hspace=0.3)  # a face's probabilities and episodes close together, the faces apart
    times = frames["time_s"].dropna()
    start = float(times.min()) if len(times) else 0.0
    end = max(float(times.max()) + frame_step(frames) if len(times) else 1.0, start + 1e-3)
    first = None
    for k, face_id in enumerate(shown or [None]):
        pair = grid[k].subgridspec(2, 1, height_ratios=[4, 1], hspace=0.08)
        axis = figure.add_subplot(pair[0], sharex=first)
        band = figure.add_subplot(pair[1], sharex=axis)
        first = first or axis
        axis.set_xlim(start, end)
        axis.tick_params(labelbottom=False)
        if face_id is None:
            axis.text(0.5, 0.5, "no face found", ha="center", va="center", transform=axis.transAxes, fontsize=12)
            axis.set_yticks([])
            axis.tick_params(labelbottom=True)
            band.remove()
            continue
        rows = faces[faces["face_id"] == face_id].sort_values("time_s")
        axis.stackplot(rows["time_s"], *(rows[c] for c in CLASSES), colors=[EMOTION_COLOURS[c] for c in CLASSES], step="mid")
        axis.set_ylim(0, 1)
        axis.set_yticks([0, 0.5, 1])
        axis.set_ylabel(f"face {face_id}\np(emotion)", fontsize=10)
        mine = episodes[episodes["face_id"] == face_id]
        band.broken_barh(list(zip(mine["t_start"], mine["duration_s"])), (0, 1), facecolors=[EMOTION_COLOURS[e] for e in mine["emotion"]],
                         edgecolor="white", linewidth=0.8)
        for episode in mine.itertuples(index=False):  # named where the name fits (the axes are about 880 px wide, a letter at 9 pt 7 px)
            if episode.duration_s / (end - start) * 10 * 88 > 7.5 * len(episode.emotion) + 10:
                band.text(episode.t_start + episode.duration_s / 2, 0.5, episode.emotion, ha="center", va="center", fontsize=9,
                          color=ink(EMOTION_COLOURS[episode.emotion]))
        band.set_ylim(0, 1)
        band.set_yticks([])
        band.set_ylabel("episodes", rotation=0, ha="right", va="center", fontsize=9)
        band.tick_params(labelbottom=k == len(shown) - 1)
    figure.axes[-1].set_xlabel("time in the video (s)")
    hidden = len(counts) - len(shown)
    suffix = f" ({len(shown)} of {len(counts)} faces, those seen longest)" if hidden > 0 else ""
    figure.suptitle(f"{title}{suffix}", fontsize=12)
    figure.legend([Patch(color=EMOTION_COLOURS[c]) for c in CLASSES], list(CLASSES), loc="upper center", ncol=len(CLASSES),
                  bbox_to_anchor=(0.5, 1 - 0.45 / figure.get_figheight()), fontsize=10, frameon=False)
    figure.subplots_adjust(left=0.1, right=0.98, top=1 - 0.85 / figure.get_figheight(), bottom=0.55 / figure.get_figheight())
    return figure


NO_RESULTS = "no results here (expected a folder written by 'videmo analyze')"
TIMELINE_DTYPES = {c: FRAME_DTYPES.get(c, "float64") for c in TIMELINE_COLUMNS} | {"n_frames": "int64"}


def read_results(folder: str | Path) -> pd.DataFrame:
    """A results folder's (or its frames.csv's) rows with proper dtypes: ``face_id`` a nullable integer."""
    return read_table(folder, FRAMES_CSV, RESULT_DTYPES, NO_RESULTS)


def read_timeline(folder: str | Path) -> pd.DataFrame:
    """A results folder's (or its timeline.csv's) rows with proper dtypes: one row per face and time bin."""
    return read_table(folder, TIMELINE_CSV, TIMELINE_DTYPES, NO_RESULTS)


def read_episodes(folder: str | Path) -> pd.DataFrame:
    """A results folder's ``episodes.csv``: one row per stretch of time in which one face shows one emotion."""
    return read_table(folder, EPISODES_CSV, EPISODE_DTYPES,
                      "no episodes here (results from before episodes existed: redo them with --overwrite)")


def read_results_summary(folder: str | Path) -> dict:
    """A results folder's (or its summary.json's) summary, as written."""
    path = results_file(folder, SUMMARY_JSON, NO_RESULTS)
    try:
        return read_summary(path.parent)
    except (OSError, ValueError) as error:
        raise VidemoError(f"{printable(str(path))}: not a videmo summary ({error})") from None


def results_folders(output: Path) -> list[Path]:
    """The finished results folders directly under ``output``, as the batch table takes them (hidden work in progress is not finished)."""
    return sorted(p for p in output.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / SUMMARY_JSON).is_file())


def not_one_video(folder: Path) -> None:
    """Refuse an output folder of many videos where one video's results folder belongs, saying what to do instead."""
    from .batch import INDEX_CSV  # batch imports this module

    if (folder / SUMMARY_JSON).is_file() or not ((folder / INDEX_CSV).is_file() or results_folders(folder)):
        return
    some = results_folders(folder)
    example = f" such as {printable(str(some[0]))}" if some else ""
    raise VidemoError(f"{printable(str(folder))}: an output folder of many videos, not one video's results: "
                      f"read it with videmo.read_batch, or read one of its results folders{example}")


def read_batch(output: str | Path) -> pd.DataFrame:
    """The frames.csv rows of every results folder in an output folder, after a ``video`` column (the
    video's path, as its summary.json names it) and a ``folder`` column (the results folder's name)."""
    output = Path(output)
    if (output / SUMMARY_JSON).is_file():
        raise VidemoError(f"{printable(str(output))}: one video's results, not an output folder of many: read it with videmo.read_results")
    folders = results_folders(output) if output.is_dir() else []
    if not folders:
        raise VidemoError(f"{printable(str(output))}: no results folders here (expected an output folder of 'videmo analyze')")
    tables = []
    for folder in folders:
        try:
            video = read_summary(folder)["video"]["path"]
        except (OSError, ValueError, KeyError, TypeError):  # a summary someone edited: left out, as the batch table leaves it out
            continue
        frames = read_results(folder)
        frames.insert(0, "folder", pd.array([printable(folder.name)] * len(frames), dtype="string"))
        frames.insert(0, "video", pd.array([str(video)] * len(frames), dtype="string"))
        tables.append(frames)
    if not tables:
        raise VidemoError(f"{printable(str(output))}: no readable results folders here")
    return pd.concat(tables, ignore_index=True)


def read_table(folder: str | Path, name: str, dtypes: dict, missing: str) -> pd.DataFrame:
    """``name`` in a results folder (or the file itself), with its dtypes; ``missing``: why there is none.
    A VidemoError naming the file where it is damaged or edited past reading (cut short, empty, a value of
    the wrong kind)."""
    path = results_file(folder, name, missing)
    try:
        return pd.read_csv(path, dtype=dtypes, keep_default_na=True)
    except (ValueError, OSError) as error:  # pandas' parse errors and empty files are ValueErrors
        cause = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise VidemoError(f"{printable(str(path))}: cannot be read as videmo's {name} ({printable(cause)})") from None


def results_file(folder: str | Path, name: str, missing: str) -> Path:
    """``name`` in one video's results folder (or ``folder`` if it is that file); a VidemoError saying
    ``missing`` where there is none, or what to read instead for an output folder of many videos."""
    path = Path(folder)
    if path.is_dir():
        not_one_video(path)
        path = path / name
    if not path.is_file():
        raise VidemoError(f"{printable(str(path))}: {missing}")
    return path
