"""One small writer per output file of a video's results folder, and the reader of them."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from .aggregate import FRAME_DTYPES
from .checkpoint import CLASSES
from .episodes import EPISODE_DTYPES
from .errors import VidemoError
from .results import SUMMARY_JSON, Summary

FRAMES_CSV, TIMELINE_CSV, TIMELINE_PNG = "frames.csv", "timeline.csv", "timeline.png"
FACES_PNG, ANNOTATED_MP4, EPISODES_CSV = "faces.png", "annotated.mp4", "episodes.csv"
OUTPUT_FILES = (FRAMES_CSV, TIMELINE_CSV, EPISODES_CSV, SUMMARY_JSON, TIMELINE_PNG, FACES_PNG)  # and ANNOTATED_MP4 with --annotate
RESULT_DTYPES = {**FRAME_DTYPES, "emotion_smoothed": "string"}  # frames.csv: the raw table and the episodes' label
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

    faces = frames[frames["face_id"].notna()]
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


def read_results(folder: str | Path) -> pd.DataFrame:
    """A results folder's (or its frames.csv's) rows with proper dtypes: ``face_id`` a nullable integer."""
    return read_table(folder, FRAMES_CSV, RESULT_DTYPES, "no results here (expected a folder written by 'videmo analyze')")


def read_episodes(folder: str | Path) -> pd.DataFrame:
    """A results folder's ``episodes.csv``: one row per stretch of time in which one face shows one emotion."""
    return read_table(folder, EPISODES_CSV, EPISODE_DTYPES,
                      "no episodes here (results from before episodes existed: redo them with --overwrite)")


def read_table(folder: str | Path, name: str, dtypes: dict, missing: str) -> pd.DataFrame:
    """``name`` in a results folder (or the file itself), with its dtypes; ``missing``: why there is none."""
    path = Path(folder)
    if path.is_dir():
        path = path / name
    if not path.is_file():
        raise VidemoError(f"{path}: {missing}")
    return pd.read_csv(path, dtype=dtypes, keep_default_na=True)
