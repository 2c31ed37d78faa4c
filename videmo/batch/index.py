"""The batch table: one row per video and face over every results folder in an output folder.

``index.csv`` is rebuilt from the results folders themselves on every run, so a resumed or partly
failed batch gets a correct one, and videos finished by earlier runs are in it. ``failed.csv``
beside it lists the videos without results and why (this run's errors, and earlier runs' for
videos not tried again and still without results). Both are written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from videmo.core.emotions import CLASSES
from videmo.core.errors import VidemoError, printable
from videmo.core.files import written_atomically
from videmo.core.options import words
from videmo.results.io import (
    EPISODES_CSV,
    FAILED_CSV,
    INDEX_CSV,
    failure_cause,
    read_episodes,
    read_summary,
    results_folders,
)
from videmo.results.store import SETTINGS_BEFORE, output_locked
from videmo.results.tables import most_common, ranked
from videmo.results.text import text_damage

# How each video was analysed, on each of its rows: what makes one video's numbers comparable with
# another's (how often frames were analysed and searched, the part of the video, the episodes'
# settings, the shortest track, the model). Empty where a setting is not set or predates it.
SETTING_COLUMNS = [
    "fps",
    "every",
    "start_s",
    "end_s",
    "detect_every",
    "smooth_s",
    "min_episode_s",
    "min_track_s",
    "model",
    "model_sha256",
]
INDEX_COLUMNS = [
    "video",
    "folder",
    "duration_s",
    "frames_analysed",
    "face_id",
    "first_s",
    "last_s",
    "n_frames",
    "dominant_emotion",
    "dominant_share",
    "runner_up",
    "runner_up_share",
    *[f"share_{c}" for c in CLASSES],
    *[f"episodes_{c}" for c in CLASSES],
    *[f"raw_share_{c}" for c in CLASSES],
    *SETTING_COLUMNS,
]
# The counts as integers (nullable: a video without faces has empty face fields) and the texts as strings.
INTEGER_DTYPES = {
    "frames_analysed": "int64",
    "face_id": "Int64",
    "n_frames": "Int64",
    "every": "Int64",
    "detect_every": "Int64",
    **{f"episodes_{c}": "Int64" for c in CLASSES},
}
INDEX_DTYPES = {
    **INTEGER_DTYPES,
    **{c: "string" for c in ("video", "folder", "dominant_emotion", "runner_up", "model", "model_sha256")},
}
FAILED_COLUMNS = ["video", "error"]


def index_rows(folder: Path) -> list[dict]:
    """The rows of one results folder: one per face, or one with empty face fields when it has none."""
    summary = read_summary(folder)
    video = {
        "video": summary["video"]["path"],
        "folder": printable(folder.name),
        "duration_s": summary["video"]["duration_s"],
        "frames_analysed": summary["counts"]["frames_analysed"],
        **made_with(summary),
    }
    episodes = read_episodes(folder) if (folder / EPISODES_CSV).is_file() else None
    rows = []
    for track in summary["tracks"]:
        mine = episodes[episodes["face_id"] == track["face_id"]] if episodes is not None else None
        dominant, share, raw = headline(track, mine)
        _, dominant_share, runner_up, runner_up_share = ranked(share) if share is not None else (None, None, None, None)
        counts = mine["emotion"].value_counts() if mine is not None else None
        rows.append(
            {
                **video,
                "face_id": track["face_id"],
                "first_s": track["first_s"],
                "last_s": track["last_s"],
                "n_frames": track["n_frames"],
                "dominant_emotion": dominant,
                "dominant_share": dominant_share,
                "runner_up": runner_up,
                "runner_up_share": runner_up_share,
                **{f"share_{c}": (share[c] if share is not None else None) for c in CLASSES},
                **{f"episodes_{c}": (int(counts.get(c, 0)) if counts is not None else None) for c in CLASSES},
                **{f"raw_share_{c}": raw[c] for c in CLASSES},
            }
        )
    return rows or [video]


def made_with(summary: dict) -> dict:
    """The SETTING_COLUMNS of one results folder, from its summary (those from before a setting: what they were made with)."""
    settings, model = (part if isinstance(part, dict) else {} for part in (summary.get("settings"), summary.get("model")))
    settings = {**SETTINGS_BEFORE, **settings}  # an edited model or settings leaves these columns empty, not the row out
    return {
        **{name: settings.get(name) for name in SETTING_COLUMNS[:-2]},
        "model": model.get("name"),
        "model_sha256": model.get("sha256"),
    }


def mixed_settings(index: pd.DataFrame) -> str | None:
    """A line saying which SETTING_COLUMNS differ between the batch's videos, with how many videos
    have each value, or None when they all agree: such numbers are not comparable as they stand."""
    videos = index.drop_duplicates("folder").astype(object).where(index.drop_duplicates("folder").notna(), None)
    mixed = []
    for group, columns in SETTING_GROUPS.items():
        if not set(columns) <= set(videos.columns):
            continue
        values = videos[columns].apply(lambda row: setting_words(group, *row), axis=1).value_counts(sort=False)  # in table order
        if len(values) > 1:
            mixed.append(
                f"{group} " + " / ".join(f"{value} ({count} video{'' if count == 1 else 's'})" for value, count in values.items())
            )
    if not mixed:
        return None
    return f"this batch mixes settings, so its videos' numbers are not comparable as they stand: {'; '.join(mixed)} (see index.csv's last columns)"


# The settings the closing warning compares, as one reader thinks of them.
SETTING_GROUPS = {
    "sampling": ["fps", "every"],
    "part": ["start_s", "end_s"],
    "detection": ["detect_every"],
    "episodes": ["smooth_s", "min_episode_s"],
    "shortest track": ["min_track_s"],
    "model": ["model", "model_sha256"],
}


def setting_words(group: str, first: object, second: object | None = None) -> str:
    """One video's value of a SETTING_GROUPS group, in words."""
    if group == "sampling":
        return (
            f"fps {words(first)}"
            if first is not None
            else f"1 frame in {words(second)}"
            if second not in (None, 1)
            else "every frame"
        )
    if group == "part":
        return (
            "whole video"
            if first is None and second is None
            else f"{words(first or 0)}-{words(second) if second is not None else 'end'} s"
        )
    if group == "detection":
        return "searched every frame whole" if first in (None, 1) else f"searched whole 1 frame in {words(first)}"
    if group == "episodes":
        return f"smooth {words(first)} s, min episode {words(second)} s"
    if group == "model":
        return f"{words(first)} {str(second)[:8]}"
    return "none" if first is None else f"{words(first)} s"


def headline(track: dict, episodes: pd.DataFrame | None) -> tuple[str | None, dict | None, dict]:
    """A face's dominant emotion, the shares of its smoothed labels and those of its raw labels.
    Summaries from before ``emotion_share_raw`` hold the raw shares under ``emotion_share`` and a raw
    headline: there the smoothed ones come from the face's episodes (each frame's smoothed label is
    its episode's), and are unknown (empty) for results from before episodes."""
    if "emotion_share_raw" in track:
        return track["dominant_emotion"], track["emotion_share"], track["emotion_share_raw"]
    raw = track["emotion_share"]
    if episodes is None or episodes.empty:
        return None, None, raw
    frames = episodes.groupby("emotion")["n_frames"].sum()
    share = {c: round(float(frames.get(c, 0)) / float(frames.sum()), 4) for c in CLASSES}
    return most_common(share), share, raw


def build_index(output: Path) -> pd.DataFrame:
    """Every finished results folder directly under ``output`` (hidden work in progress is not finished)."""
    rows = []
    for folder in results_folders(output) if output.is_dir() else []:
        try:
            rows += index_rows(folder)
        except (
            OSError,
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
        ):  # a folder someone edited: left out, not stopping the batch
            continue
    return pd.DataFrame(rows, columns=INDEX_COLUMNS).astype(INTEGER_DTYPES)


def update_index(
    output: str | os.PathLike, tried: list[Path], failures: dict[str, str]
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """Rewrite ``index.csv`` and ``failed.csv`` in ``output`` after a run that ``tried`` these videos
    and had these ``failures`` (video or path given -> error line); returns both tables (None where
    ``output`` is no folder). ``report.update_batch`` writes the page of them too."""
    output = Path(output)
    if not output.is_dir():
        return None
    with output_locked(output):  # runs sharing ``output`` write in turn, each from the folders of all finished before it
        return rewrite_tables(output, tried, failures)


def rewrite_tables(output: Path, tried: list[Path], failures: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    index = build_index(output)
    done = set(index["video"])
    earlier = read_failed(output)
    tried_now = {printable(str(v)) for v in tried} | set(failures)
    kept = {v: e for v, e in zip(earlier["video"], earlier["error"]) if v not in tried_now and v not in done}
    failures = {v: e.removeprefix("videmo: error: ") for v, e in failures.items() if v}  # "": no video was given at all
    failed = pd.DataFrame(
        [{"video": v, "error": e} for v, e in {**kept, **failures}.items() if v not in done], columns=FAILED_COLUMNS
    )
    try:
        write_atomically(index, output / INDEX_CSV)
        write_atomically(failed, output / FAILED_CSV)
    except (
        OSError
    ) as e:  # a full disk, say: the results folders are complete; the old tables stay until a later run rewrites them
        raise VidemoError(f"{printable(str(output))}: cannot write the batch tables ({e.strerror or e})") from None
    return index, failed


def read_failed(output: Path) -> pd.DataFrame:
    path = output / FAILED_CSV
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False) if path.is_file() else pd.DataFrame(columns=FAILED_COLUMNS)
    except (OSError, ValueError, pd.errors.ParserError):
        return pd.DataFrame(columns=FAILED_COLUMNS)
    return table if set(FAILED_COLUMNS) <= set(table.columns) else pd.DataFrame(columns=FAILED_COLUMNS)  # edited: started afresh


def write_atomically(table: pd.DataFrame, path: Path) -> None:
    with written_atomically(path) as partial:
        table.to_csv(partial, index=False, float_format="%.6g")


def read_index(output: str | os.PathLike) -> pd.DataFrame:
    """``<output>/index.csv`` as a DataFrame (``face_id`` a nullable integer; a video without faces has one row, its face fields empty)."""
    path = Path(output) / INDEX_CSV
    if not path.is_file():
        raise VidemoError(f"{printable(str(path))}: no batch index here (expected an output folder of 'videmo analyze')")
    try:
        cause = text_damage(path)
        if cause is None:
            return pd.read_csv(path, dtype=INDEX_DTYPES)
    except (ValueError, OSError) as error:  # pandas' parse errors, a wrong encoding and empty files are ValueErrors
        cause = failure_cause(path, error)
    raise VidemoError(f"{printable(str(path))}: cannot be read as videmo's {INDEX_CSV} ({printable(cause)})")
