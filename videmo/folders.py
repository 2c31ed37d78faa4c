"""Results folders: where videos are found, what each one's folder is called, and how it is written
(whole or not at all). What a folder on disk holds, and with which settings, is ``results``'."""

from __future__ import annotations

import glob
import hashlib
import os
import re
import shutil
import socket
from pathlib import Path

from .annotate import write_faces_png
from .decode import VIDEO_SUFFIXES
from .errors import VidemoError, printable
from .files import hidden
from .results import SUMMARY_JSON, VideoResult, results_of
from .write import (ANNOTATED_MP4, EPISODES_CSV, FACES_PNG, FRAMES_CSV, TIMELINE_CSV, TIMELINE_PNG, write_episodes_csv,
                    write_frames_csv, write_summary_json, write_timeline_csv, write_timeline_png)


def find_videos(paths: list[str]) -> tuple[list[Path], dict[str, str]]:
    """Video files from files, folders (recursively) and globs; and for each path that gave none, its error line."""
    videos, errors = [], {}
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = videos_in(path)
            if not found:
                errors[given] = f"{path}: folder holds no video files ({', '.join(sorted(VIDEO_SUFFIXES))})"
            videos += found
        elif path.exists() or path.is_symlink():
            videos.append(path)
        elif glob.has_magic(given):
            found = sorted(Path(p) for p in glob.glob(given, recursive=True) if Path(p).is_file() and not in_results(Path(p)))
            if not found:
                errors[given] = f"{given}: no file matches"
            videos += found
        else:
            errors[given] = f"{path}: no such file or folder"
    # a dangling link keeps the name the user gave: resolving it would name only its missing target
    unique = list(dict.fromkeys(p.resolve() if p.exists() else p.absolute() for p in videos))
    return unique, errors


def videos_in(folder: Path) -> list[Path]:
    """Video files under ``folder``, recursively, except what videmo wrote: results folders (a
    summary.json marks them) and hidden work in progress are never inputs, so that ``-o`` inside an
    input folder does not feed a run its own annotated videos."""
    found = []
    for parent, folders, files in os.walk(folder):
        if SUMMARY_JSON in files and parent != str(folder):
            folders[:] = []
            continue
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        found += [Path(parent) / name for name in files
                  if Path(name).suffix.lower() in VIDEO_SUFFIXES and not name.startswith(".") and (Path(parent) / name).is_file()]
    return sorted(found)


def in_results(path: Path) -> bool:
    """Whether ``path`` lies in a results folder or is one of videmo's hidden files."""
    return path.name.startswith(".") or any((parent / SUMMARY_JSON).is_file() for parent in path.parents)


# A results folder's name, in bytes: the hidden names made beside it (".NAME.annotated-HOST-PID.mp4")
# add at most 87 more (a 64-byte host name), within the file systems' 255-byte limit.
NAME_BYTES = 150


def result_folder_names(videos: list[Path], output: Path) -> dict[Path, str]:
    """Each video's results folder name under ``output``: ``<stem>``, or ``<stem>-<hash of its path>``
    where ``<stem>`` holds another video's results or is taken by an earlier video of this run (and
    for stems too long for the names videmo makes beside the folder). A folder that holds this
    video's results is kept, so a video keeps its folder from run to run whatever runs beside it."""
    names, taken = {}, set()
    for video in videos:
        digest = hashlib.sha1(os.fsencode(str(video))).hexdigest()[:8]
        hashed = f"{cut_to_bytes(video.stem, NAME_BYTES - 9)}-{digest}"
        candidates = [hashed] if len(os.fsencode(video.stem)) > NAME_BYTES else [video.stem, hashed]
        mine = next((name for name in candidates if results_of(output / name) == printable(str(video))), None)
        free = next((name for name in candidates if name not in taken and results_of(output / name) is None), hashed)
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
        if folder.exists() and overwrite:
            retired = hidden(folder, "old")
            os.replace(folder, retired)
            os.replace(partial, folder)
            keep_users_files(retired, folder)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(partial, folder)
    except OSError as e:
        # another run on the same -o finished it first; when overwriting, the results there are the old ones
        if not overwrite and results_of(folder) == printable(str(result.info.path)):
            result.notes.append(f"{printable(result.info.path.name)}: done by another run meanwhile; its results in {folder} are kept")
            return
        raise VidemoError(f"{folder}: cannot write results ({e.strerror or e})") from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)
