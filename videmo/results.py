"""A video's results as they cross the stages (``VideoResult``, its ``Summary``), and what a results
folder on disk says: whether it is complete, whose video it holds, and with which settings it was made."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import VidemoError, printable
from .options import AnalyzeOptions, words

if TYPE_CHECKING:
    import pandas as pd

    from .annotate import FaceSheet
    from .decode import VideoInfo

SUMMARY_JSON = "summary.json"


@dataclass
class Summary:
    """summary.json, field for field (its order is the file's)."""

    video: dict  # path, duration_s, fps, frame_count, width, height, codec, rotation
    settings: dict  # AnalyzeOptions' fields, with the device and precision that ran
    model: dict  # name, arch, vgg, image_size, channels, sha256
    counts: dict  # frames_analysed, frames_undecodable, frames_with_faces, faces, tracks, episodes
    frames_missing: dict | None  # the index's frames past the stream's end: {"count", "from_frame"}
    frames_unreadable: dict | None  # where the container could not be read on: {"from_frame", "cause"}
    frames_undecodable: list[int]  # picked frames whose data is damaged
    tracks: list[dict]  # per face: face_id, first_s, last_s, n_frames, dominant_emotion, emotion_share
    wall_time_s: float
    frames_per_second: float | None
    videmo_version: str
    files: list[str] = field(default_factory=list)  # the results folder's files, once saved


@dataclass
class VideoResult:
    """One video's analysis as it crosses the stages to the writers."""

    info: VideoInfo
    frames: pd.DataFrame
    timeline: pd.DataFrame
    summary: Summary
    faces: FaceSheet
    episodes: pd.DataFrame  # episodes.csv: one row per stretch of one emotion on one face
    annotated: Path | None = None  # the streamed annotated video, moved into the results folder on saving
    notes: list[str] = field(default_factory=list)  # what the user should know, such as a skipped video


@dataclass
class Analysis:
    """What ``videmo.analyze`` returns: one video's tables as its results folder holds them, and the folder
    (None where none was written). Until a later release it also stands in for its frames table, as
    ``analyze`` returned that alone (``len(result)``, ``result["emotion"]``, ``result.groupby``), with
    a FutureWarning that says to use ``.frames``."""

    frames: pd.DataFrame  # frames.csv: one row per analysed frame and face
    episodes: pd.DataFrame  # episodes.csv: one row per stretch of one emotion on one face
    timeline: pd.DataFrame  # timeline.csv: per face and time bin
    summary: dict  # summary.json
    folder: Path | None = None  # the results folder, where ``output`` was given

    def __getattr__(self, name: str):
        if name.startswith("_") or name in ANALYSIS_FIELDS or not hasattr(self.frames, name):  # copying and unpickling
            raise AttributeError(f"'Analysis' object has no attribute '{name}'")                # ask before the fields exist
        return getattr(self.frames_as_before(), name)

    def __getitem__(self, key):
        return self.frames_as_before()[key]

    def __len__(self) -> int:
        return len(self.frames_as_before())

    def frames_as_before(self) -> pd.DataFrame:
        """The frames table, for code written when ``analyze`` returned it, with a warning that says how to change it."""
        import warnings

        warnings.warn("videmo.analyze returns an Analysis now (frames, episodes, timeline, summary, folder): "
                      "use result.frames where the result was used as the frames table", FutureWarning, stacklevel=3)
        return self.frames


ANALYSIS_FIELDS = ("frames", "episodes", "timeline", "summary", "folder")
OUTCOMES = ("done", "skipped", "failed")


@dataclass(frozen=True)
class VideoOutcome:
    """What became of one input of ``videmo.analyze_many``."""

    video: str  # its path, as index.csv and failed.csv show it
    folder: Path | None  # its results folder; None for a path that gave no video
    status: str  # one of OUTCOMES: analysed now, already done (not redone), or without results
    error: str | None = None  # why it failed, as failed.csv says


def read_summary(folder: Path) -> dict:
    """summary.json of a results folder, as written; OSError or ValueError if it cannot be read."""
    summary = json.loads((folder / SUMMARY_JSON).read_text(encoding="utf-8"))
    if not isinstance(summary, dict):
        raise ValueError(f"{folder / SUMMARY_JSON}: not a videmo summary")
    return summary


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
RESULT_SETTINGS = ("fps", "every", "start_s", "end_s", "detect_width", "min_face", "det_threshold", "detect_every", "margin", "mirror",
                   "bin_s", "smooth_s", "min_episode_s", "annotate", "plots")
# Those that ``videmo episodes`` changes from frames.csv alone, without decoding, and the option of each.
EPISODE_SETTINGS = {"smooth_s": "--smooth", "min_episode_s": "--min-episode", "bin_s": "--bin", "plots": "--plots"}
# What results folders made before a setting existed were made with.
SETTINGS_BEFORE = {"mirror": False, "detect_every": 1, "start_s": None, "end_s": None, "plots": True}


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
        changed.insert(0, f"model {words(name)} now {model[0]}" if name != model[0] else f"model {name} sha256 {sha256[:8]} now {model[1][:8]}")
    if not changed:
        return ""
    if len(changed) == len(differ) and set(differ) <= set(EPISODE_SETTINGS):
        flags = " ".join(episode_flag(setting, now[setting]) for setting in differ)
        return (f", made with other settings ({', '.join(changed)}; 'videmo episodes {printable(str(folder))} {flags}' "
                "rebuilds its episodes, timeline and plots from frames.csv in seconds)")
    return f", made with other settings ({', '.join(changed)})"


def episode_flag(setting: str, value: object) -> str:
    """The ``videmo episodes`` option that sets ``setting`` to ``value``."""
    if setting == "plots":
        return "--plots" if value else "--no-plots"
    return f"{EPISODE_SETTINGS[setting]} {words(value)}"


def model_identity(weights: str | None) -> tuple[str, str] | None:
    """The name and sha256 of the checkpoint that ``weights`` names (None: the default), as a summary
    records them; None if there is no such file (loading it will say why)."""
    from .checkpoint import file_sha256, weights_path

    try:
        path = weights_path(weights)
        return (path.stem, file_sha256(path)) if path.is_file() else None
    except (OSError, VidemoError):
        return None
