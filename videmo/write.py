"""One small writer per output file of a video's results folder, and the reader of them."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from .aggregate import FRAME_DTYPES, TIMELINE_COLUMNS, tracked
from .checkpoint import CLASSES
from .episodes import EPISODE_DTYPES
from .errors import VidemoError, printable
from .results import SUMMARY_JSON, Summary, read_summary

FRAMES_CSV, TIMELINE_CSV, TIMELINE_PNG = "frames.csv", "timeline.csv", "timeline.png"
FACES_PNG, ANNOTATED_MP4, EPISODES_CSV = "faces.png", "annotated.mp4", "episodes.csv"
OUTPUT_FILES = (FRAMES_CSV, TIMELINE_CSV, EPISODES_CSV, SUMMARY_JSON, TIMELINE_PNG, FACES_PNG)  # and ANNOTATED_MP4 with --annotate
RESULT_DTYPES = {**FRAME_DTYPES, "emotion_smoothed": "string", "short_track": "bool"}  # frames.csv: the raw table, the episodes' label, the flag
# One colour per emotion, the same in every plot.
EMOTION_COLOURS = {"surprise": "#f2c14e", "fear": "#7b4fa0", "disgust": "#5a8f29", "happiness": "#e8702a",
                   "sadness": "#3b6fb6", "anger": "#c62828", "neutral": "#9e9e9e"}


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
    """Each track's emotion probabilities over time, stacked to 1, one panel per track
    (the ``TIMELINE_FACES`` seen in most frames), its episodes as a band of colours beneath.
    Drawn on a Figure of its own, not pyplot's: a notebook's backend is left as it was."""
    from matplotlib.figure import Figure

    faces = tracked(frames)
    counts = faces["face_id"].value_counts()
    shown = sorted(counts.index[:TIMELINE_FACES].tolist())
    panels = max(len(shown), 1)
    figure = Figure(figsize=(10, 1.9 * panels + 1.2))
    axes = figure.subplots(panels, 1, sharex=True, squeeze=False)
    end = max(float(frames["time_s"].max()) if len(frames) else 0.0, 1e-3)
    for axis, face_id in zip(axes[:, 0], shown or [None]):
        if face_id is None:
            axis.text(0.5, 0.5, "no face found", ha="center", va="center", transform=axis.transAxes)
            axis.set_yticks([])
            continue
        rows = faces[faces["face_id"] == face_id].sort_values("time_s")
        axis.stackplot(rows["time_s"], *(rows[c] for c in CLASSES), colors=[EMOTION_COLOURS[c] for c in CLASSES],
                       labels=list(CLASSES), step="mid", alpha=0.9)
        mine = episodes[episodes["face_id"] == face_id]
        axis.broken_barh(list(zip(mine["t_start"], mine["duration_s"])), (-0.16, 0.12),
                         facecolors=[EMOTION_COLOURS[e] for e in mine["emotion"]])
        axis.set_ylim(-0.18, 1)
        axis.set_yticks([0, 0.5, 1])
        axis.set_ylabel(f"face {face_id}\np(emotion)")
        axis.margins(x=0)
    for axis in axes[:, 0]:
        axis.set_xlim(0, end)
    axes[-1, 0].set_xlabel("time (s)")
    hidden = len(counts) - len(shown)
    suffix = f" ({len(shown)} of {len(counts)} faces, those seen longest)" if hidden > 0 else ""
    figure.suptitle(f"{title}{suffix}", fontsize=11)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="upper center", ncol=len(CLASSES), bbox_to_anchor=(0.5, 0.965), fontsize=9, frameon=False)
    figure.tight_layout(rect=(0, 0, 1, 0.93))
    figure.savefig(path, dpi=100)


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
    """``name`` in a results folder (or the file itself), with its dtypes; ``missing``: why there is none."""
    return pd.read_csv(results_file(folder, name, missing), dtype=dtypes, keep_default_na=True)


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
