"""Results folders: where videos are found, what each one's folder is called, and how it is written
(whole or not at all). What a folder on disk holds, and with which settings, is ``results``'."""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import os
import re
import shutil
import socket
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from videmo.core.errors import VidemoError, printable
from videmo.core.files import hidden
from videmo.core.options import AnalyzeOptions, words
from videmo.results.figures import write_faces_png, write_timeline_png
from videmo.results.io import (
    ANNOTATED_MP4,
    EPISODES_CSV,
    FACES_PNG,
    FRAMES_CSV,
    TIMELINE_CSV,
    TIMELINE_PNG,
    read_summary,
    write_episodes_csv,
    write_frames_csv,
    write_summary_json,
    write_timeline_csv,
)
from videmo.results.types import SUMMARY_JSON, VideoResult

# A results folder's name, in bytes: the hidden names made beside it (".NAME.annotated-HOST-PID.mp4")
# add at most 87 more (a 64-byte host name), within the file systems' 255-byte limit.
NAME_BYTES = 150
# What the batch writes beside the results folders (io.INDEX_CSV, FAILED_CSV, report.REPORT_HTML): a video
# named index.csv.mp4 gets index.csv-<hash>, as one named .x.mp4 gets _.x-<hash> (a hidden folder is no results).
BATCH_FILES = frozenset({"index.csv", "failed.csv", "report.html"})


def result_folder_names(videos: list[Path], output: Path) -> dict[Path, str]:
    """Each video's results folder name under ``output``: ``<stem>``, or ``<stem>-<hash of its path>``
    where ``<stem>`` holds another video's results or is taken by an earlier video of this run (and
    for stems too long for the names videmo makes beside the folder). A folder that holds this
    video's results is kept, so a video keeps its folder from run to run whatever runs beside it."""
    names, taken = {}, set()
    for video in videos:
        digest = hashlib.sha1(os.fsencode(str(video))).hexdigest()[:8]
        stem = "_" + video.stem if video.stem.startswith(".") else video.stem  # never hidden, never "." or ".."
        hashed = f"{cut_to_bytes(stem, NAME_BYTES - 9)}-{digest}"
        plain = len(os.fsencode(stem)) <= NAME_BYTES and stem == video.stem and stem.casefold() not in BATCH_FILES
        candidates = [video.stem, hashed] if plain else [hashed]
        mine = next((name for name in candidates if results_of(output / name) == printable(str(video))), None)
        free = next(
            (
                name
                for name in candidates
                if name not in taken
                and results_of(output / name) is None
                and not (os.path.lexists(output / name) and not (output / name).is_dir())
            ),
            hashed,
        )  # a file of the user's
        names[video] = mine or free
        taken.add(names[video])
    return names


def cut_to_bytes(name: str, limit: int) -> str:
    """The longest start of ``name`` whose file-system encoding fits in ``limit`` bytes (never half a character)."""
    while len(os.fsencode(name)) > limit:
        name = name[:-1]
    return name


def remove_dead_leftovers(output: Path) -> None:
    """Hidden files and folders in ``output`` from runs killed outright (SIGKILL skips every cleanup),
    whatever video they were for: only those of this machine's dead processes, since a shared folder
    may hold other machines' work in progress. Retired old folders (``save_results``) stay: a crash
    may have left a user's own files in one."""
    if not output.is_dir():
        return
    host = socket.gethostname()
    leftover = re.compile(rf"\.(?:.+)\.(?:partial|annotated)-{re.escape(host)}-(\d+)(?:\.mp4)?")
    for path in output.glob(f".*-{glob.escape(host)}-*"):
        match = leftover.fullmatch(path.name)
        if match and not process_alive(int(match.group(1))):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


# What a results folder holds that videmo wrote; anything else in it is the user's.
VIDEMO_FILES = frozenset({FRAMES_CSV, TIMELINE_CSV, EPISODES_CSV, TIMELINE_PNG, FACES_PNG, ANNOTATED_MP4, SUMMARY_JSON})


def keep_users_files(retired: Path, folder: Path) -> None:
    """Move what the user put in a results folder (notes, their own analyses) from its ``retired`` old
    version into the new ``folder``, so that redoing the results (--overwrite, ``videmo episodes``)
    replaces only videmo's files. A crash before this leaves them in the hidden old folder, which no
    later run removes."""
    for entry in retired.iterdir():
        if entry.name not in VIDEMO_FILES:
            os.replace(entry, folder / entry.name)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        pass
    return True


def save_results(result: VideoResult, folder: Path, overwrite: bool) -> None:
    """Write every file into a hidden folder, then rename it into place: a results folder is
    complete or absent, never half-written. summary.json, written last, marks it done."""
    partial = hidden(folder, "partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        partial.mkdir(parents=True)
        write_frames_csv(result.frames, partial / FRAMES_CSV)
        write_timeline_csv(result.timeline, partial / TIMELINE_CSV)
        write_episodes_csv(result.episodes, partial / EPISODES_CSV)
        if result.summary.settings.get("plots", True):  # --no-plots: a large batch's CSVs without the figures
            title = printable(result.info.path.name)
            write_timeline_png(result.frames, partial / TIMELINE_PNG, title, result.episodes)
            write_faces_png(result.faces, result.summary.tracks, partial / FACES_PNG, title)
        if result.annotated is not None:
            shutil.move(result.annotated, partial / ANNOTATED_MP4)
        result.summary.files = sorted(p.name for p in partial.iterdir()) + [SUMMARY_JSON]
        write_summary_json(result.summary, partial / SUMMARY_JSON)
        result.saved_to = folder
        with output_locked(folder.parent):
            if not overwrite:
                place_results(result, partial, folder)
            elif folder.exists():
                retired = hidden(folder, "old")
                os.replace(folder, retired)
                try:
                    os.replace(partial, folder)
                except OSError:  # the old results back, whole and with the user's files, not hidden in the retired folder
                    os.replace(retired, folder)
                    raise
                keep_users_files(retired, folder)
                shutil.rmtree(retired, ignore_errors=True)
            else:
                os.replace(partial, folder)
    except OSError as e:
        # another run on the same -o finished it first (where no lock); when overwriting, the results there are the old ones
        if not overwrite and results_of(folder) == printable(str(result.info.path)):
            result.notes.append(
                f"{printable(result.info.path.name)}: done by another run meanwhile; its results in {folder} are kept"
            )
            return
        raise VidemoError(f"{folder}: cannot write results ({e.strerror or e})") from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def place_results(result: VideoResult, partial: Path, folder: Path) -> None:
    """Rename ``partial`` into place, ``output_locked``: unless a run beside this one on the same output
    finished this video meanwhile (its results, wherever they are, are kept) or put another video of the
    same name in ``folder`` (this one's go to the name it gets now, ``<stem>-<hash>``, where later runs
    find them), so that each video has its results once."""
    video, name = result.info.path, printable(result.info.path.name)
    now = folder.with_name(result_folder_names([video], folder.parent)[video])
    result.saved_to = now
    if results_of(now) == printable(str(video)):
        result.notes.append(f"{name}: done by another run meanwhile; its results in {now} are kept")
        return
    if results_of(folder) is None:
        now = result.saved_to = folder
    os.replace(partial, now)
    if now != folder:
        result.notes.append(f"{name}: another run put another video's results in {folder} meanwhile; this one's are in {now}")


@contextlib.contextmanager
def output_locked(output: Path) -> Iterator[None]:
    """``output`` locked (an flock of the folder itself: no lock file is left) while runs sharing it name a
    results folder or rebuild the batch tables, one at a time; where the file system cannot lock (some
    network shares), unlocked."""
    try:
        handle = os.open(output, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # releases the lock


def results_of(folder: Path) -> str | None:
    """The video whose complete results ``folder`` holds (its path as summary.json shows it), or None."""
    try:
        return read_summary(folder)["video"]["path"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def is_complete(folder: Path) -> bool:
    """Whether ``folder`` holds finished results (summary.json is written last)."""
    return (folder / SUMMARY_JSON).is_file()


def holds_foreign_files(folder: Path) -> bool:
    """Whether ``folder`` holds files but no results: the user's own, which videmo must not replace."""
    return folder.is_dir() and not is_complete(folder) and any(folder.iterdir())


# The settings that change what a results folder holds (not how fast it was made); the model is
# compared by its sha256, not by the path it was given as (an absolute one on Ray, the default as None).
RESULT_SETTINGS = (
    "fps",
    "every",
    "start_s",
    "end_s",
    "detect_width",
    "min_face",
    "det_threshold",
    "detect_every",
    "margin",
    "mirror",
    "bin_s",
    "smooth_s",
    "min_episode_s",
    "annotate",
    "plots",
    "max_yaw",
    "min_sharpness",
    "min_brightness",
)


# Those that ``videmo episodes`` changes from frames.csv alone, without decoding, and the option of each.
EPISODE_SETTINGS = {
    "smooth_s": "--smooth",
    "min_episode_s": "--min-episode",
    "bin_s": "--bin",
    "plots": "--plots",
    "max_yaw": "--max-yaw",
    "min_sharpness": "--min-sharpness",
    "min_brightness": "--min-brightness",
}


# What results folders made before a setting existed were made with.
SETTINGS_BEFORE = {
    "mirror": False,
    "detect_every": 1,
    "start_s": None,
    "end_s": None,
    "plots": True,
    "max_yaw": None,
    "min_sharpness": None,
    "min_brightness": None,
}


def changed_settings(folder: Path, options: AnalyzeOptions, model: tuple[str, str] | None) -> str:
    """', made with other settings (fps 5 now not set, ...)' when ``folder``'s results were made otherwise,
    by another model included (``model``: the name and sha256 of the one used now), else ''. Values in
    words (``options.words``); booleans read True and False. Where only the episodes' settings differ,
    it names the ``videmo episodes`` command that rebuilds them from frames.csv."""
    try:
        summary = read_summary(folder)
        earlier = {**SETTINGS_BEFORE, **summary["settings"]}
        then = summary.get("model")
        name, sha256 = (then.get("name"), then.get("sha256")) if isinstance(then, dict) else (None, None)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return ""
    now = asdict(options)
    differ = [setting for setting in RESULT_SETTINGS if setting in earlier and earlier[setting] != now[setting]]
    changed = [f"{setting} {words(earlier.get(setting))} now {words(now[setting])}" for setting in differ]
    if model is not None and isinstance(sha256, str) and sha256 != model[1]:  # a default model replaced by an update, say
        changed.insert(
            0,
            f"model {words(name)} now {model[0]}" if name != model[0] else f"model {name} sha256 {sha256[:8]} now {model[1][:8]}",
        )
    if not changed:
        return ""
    if len(changed) == len(differ) and set(differ) <= set(EPISODE_SETTINGS):
        flags = " ".join(episode_flag(setting, now[setting]) for setting in differ)
        return (
            f", made with other settings ({', '.join(changed)}; 'videmo episodes {printable(str(folder))} {flags}' "
            "rebuilds its episodes, timeline and plots from frames.csv in seconds)"
        )
    return f", made with other settings ({', '.join(changed)})"


def episode_flag(setting: str, value: object) -> str:
    """The ``videmo episodes`` option that sets ``setting`` to ``value``."""
    if setting == "plots":
        return "--plots" if value else "--no-plots"
    return f"{EPISODE_SETTINGS[setting]} {words(value)}"
