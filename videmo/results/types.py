"""A video's results as they cross the stages (``VideoResult``, its ``Summary``), and what a results
folder on disk says: whether it is complete, whose video it holds, and with which settings it was made."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from videmo.results.figures import FaceSheet
    from videmo.video.decode import VideoInfo

SUMMARY_JSON = "summary.json"


@dataclass
class Summary:
    """summary.json, field for field (its order is the file's)."""

    video: dict  # path, duration_s, fps, frame_count, width, height, codec, rotation, pixel_aspect
    settings: dict  # AnalyzeOptions' fields, with the device and precision that ran
    model: dict  # name, arch, vgg, image_size, channels, sha256
    counts: dict  # frames_analysed, frames_undecodable, frames_with_faces, faces, tracks, episodes
    frames_missing: dict | None  # the index's frames past the stream's end: {"count", "from_frame"}
    frames_unreadable: dict | None  # where the container could not be read on: {"from_frame", "cause"}
    frames_undecodable: list[int]  # picked frames whose data is damaged
    tracks: list[
        dict
    ]  # per face: face_id, first_s, last_s, n_frames, dominant_emotion and _share, runner_up and _share, emotion_share
    wall_time_s: float
    frames_per_second: float | None
    videmo_version: str
    size_changes: list[dict] | None = None  # where the picture's size changed mid-stream: {"frame", "width", "height"}
    # where the stream's times went back or stood still: {"from_frame", "cause"}; where they failed throughout (all one
    # time, or ticks apart), {"from_frame": 0, "cause", "fps", "fps_from"}: every frame timed by its order at fps
    times_repaired: dict | None = None
    # where the file's data ends far before the frames its container lists (cut short): {"frames", "listed", "end_s", "listed_s"}
    frames_short: dict | None = None
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
    saved_to: Path | None = None  # the results folder it was saved in (another than planned where a run beside it took that)


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

    def __repr__(self) -> str:
        """One line, not the tables: '<Analysis clip.mp4: 275 frames, 7 faces, 12 episodes -> results/clip>'."""
        from videmo.core.errors import plural

        summary = self.summary if isinstance(self.summary, dict) else {}
        video, counts = summary.get("video") or {}, summary.get("counts") or {}
        name = Path(str(video.get("path", "?"))).name
        frames = counts.get("frames_analysed", "?")
        faces = counts.get("tracks", len(summary.get("tracks") or []))
        episodes = len(self.episodes) if hasattr(self.episodes, "__len__") else counts.get("episodes", "?")
        where = f"-> {self.folder}" if self.folder is not None else "(not saved)"
        return f"<Analysis {name}: {plural(frames, 'frame')}, {plural(faces, 'face')}, {plural(episodes, 'episode')} {where}>"

    def __getattr__(self, name: str):
        if name.startswith("_") or name in ANALYSIS_FIELDS or not hasattr(self.frames, name):  # copying and unpickling
            raise AttributeError(f"'Analysis' object has no attribute '{name}'")  # ask before the fields exist
        return getattr(self.frames_as_before(), name)

    def __getitem__(self, key):
        return self.frames_as_before()[key]

    def __len__(self) -> int:
        return len(self.frames_as_before())

    def frames_as_before(self) -> pd.DataFrame:
        """The frames table, for code written when ``analyze`` returned it, with a warning that says how to change it."""
        import warnings

        warnings.warn(
            "videmo.analyze returns an Analysis now (frames, episodes, timeline, summary, folder): "
            "use result.frames where the result was used as the frames table",
            FutureWarning,
            stacklevel=3,
        )
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
