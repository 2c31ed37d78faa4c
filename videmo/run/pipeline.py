"""Wire the stages: decode -> detect -> classify -> track (-> annotate) -> aggregate -> episodes -> write."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from videmo.core.errors import VidemoError, printable
from videmo.core.options import AnalyzeOptions
from videmo.core.version import __version__
from videmo.faces.classify import EmotionClassifier, FaceLabels
from videmo.faces.detect import Detection, FaceDetector
from videmo.faces.pose import head_pose
from videmo.faces.track import FaceTracker
from videmo.model.checkpoint import load_checkpoint, weights_path
from videmo.model.device import resolve_device
from videmo.results.annotated import AnnotatedVideoWriter, FaceMark, NoEncoder
from videmo.results.episodes import MIN_TRACK_S, add_episodes, readable_of
from videmo.results.figures import FaceSheet
from videmo.results.tables import SEEN_COLUMNS, frames_table, timeline, track_summaries, tracked
from videmo.results.types import Summary, VideoResult
from videmo.run.lanes import default_lanes, ordered_map, prefetch, return_free_memory
from videmo.video.decode import FrameBatch, StreamEnd, VideoInfo, open_video, stream_frames
from videmo.video.listing import cut_short
from videmo.video.sampling import select_frames

T = TypeVar("T")
R = TypeVar("R")
TRIM_EVERY = 8  # chunks between returns of free heap memory to the system


@dataclass
class LabelledChunk:
    batch: FrameBatch
    detections: list[list[Detection]]  # per frame
    boxes: np.ndarray  # (K, 4) every face of the chunk, frame by frame
    points: np.ndarray  # (K, 5, 2) their five points (NaN where a face has none)
    labels: FaceLabels


class Analyzer:
    """Loads the detector and the classifier once, then analyses any number of videos."""

    def __init__(self, options: AnalyzeOptions):
        self.options = options
        self.threads = options.threads or torch.get_num_threads()
        self.device = resolve_device(options.device)
        self.checkpoint = load_checkpoint(weights_path(options.weights))
        self.lanes = options.lanes or default_lanes(self.device, self.threads)
        self.detector = FaceDetector(
            self.device, options.detect_width, options.min_face, options.det_threshold, options.detect_every
        )
        self.classifier = EmotionClassifier(
            self.checkpoint,
            self.device,
            options.precision,
            options.batch_size,
            options.margin,
            options.mirror,
            options.runtime,
            max(1, self.threads // self.lanes),
            options.align,
        )

    def label_chunk(self, batch: FrameBatch) -> LabelledChunk:
        """Detect the faces of a chunk of frames and label their emotions."""
        detections = self.detector.detect(batch.frames, batch.cuts, batch.times) if len(batch.frames) else []
        frame_of_face, boxes, points = faces_of(detections)
        labels = self.classifier.classify(batch.frames, frame_of_face, boxes, points)
        return LabelledChunk(batch, detections, boxes, points, labels)

    def in_lanes(self, work: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """``work`` over ``items`` in ``self.lanes`` threads, results in order; ``self.threads`` torch
        threads are shared out among the lanes while it runs, and the process's count is restored after."""
        threads = torch.get_num_threads()
        torch.set_num_threads(max(1, self.threads // self.lanes))
        try:
            for done, result in enumerate(ordered_map(work, items, self.lanes), 1):
                yield result
                if done % TRIM_EVERY == 0:
                    return_free_memory()
        finally:
            torch.set_num_threads(threads)

    def analyze_video(self, path: Path, progress: bool = False, annotate_to: Path | None = None) -> VideoResult:
        """Analyse one video; with ``annotate_to``, also stream the annotated video there."""
        started = time.perf_counter()
        identity = file_identity(path)
        info = open_video(path)
        indices = select_frames(info, self.options.fps, self.options.every, self.options.start_s, self.options.end_s)
        tracker = FaceTracker(max_gap_s=track_memory_s(info, indices))
        sheet, notes = FaceSheet(), [f"{path.name}: {info.streams_note}"] if info.streams_note else []
        annotated = None
        if annotate_to is not None:
            try:
                annotated = AnnotatedVideoWriter(annotate_to, info.width, info.height, analysed_fps(info, indices))
            except NoEncoder as e:
                notes.append(f"{path.name}: {e}")
        end = StreamEnd()
        try:
            table = self.label_frames(path, info, indices, tracker, sheet, annotated, progress, end)
        finally:
            if annotated is not None:
                annotated.close()
        now = file_identity(path)
        if now is not None and now != identity:  # results of a file that is no longer the one read must not look complete
            raise VidemoError(
                f"{printable(str(path))}: the file changed while it was read (its size or modification time): "
                "analyse it again once it is complete"
            )
        wall = time.perf_counter() - started
        if end.times_repaired is not None and len(table):  # the video lasts as long as its repaired times
            info.duration_s = max(info.duration_s, float(table["time_s"].max()) + (1 / info.fps if info.fps else 0.0))
        table, episodes = add_episodes(
            table, self.options.smooth_s, self.options.min_episode_s, readable=readable_of(self.options)
        )
        summary = self.summarize(info, table, int(table.loc[table["decoded"], "frame"].nunique()), wall, end)
        summary.counts["episodes"] = int(len(episodes))
        return VideoResult(
            info,
            table,
            timeline(table, self.options.bin_s, info.duration_s),
            summary,
            sheet,
            episodes,
            annotate_to if annotated is not None else None,
            notes,
        )

    def label_frames(
        self,
        path: Path,
        info: VideoInfo,
        indices: np.ndarray,
        tracker: FaceTracker,
        sheet: FaceSheet,
        annotated: AnnotatedVideoWriter | None,
        progress: bool,
        end: StreamEnd,
    ) -> pd.DataFrame:
        """The rows of frames.csv: decode, detect, classify and track, chunk by chunk; a frame that does
        not decode gets one row, ``decoded`` False (``end`` says where the stream ended, if before the
        index's last frame)."""
        frames, times, face_ids, boxes, scores, probabilities, decoded, seen = [], [], [], [], [], [], [], []
        bar = tqdm(total=len(indices), desc=printable(path.name), unit="frame", disable=None if progress else True, leave=False)
        chunks = stream_frames(info, indices, self.options.chunk, end)
        if self.lanes == 1:  # several lanes decode their chunks themselves, in turn (ordered_map); one lane gets a thread for it
            chunks = prefetch(chunks)
        # Closed on the way out, an interrupt or error included, so that the lanes (and the decoding thread) stop
        # now: threads still inside torch or a decoder when the interpreter exits abort it ("terminate called
        # without an active exception" after Ctrl-C, in about one run in three with --annotate).
        with contextlib.closing(chunks), contextlib.closing(self.in_lanes(self.label_chunk, chunks)) as labelled:
            for chunk in labelled:
                batch, face_boxes, face_probs = chunk.batch, chunk.boxes, chunk.labels.probabilities
                face_seen = seen_columns(chunk.points, face_boxes, chunk.labels)
                lost = list(batch.lost)

                def faceless_row(frame: int, time_s: float, was_decoded: bool) -> None:
                    frames.append(int(frame)), times.append(float(time_s)), face_ids.append(None), decoded.append(was_decoded)
                    boxes.append((np.nan,) * 4), scores.append(np.nan), probabilities.append(np.full(7, np.nan))
                    seen.append(np.full(len(SEEN_COLUMNS), np.nan))

                def mark_lost(before: float) -> None:
                    """Rows for the chunk's damaged frames numbered below ``before``, in frame order among the others;
                    the annotated video holds its last frame in their place."""
                    while lost and lost[0][0] < before:
                        faceless_row(*lost.pop(0), was_decoded=False)
                        if annotated is not None:
                            annotated.hold()

                face = 0
                for frame, time_s, found, image, cut in zip(
                    batch.indices, batch.times, chunk.detections, batch.frames, batch.cuts
                ):
                    mark_lost(frame)
                    ids = tracker.observe(float(time_s), face_boxes[face : face + len(found)], bool(cut))
                    marks = []
                    for face_id, detection in zip(ids, found):
                        frames.append(int(frame)), times.append(float(time_s)), face_ids.append(face_id), decoded.append(True)
                        boxes.append(detection.box), scores.append(detection.score), probabilities.append(face_probs[face])
                        seen.append(face_seen[face])
                        sheet.offer(image, face_id, detection.box, detection.score)
                        marks.append(FaceMark(face_id, detection.box, face_probs[face]))
                        face += 1
                    if not found:
                        faceless_row(frame, time_s, was_decoded=True)
                    if annotated is not None:
                        annotated.add(image, marks)
                mark_lost(np.inf)
                bar.update(len(batch.indices) + len(batch.lost))
        bar.close()
        return frames_table(
            frames, times, face_ids, np.array(boxes), np.array(scores), np.array(probabilities), decoded, np.array(seen)
        )

    def summarize(self, info: VideoInfo, table: pd.DataFrame, analysed: int, wall_s: float, end: StreamEnd) -> Summary:
        faces = table[table["face_id"].notna()]
        return Summary(
            video={
                "path": printable(str(info.path)),
                "duration_s": round(info.duration_s, 3),
                "fps": round(info.fps, 3),
                "frame_count": info.frame_count,
                "width": info.width,
                "height": info.height,
                "codec": info.codec,
                "rotation": info.rotation,
                "pixel_aspect": info.pixel_aspect,
            },
            settings={
                **asdict(self.options),
                "min_track_s": MIN_TRACK_S,
                "device": str(self.device),
                "precision": self.classifier.precision,
                "runtime": self.classifier.runtime,
            },
            model={
                "name": self.checkpoint.name,
                "arch": self.checkpoint.meta["arch"],
                "vgg": self.checkpoint.meta.get("vgg"),
                "image_size": self.checkpoint.meta["image_size"],
                "channels": self.checkpoint.meta["channels"],
                "sha256": self.checkpoint.sha256,
            },
            counts={
                "frames_analysed": analysed,
                "frames_undecodable": int((~table["decoded"]).sum()),
                "frames_with_faces": int(faces["frame"].nunique()),
                "faces": int(len(faces)),
                "tracks": int(tracked(faces)["face_id"].nunique()),
                "short_tracks": int(faces.loc[faces["short_track"], "face_id"].nunique()) if "short_track" in faces else 0,
                "unreadable_face_frames": int(faces["unreadable"].sum()) if "unreadable" in faces else 0,
            },
            frames_missing=end.missing(info),
            frames_unreadable=end.unreadable(),
            frames_undecodable=table.loc[~table["decoded"], "frame"].tolist(),
            tracks=track_summaries(table),
            wall_time_s=round(wall_s, 3),
            frames_per_second=round(analysed / wall_s, 2) if wall_s > 0 else None,
            videmo_version=__version__,
            size_changes=end.size_changes or None,
            times_repaired=end.times_repaired,
            frames_short=cut_short(info, end.frames, end.unreadable_from is not None),
        )


def file_identity(path: Path) -> tuple[int, int, int] | None:
    """What tells one state of a file from another: its inode, size and modification time (None if gone)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def seen_columns(points: np.ndarray, boxes: np.ndarray, labels: FaceLabels) -> np.ndarray:
    """(K, len(SEEN_COLUMNS)) how each face of a chunk was seen, in SEEN_COLUMNS' order."""
    size = np.sqrt(np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None))
    return np.column_stack(
        [labels.confidence, size, head_pose(points), labels.sharpness, labels.brightness, points.reshape(-1, 10)]
    )


def faces_of(detections: list[list[Detection]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every face of a chunk, frame by frame: the index of its frame in the chunk, its (K, 4) box and its
    (K, 5, 2) five points (NaN where it has none)."""
    frame_of_face = np.array([i for i, found in enumerate(detections) for _ in found], dtype=np.int64)
    boxes = np.array([d.box for found in detections for d in found], dtype=np.float64).reshape(-1, 4)
    points = np.array(
        [d.landmarks if d.landmarks else [(np.nan, np.nan)] * 5 for found in detections for d in found], dtype=np.float64
    ).reshape(-1, 5, 2)
    return frame_of_face, boxes, points


def analysed_fps(info: VideoInfo, indices: np.ndarray) -> float:
    """Analysed frames per second of video: the annotated video's rate."""
    if len(indices) < 2 or not info.fps:
        return info.fps or 25.0
    return info.fps * (len(indices) - 1) / (indices[-1] - indices[0])


def track_memory_s(info: VideoInfo, indices: np.ndarray) -> float:
    """How long a track waits for its face: 1 s, or two analysed frames' spacing where frames are
    sparser (at --fps 1 or less, a fixed 1 s would give a still face a new id in every frame)."""
    if len(indices) < 2 or not info.fps:
        return 1.0
    return max(1.0, 2 / analysed_fps(info, indices))
