"""Re-analysis from saved results: new episodes, timeline, summary and plots from a results folder's
frames.csv alone, in seconds, for other ``--smooth``, ``--min-episode``, ``--bin`` or ``--plots``.

Nothing is decoded or detected: the per-frame probabilities and tracks are the folder's, so the video
need not be at hand. The face sheet is redrawn from the crops that faces.png itself holds (its
``annotate.TILES_KEY`` chunk). The folder is rewritten whole or not at all, as ``analyze`` writes it
(``folders.save_results``), and ``annotated.mp4`` is carried over untouched (a hard link where the file
system allows one).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import fields, replace
from pathlib import Path

from videmo.core.emotions import CLASSES
from videmo.core.errors import VidemoError, printable
from videmo.core.files import hidden, shortened, too_long
from videmo.core.options import AnalyzeOptions, words
from videmo.core.version import __version__, is_newer
from videmo.results.episodes import MIN_TRACK_S, add_episodes, readable_of
from videmo.results.figures import FaceSheet, read_face_sheet
from videmo.results.io import ANNOTATED_MP4, FACES_PNG, FRAMES_CSV, read_results, read_results_summary, results_folders
from videmo.results.store import EPISODE_SETTINGS, SETTINGS_BEFORE, save_results
from videmo.results.tables import timeline, track_summaries, tracked
from videmo.results.types import SUMMARY_JSON, Summary, VideoResult
from videmo.video.probe import VideoInfo


def reanalyze(folder: Path, **changes) -> VideoResult:
    """Rebuild ``folder``'s episodes, timeline, summary and plots with ``changes`` (any of ``smooth_s``,
    ``min_episode_s``, ``bin_s``, ``plots``; the folder's own settings for the rest) and save it.
    A VidemoError, the folder left as it was, for a folder that is not one video's results or a
    setting out of range."""
    unknown = set(changes) - set(EPISODE_SETTINGS)
    if unknown:
        raise TypeError(f"reanalyze takes {', '.join(EPISODE_SETTINGS)}, not {', '.join(sorted(unknown))}")
    summary = read_results_summary(folder)
    made_by = summary.get("videmo_version") if isinstance(summary, dict) else None
    if is_newer(made_by):  # rewritten here, the fields that version added would be dropped
        raise VidemoError(
            f"{printable(str(folder))}: made by videmo {printable(str(made_by))}, newer than this videmo "
            f"{__version__}; upgrade videmo to rebuild its episodes"
        )
    try:
        saved = {f.name: summary.get(f.name, [] if f.name == "frames_undecodable" else None) for f in fields(Summary)}
        settings = dict(saved["settings"])
        options = replace(
            AnalyzeOptions(
                **{
                    f.name: settings[f.name]
                    for f in fields(AnalyzeOptions)
                    if f.name in settings and f.name not in ("device", "precision", "runtime")
                }
            ),
            **changes,
        )
        info = VideoInfo(
            Path(saved["video"]["path"]),
            saved["video"]["width"],
            saved["video"]["height"],
            saved["video"]["fps"],
            saved["video"]["frame_count"],
            saved["video"]["duration_s"],
            saved["video"]["codec"],
            saved["video"]["rotation"],
        )
    except (KeyError, TypeError):
        raise VidemoError(
            f"{printable(str(folder))}: its summary.json lacks what re-analysis needs ({lacking(summary)})"
        ) from None
    frames = read_results(folder).drop(columns=["emotion_smoothed", "short_track", "unreadable"], errors="ignore")
    absent = [column for column in ("frame", "time_s", "face_id", *CLASSES) if column not in frames.columns]
    if absent:  # an edited frames.csv
        raise VidemoError(
            f"{printable(str(folder / FRAMES_CSV))}: lacks the column(s) {', '.join(absent)}, which re-analysis needs"
        )
    min_track_s = settings.get("min_track_s", MIN_TRACK_S)
    frames, episodes = add_episodes(frames, options.smooth_s, options.min_episode_s, min_track_s, readable_of(options))
    faces = frames[frames["face_id"].notna()]
    saved["settings"] = {**settings, **{name: getattr(options, name) for name in EPISODE_SETTINGS}, "min_track_s": min_track_s}
    saved["files"] = []  # listed anew as it is saved
    saved["counts"] = {
        **(saved["counts"] or {}),
        "tracks": int(tracked(faces)["face_id"].nunique()),
        "short_tracks": int(faces.loc[faces["short_track"], "face_id"].nunique()),
        "episodes": int(len(episodes)),
        "unreadable_face_frames": int(faces["unreadable"].sum()),
    }
    saved["tracks"] = track_summaries(frames)
    sheet = face_sheet(folder)
    result = VideoResult(info, frames, timeline(frames, options.bin_s, info.duration_s), Summary(**saved), sheet, episodes)
    if options.plots and saved["tracks"] and not sheet.best:
        result.notes.append(
            f"{printable(str(folder))}: faces.png's tiles are empty: its face crops are not in the folder "
            "(no faces.png, or one from before they were kept); 'videmo analyze --overwrite' redraws them"
        )
    if (folder / ANNOTATED_MP4).is_file():  # carried over: the boxes' colours are the single-frame labels', unchanged
        result.annotated = carried(folder / ANNOTATED_MP4, hidden(folder, "annotated", suffix=".mp4"))
    try:
        save_results(result, folder, overwrite=True)
    finally:
        if result.annotated is not None:
            result.annotated.unlink(missing_ok=True)
    return result


VIDEO_FIELDS = ("path", "width", "height", "fps", "frame_count", "duration_s", "codec", "rotation")


def lacking(summary: dict) -> str:
    """What of a summary.json re-analysis needs is missing or not as written, in words: 'no video field',
    'the video's fps and codec' (a KeyError's or TypeError's own text would read "('video')")."""
    for name in ("video", "settings"):
        if name not in summary:
            return f"no {name} field"
        if not isinstance(summary[name], dict):
            return f"its {name} field is not a set of named values"
    absent = [name for name in VIDEO_FIELDS if name not in summary["video"]]
    if absent:
        return f"the video field lacks {', '.join(absent)}"
    return "a field of the video or settings holds a value of the wrong kind"


def face_sheet(folder: Path) -> FaceSheet:
    """The crops of the folder's faces.png (none where it has none, or is from before the crops were recorded)."""
    try:
        return read_face_sheet(folder / FACES_PNG) if (folder / FACES_PNG).is_file() else FaceSheet()
    except (OSError, ValueError, KeyError, TypeError):  # an edited or damaged faces.png: the tiles are drawn empty
        return FaceSheet()


def carried(path: Path, to: Path) -> Path:
    """``path`` at the hidden name ``to`` (removed first if a dead run left it), linked where the file system allows, else copied."""
    to.unlink(missing_ok=True)
    try:
        os.link(path, to)
    except OSError:
        shutil.copy2(path, to)
    return to


def results_in(paths: list[str]) -> tuple[list[Path], list[str]]:
    """The results folders that ``paths`` name: each one video's results folder, or every results
    folder directly in an output folder of many; and an error line for each path that names none."""
    found, errors = [], []
    for given in paths:
        path = Path(given)
        if why := too_long(path / SUMMARY_JSON):  # the system would refuse it with "File name too long"
            errors.append(f"{printable(shortened(given))}: {why}")
        elif (path / SUMMARY_JSON).is_file():
            found.append(path)
        elif path.is_dir() and results_folders(path):
            found += results_folders(path)
        elif path.is_dir():
            errors.append(
                f"{printable(given)}: no results here (expected a folder written by 'videmo analyze', or an output folder of them)"
            )
        else:
            errors.append(f"{printable(given)}: no such folder")
    return list(dict.fromkeys(found)), errors


def changed_words(before: dict, after: dict) -> str:
    """'smooth_s 0.5 now 1, bin_s 1 now 2' for the episode settings that differ (the shortest track too: results
    from before it get today's), or 'the same settings'."""
    before = {**SETTINGS_BEFORE, **before}
    changed = [
        f"{name} {words(before.get(name))} now {words(after.get(name))}"
        for name in (*EPISODE_SETTINGS, "min_track_s")
        if before.get(name) != after.get(name)
    ]
    return ", ".join(changed) or "the same settings"
