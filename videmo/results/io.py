"""One small writer per output file of a video's results folder, and the reader of them."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from videmo.core.errors import VidemoError, printable
from videmo.results.episodes import EPISODE_DTYPES
from videmo.results.tables import FRAME_DTYPES, TIMELINE_COLUMNS
from videmo.results.text import text_damage
from videmo.results.types import SUMMARY_JSON, Summary

if TYPE_CHECKING:
    pass

FRAMES_CSV, TIMELINE_CSV, TIMELINE_PNG = "frames.csv", "timeline.csv", "timeline.png"
FACES_PNG, ANNOTATED_MP4, EPISODES_CSV = "faces.png", "annotated.mp4", "episodes.csv"
INDEX_CSV, FAILED_CSV = "index.csv", "failed.csv"  # beside the results folders: the batch tables
OUTPUT_FILES = (
    FRAMES_CSV,
    TIMELINE_CSV,
    EPISODES_CSV,
    SUMMARY_JSON,
    TIMELINE_PNG,
    FACES_PNG,
)  # and ANNOTATED_MP4 with --annotate
RESULT_DTYPES = {
    **FRAME_DTYPES,
    "emotion_smoothed": "string",
    "short_track": "bool",
    "unreadable": "bool",
}  # frames.csv: the raw table, the episodes' label, the flag


def write_frames_csv(frames: pd.DataFrame, path: Path) -> None:
    frames.to_csv(path, index=False, float_format="%.6g")


def write_timeline_csv(timeline: pd.DataFrame, path: Path) -> None:
    timeline.to_csv(path, index=False, float_format="%.6g")


def write_episodes_csv(episodes: pd.DataFrame, path: Path) -> None:
    episodes.to_csv(path, index=False, float_format="%.6g")


def write_summary_json(summary: Summary, path: Path) -> None:
    path.write_text(json.dumps(asdict(summary), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


NO_RESULTS = "no results here (expected a folder written by 'videmo analyze')"
TIMELINE_DTYPES = {c: FRAME_DTYPES.get(c, "float64") for c in TIMELINE_COLUMNS} | {"n_frames": "int64"}


def read_summary(folder: Path) -> dict:
    """summary.json of a results folder, as written; OSError or ValueError (saying why) if it cannot be read."""
    path = folder / SUMMARY_JSON
    damage = text_damage(path, tail=False)
    if damage is not None:
        raise ValueError(damage)
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        if not error.doc[error.pos :].strip():  # the parser wanted more where the text ends: cut at a line's end
            raise ValueError("cut short: its JSON ends before it closes") from None
        raise ValueError(failure_cause(path, error)) from None
    except ValueError as error:
        raise ValueError(failure_cause(path, error)) from None
    if not isinstance(summary, dict):
        raise ValueError(f"{folder / SUMMARY_JSON}: not a videmo summary")
    return summary


def read_results(folder: str | Path) -> pd.DataFrame:
    """A results folder's (or its frames.csv's) rows with proper dtypes: ``face_id`` a nullable integer."""
    return read_table(folder, FRAMES_CSV, RESULT_DTYPES, NO_RESULTS)


def read_timeline(folder: str | Path) -> pd.DataFrame:
    """A results folder's (or its timeline.csv's) rows with proper dtypes: one row per face and time bin."""
    return read_table(folder, TIMELINE_CSV, TIMELINE_DTYPES, NO_RESULTS)


def read_episodes(folder: str | Path) -> pd.DataFrame:
    """A results folder's ``episodes.csv``: one row per stretch of time in which one face shows one emotion."""
    return read_table(
        folder,
        EPISODES_CSV,
        EPISODE_DTYPES,
        "no episodes here (results from before episodes existed: redo them with --overwrite)",
    )


def read_results_summary(folder: str | Path) -> dict:
    """A results folder's (or its summary.json's) summary, as written."""
    path = results_file(folder, SUMMARY_JSON, NO_RESULTS)
    try:
        return read_summary(path.parent)
    except (OSError, ValueError) as error:
        cause = error.strerror or str(error) if isinstance(error, OSError) else str(error)
        raise VidemoError(f"{printable(str(path))}: not a videmo summary ({printable(cause)})") from None


def results_folders(output: Path) -> list[Path]:
    """The finished results folders directly under ``output``, as the batch table takes them (hidden work in progress is not finished)."""
    return sorted(p for p in output.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / SUMMARY_JSON).is_file())


def not_one_video(folder: Path) -> None:
    """Refuse an output folder of many videos where one video's results folder belongs, saying what to do instead."""
    if (folder / SUMMARY_JSON).is_file() or not ((folder / INDEX_CSV).is_file() or results_folders(folder)):
        return
    some = results_folders(folder)
    example = f" such as {printable(str(some[0]))}" if some else ""
    raise VidemoError(
        f"{printable(str(folder))}: an output folder of many videos, not one video's results: "
        f"read it with videmo.read_batch, or read one of its results folders{example}"
    )


def read_table(folder: str | Path, name: str, dtypes: dict, missing: str) -> pd.DataFrame:
    """``name`` in a results folder (or the file itself), with its dtypes; ``missing``: why there is none.
    A VidemoError naming the file where it is damaged or edited past reading (cut short, empty, a value of
    the wrong kind), binary, in another encoding than UTF-8, or cut mid-line."""
    path = results_file(folder, name, missing)
    try:
        cause = text_damage(path)
        if cause is None:
            return pd.read_csv(path, dtype=dtypes, keep_default_na=True)
    except (ValueError, OSError) as error:  # pandas' parse errors and empty files are ValueErrors
        cause = failure_cause(path, error)
    raise VidemoError(f"{printable(str(path))}: cannot be read as videmo's {name} ({printable(cause)})") from None


def failure_cause(path: Path, error: Exception) -> str:
    """Why a parser failed on ``path``, in words: what is wrong with its text where something is, else the
    parser's first line."""
    if isinstance(error, OSError):
        return error.strerror or str(error)
    try:
        damage = text_damage(path, whole=True)
    except OSError as e:
        damage = e.strerror or str(e)
    return damage or (str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__)


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
