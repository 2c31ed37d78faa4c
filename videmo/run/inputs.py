"""Finding the videos a command was given: files, folders searched recursively, and globs; results
folders under an input folder are never taken as inputs."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from videmo.core.files import shortened, too_long
from videmo.results.types import SUMMARY_JSON
from videmo.video.decode import VIDEO_SUFFIXES


def find_videos(paths: list[str]) -> tuple[list[Path], dict[str, str]]:
    """Video files from files, folders (recursively) and globs; and for each path that gave none, its error line."""
    videos, errors = [], {}
    for given in paths:
        path = Path(given)
        if why := too_long(given):  # the system would refuse it with "File name too long"
            errors[given] = f"{shortened(given)}: {why}"
        elif path.is_dir():
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
        found += [
            Path(parent) / name
            for name in files
            if Path(name).suffix.lower() in VIDEO_SUFFIXES and not name.startswith(".") and (Path(parent) / name).is_file()
        ]
    return sorted(found)


def in_results(path: Path) -> bool:
    """Whether ``path`` lies in a results folder or is one of videmo's hidden files."""
    return path.name.startswith(".") or any((parent / SUMMARY_JSON).is_file() for parent in path.parents)
