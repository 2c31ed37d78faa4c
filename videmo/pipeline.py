"""Wire the stages: decode -> detect -> classify -> track (-> annotate) -> aggregate -> episodes -> write."""

from __future__ import annotations

import ctypes
import itertools
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from . import __version__
from .aggregate import frames_table, timeline, track_summaries
from .annotate import AnnotatedVideoWriter, FaceMark, FaceSheet, NoEncoder
from .batch import update_index
from .checkpoint import load_checkpoint, weights_path
from .classify import EmotionClassifier
from .decode import FrameBatch, StreamEnd, VideoInfo, open_video, prefetch, select_frames, stream_frames
from .detect import Detection, FaceDetector
from .device import resolve_device
from .episodes import MIN_EPISODE_S, SMOOTH_S, add_episodes
from .errors import VidemoError, printable
from .folders import (changed_settings, find_videos, holds_foreign_files, is_complete, model_identity, remove_dead_leftovers,
                      result_folder_names, save_results, writer_tag)
from .track import FaceTracker


T = TypeVar("T")
R = TypeVar("R")
TRIM_EVERY = 8  # chunks between returns of free heap memory to the system


@dataclass
class AnalyzeOptions:
    weights: str | None = None  # None: the shipped default model
    fps: float | None = None  # analyse about this many frames per second of video
    every: int | None = None  # or every Nth frame
    detect_width: int = 640  # frames wider than this are shrunk for detection
    min_face: int = 40  # pixels of the original frame
    det_threshold: float = 0.9
    margin: float | None = None  # crop side = longer box side x (1 + margin); None: the checkpoint's own crop
    mirror: bool = True  # label each face by the mean of its and its mirror image's logits (see classify.logits_of)
    batch_size: int = 64  # faces per classifier step
    chunk: int = 16  # frames decoded and detected together
    bin_s: float = 1.0
    smooth_s: float = SMOOTH_S  # centred window that smooths each face's probabilities before episodes are cut
    min_episode_s: float = MIN_EPISODE_S  # shorter episodes merge into their neighbours
    device: str = "auto"
    precision: str = "auto"
    annotate: bool = False  # also write annotated.mp4
    threads: int | None = None  # torch threads while analysing (None: the process's count when the Analyzer is made)
    lanes: int | None = None  # chunks detected and classified at once, each in its own thread (None: see default_lanes)

    def __post_init__(self) -> None:
        """Refuse what ``videmo analyze`` refuses: the library takes options without click, where a chunk
        of 0 looped for ever and fps with every failed on each video after the models had loaded."""
        if self.fps is not None and self.every is not None:
            raise VidemoError("fps and every cannot be used together")
        for name, (low, open_low, high) in OPTION_RANGES.items():
            value = getattr(self, name)
            if value is None and name in OPTIONAL:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise VidemoError(f"{name} {value!r}: not a finite number")
            if value < low or (open_low and value == low) or (high is not None and value > high):
                bounds = f"{'above' if open_low else 'at least'} {low}" + (f" and at most {high}" if high is not None else "")
                raise VidemoError(f"{name} {value!r}: must be {bounds}")


# Each number option's range, as the CLI checks it: (lowest, whether the lowest is excluded, highest or None).
OPTION_RANGES = {"fps": (0, True, None), "every": (1, False, None), "detect_width": (64, False, None), "min_face": (1, False, None),
                 "det_threshold": (0, False, 1), "margin": (-0.5, False, None), "batch_size": (1, False, None),
                 "chunk": (1, False, None), "bin_s": (0, True, None), "smooth_s": (0, False, None),
                 "min_episode_s": (0, False, None), "threads": (1, False, None), "lanes": (1, False, None)}
OPTIONAL = ("fps", "every", "margin", "threads", "lanes")  # None: not set


@dataclass
class LabelledChunk:
    batch: FrameBatch
    detections: list[list[Detection]]  # per frame
    boxes: np.ndarray  # (K, 4) every face of the chunk, frame by frame
    probabilities: np.ndarray  # (K, 7)


@dataclass
class VideoResult:
    info: VideoInfo
    frames: pd.DataFrame
    timeline: pd.DataFrame
    summary: dict
    faces: FaceSheet
    episodes: pd.DataFrame  # episodes.csv: one row per stretch of one emotion on one face
    annotated: Path | None = None  # the streamed annotated video, moved into the results folder on saving
    notes: list[str] = field(default_factory=list)  # what the user should know, such as a skipped video


class Analyzer:
    """Loads the detector and the classifier once, then analyses any number of videos."""

    def __init__(self, options: AnalyzeOptions):
        self.options = options
        self.threads = options.threads or torch.get_num_threads()
        self.device = resolve_device(options.device)
        self.checkpoint = load_checkpoint(weights_path(options.weights))
        self.detector = FaceDetector(self.device, options.detect_width, options.min_face, options.det_threshold)
        self.classifier = EmotionClassifier(self.checkpoint, self.device, options.precision, options.batch_size, options.margin,
                                            options.mirror)
        self.lanes = options.lanes or default_lanes(self.device, self.threads)

    def label_chunk(self, batch: FrameBatch) -> LabelledChunk:
        """Detect the faces of a chunk of frames and label their emotions."""
        detections = self.detector.detect(batch.frames) if len(batch.frames) else []
        frame_of_face, boxes = faces_of(detections)
        return LabelledChunk(batch, detections, boxes, self.classifier.classify(batch.frames, frame_of_face, boxes))

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
        info = open_video(path)
        indices = select_frames(info, self.options.fps, self.options.every)
        tracker = FaceTracker(max_gap_s=track_memory_s(info, indices))
        sheet, notes = FaceSheet(), []
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
        wall = time.perf_counter() - started
        table, episodes = add_episodes(table, self.options.smooth_s, self.options.min_episode_s)
        summary = self.summarize(info, table, int(table.loc[table["decoded"], "frame"].nunique()), wall, end)
        summary["counts"]["episodes"] = int(len(episodes))
        return VideoResult(info, table, timeline(table, self.options.bin_s, info.duration_s), summary, sheet, episodes,
                           annotate_to if annotated is not None else None, notes)

    def label_frames(self, path: Path, info: VideoInfo, indices: np.ndarray, tracker: FaceTracker,
                     sheet: FaceSheet, annotated: AnnotatedVideoWriter | None, progress: bool, end: StreamEnd) -> pd.DataFrame:
        """The rows of frames.csv: decode, detect, classify and track, chunk by chunk; a frame that does
        not decode gets one row, ``decoded`` False (``end`` says where the stream ended, if before the
        index's last frame)."""
        frames, times, face_ids, boxes, scores, probabilities, decoded = [], [], [], [], [], [], []
        bar = tqdm(total=len(indices), desc=printable(path.name), unit="frame", disable=None if progress else True, leave=False)
        chunks = stream_frames(info, indices, self.options.chunk, end)
        if self.lanes == 1:  # several lanes decode their chunks themselves, in turn (ordered_map); one lane gets a thread for it
            chunks = prefetch(chunks)
        for chunk in self.in_lanes(self.label_chunk, chunks):
            batch, face_boxes, face_probs = chunk.batch, chunk.boxes, chunk.probabilities
            lost = list(batch.lost)

            def faceless_row(frame: int, time_s: float, was_decoded: bool) -> None:
                frames.append(int(frame)), times.append(float(time_s)), face_ids.append(None), decoded.append(was_decoded)
                boxes.append((np.nan,) * 4), scores.append(np.nan), probabilities.append(np.full(7, np.nan))

            def mark_lost(before: float) -> None:
                """Rows for the chunk's damaged frames numbered below ``before``, in frame order among the others;
                the annotated video holds its last frame in their place."""
                while lost and lost[0][0] < before:
                    faceless_row(*lost.pop(0), was_decoded=False)
                    if annotated is not None:
                        annotated.hold()

            face = 0
            for frame, time_s, found, image in zip(batch.indices, batch.times, chunk.detections, batch.frames):
                mark_lost(frame)
                ids = tracker.update(float(time_s), face_boxes[face:face + len(found)], image)
                marks = []
                for face_id, detection in zip(ids, found):
                    frames.append(int(frame)), times.append(float(time_s)), face_ids.append(face_id), decoded.append(True)
                    boxes.append(detection.box), scores.append(detection.score), probabilities.append(face_probs[face])
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
        return frames_table(frames, times, face_ids, np.array(boxes), np.array(scores), np.array(probabilities), decoded)

    def summarize(self, info: VideoInfo, table: pd.DataFrame, analysed: int, wall_s: float, end: StreamEnd) -> dict:
        faces = table[table["face_id"].notna()]
        return {
            "video": {"path": printable(str(info.path)), "duration_s": round(info.duration_s, 3), "fps": round(info.fps, 3),
                      "frame_count": info.frame_count, "width": info.width, "height": info.height,
                      "codec": info.codec, "rotation": info.rotation},
            "settings": {**asdict(self.options), "device": str(self.device), "precision": self.classifier.precision},
            "model": {"name": self.checkpoint.name, "arch": self.checkpoint.meta["arch"], "vgg": self.checkpoint.meta.get("vgg"),
                      "image_size": self.checkpoint.meta["image_size"], "channels": self.checkpoint.meta["channels"],
                      "sha256": self.checkpoint.sha256},
            "counts": {"frames_analysed": analysed, "frames_undecodable": int((~table["decoded"]).sum()),
                       "frames_with_faces": int(faces["frame"].nunique()),
                       "faces": int(len(faces)), "tracks": int(faces["face_id"].nunique())},
            "frames_missing": end.missing(info),  # the index's frames past the stream's end: {"count", "from_frame"}, or null
            "frames_unreadable": end.unreadable(),  # where the container could not be read on: {"from_frame", "cause"}, or null
            "frames_undecodable": table.loc[~table["decoded"], "frame"].tolist(),  # picked frames whose data is damaged
            "tracks": track_summaries(table),
            "wall_time_s": round(wall_s, 3),
            "frames_per_second": round(analysed / wall_s, 2) if wall_s > 0 else None,
            "videmo_version": __version__,
        }


def faces_of(detections: list[list[Detection]]) -> tuple[np.ndarray, np.ndarray]:
    """Every face of a chunk, frame by frame: the index of its frame in the chunk, and its (K, 4) box."""
    frame_of_face = np.array([i for i, found in enumerate(detections) for _ in found], dtype=np.int64)
    boxes = np.array([d.box for found in detections for d in found], dtype=np.float64).reshape(-1, 4)
    return frame_of_face, boxes


def default_lanes(device: torch.device, threads: int) -> int:
    """On the CPU, one lane per torch thread, up to 4: MTCNN's many small steps and the classifier's
    small batches use one core each better than two cores together (2 cores: 1.2-1.5x the frames a
    second of one lane with two threads). On a GPU one lane: the GPU serialises the work anyway."""
    return 1 if device.type == "cuda" else max(1, min(4, threads))


def return_free_memory() -> None:
    """Hand the heap's free pages back to the system (glibc's malloc_trim), so that freed frames and
    tensors scattered through it stop counting as resident: the 10-minute benchmark video peaked at
    1.57-1.61 GB with, 1.71 GB without, trimming every 8 chunks, for 2-3% of the speed; elsewhere than
    glibc this does nothing."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def ordered_map(work: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """``work(item)`` for each of ``items``, ``workers`` at a time in threads, yielded in the items'
    order. Each worker takes its next item from ``items`` itself, one worker at a time, so that
    making an item (decoding a chunk) runs beside the other workers' work rather than in one more
    busy thread: on a machine with a core per worker, a third busy thread makes every thread pay
    for the switching. At most ``workers + 1`` items are taken and not yet consumed. An error, in
    ``work`` or in ``items``, raises in the consumer in its item's place, after the running items
    finish; no later item starts. A consumer that stops early stops the workers. With one worker,
    it all runs in the calling thread."""
    if workers <= 1:
        yield from map(work, items)
        return
    source = iter(items)
    taking = threading.Lock()  # one worker at a time draws from ``source``
    room = threading.Semaphore(workers + 1)
    settled = threading.Condition()
    outcomes: dict[int, tuple[bool, object]] = {}  # position -> (succeeded, result or error)
    stop = threading.Event()
    drawn, end = 0, None  # items drawn so far; the position where ``source`` ran out

    def settle(position: int, succeeded: bool, value: object) -> None:
        if not succeeded:
            stop.set()
        with settled:
            outcomes[position] = (succeeded, value)
            settled.notify_all()

    def lane() -> None:
        nonlocal drawn, end
        while True:
            room.acquire()
            with taking:
                if stop.is_set() or end is not None:
                    return
                position, drawn = drawn, drawn + 1
                try:
                    item = next(source)
                except StopIteration:
                    with settled:
                        end = position
                        settled.notify_all()
                    return
                except BaseException as e:  # handed to the consumer, which raises it
                    settle(position, False, e)
                    return
            try:
                settle(position, True, work(item))
            except BaseException as e:
                settle(position, False, e)
                return

    threads = [threading.Thread(target=lane, name=f"videmo-lane-{n}", daemon=True) for n in range(workers)]
    for thread in threads:
        thread.start()
    try:
        for position in itertools.count():
            with settled:
                settled.wait_for(lambda: position in outcomes or (end is not None and position >= end))
                if position not in outcomes:
                    return
                succeeded, value = outcomes.pop(position)
            if not succeeded:
                raise value
            room.release()
            yield value
    finally:
        stop.set()
        for _ in threads:
            room.release()
        for thread in threads:
            thread.join()


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


def analyze_into(analyzer: Analyzer, video: Path, folder: Path, overwrite: bool, progress: bool) -> VideoResult:
    """Analyse ``video`` and save its results folder; the annotated video streams to a hidden file beside it."""
    remove_dead_leftovers(folder)
    annotate_to = folder.with_name(f".{folder.name}.annotated-{writer_tag()}.mp4") if analyzer.options.annotate else None
    try:
        if annotate_to is not None:
            try:
                folder.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise VidemoError(f"{folder}: cannot write results ({e.strerror or e})") from None
        result = analyzer.analyze_video(video, progress=progress, annotate_to=annotate_to)
        save_results(result, folder, overwrite)
    finally:
        if annotate_to is not None:
            annotate_to.unlink(missing_ok=True)
    return result


def analyze(path: str | os.PathLike, output: str | os.PathLike | None = None, **options) -> pd.DataFrame:
    """Analyse one video; returns the rows of ``frames.csv``. With ``output``, also writes (or redoes)
    its results folder there, named as ``analyze_many`` names it (``<video stem>``, or with a hash of
    its path where that holds another video's results), and updates the batch table.
    ``options`` are AnalyzeOptions' fields."""
    analyzer = Analyzer(AnalyzeOptions(**options))
    video = Path(path)
    if output is None:
        return analyzer.analyze_video(video).frames
    output = Path(output)
    folder = output / result_folder_names([video], output)[video]  # as analyze_many names it: never another video's
    if holds_foreign_files(folder):
        raise VidemoError(f"{video}: {folder}: holds files that videmo did not write; move them or choose another output")
    frames = analyze_into(analyzer, video, folder, overwrite=True, progress=False).frames
    update_index(output, [video], {})
    return frames


def analyze_many(paths: list[str], output: str | os.PathLike, options: AnalyzeOptions, overwrite: bool = False,
                 quiet: bool = False, report=print) -> int:
    """Analyse every video found under ``paths``; one line per video. Returns the number that failed
    (bad paths included). A bad video is reported and the others still run."""
    report = one_line(report)
    todo, folders, failures = plan_videos(paths, output, overwrite, report, options)
    try:
        if todo:
            if not quiet:  # loading takes seconds: say what the silence is
                print("videmo: loading the face detector and the emotion model", file=sys.stderr, flush=True)
            analyzer = Analyzer(options)
            for video in tqdm(todo, desc="videos", unit="video", disable=True if quiet or len(todo) < 2 else None):
                result, error = analyze_reported(analyzer, video, folders[video], overwrite, progress=not quiet)
                if error is not None:
                    report(error)
                    failures[printable(str(video))] = printable(error)
                    continue
                for line in closing_lines(video, result, folders[video]):
                    report(line)
    finally:  # also after Ctrl-C: the index then holds what finished
        update_index(output, todo, failures)
    return len(failures)


def plan_videos(paths: list[str], output: str | os.PathLike, overwrite: bool, report: Callable[[str], None],
                options: AnalyzeOptions) -> tuple[list[Path], dict[Path, Path], dict[str, str]]:
    """The videos under ``paths`` still to analyse, each one's results folder under ``output``, and the
    bad paths with their error lines; bad paths and videos already done are reported."""
    videos, failures = find_videos(paths)
    for line in failures.values():
        report(f"videmo: error: {line}")
    failures = {printable(given): printable(line) for given, line in failures.items()}
    if not videos:
        if not failures:
            report("videmo: error: no videos given")
            failures[""] = "no videos given"
        return [], {}, failures
    output = Path(output)
    if output.exists() and not output.is_dir():  # fail before hours of analysis that could not be saved
        raise VidemoError(f"{output}: cannot write results there: it is a file, not a folder")
    names = result_folder_names(videos, output)
    folders = {v: output / names[v] for v in videos}
    todo = [v for v in videos if overwrite or not is_complete(folders[v])]
    model = model_identity(options.weights) if len(todo) < len(videos) else None
    for video in videos:
        if video not in todo:
            changed = changed_settings(folders[video], options, model)
            report(f"{video.name}: already done in {folders[video]}{changed} (use --overwrite to redo)")
    for video in list(todo):  # say it now, not after the analysis that could not be saved
        folder = folders[video]
        if holds_foreign_files(folder):
            line = f"{folder}: holds files that videmo did not write; move them or choose another -o"
            report(f"videmo: error: {video}: {line}")
            failures[printable(str(video))] = printable(f"{video}: {line}")
            todo.remove(video)
    return todo, {v: folders[v] for v in todo}, failures


def analyze_reported(analyzer: Analyzer, video: Path, folder: Path, overwrite: bool,
                     progress: bool) -> tuple[VideoResult | None, str | None]:
    """analyze_into, with a failure of this one video turned into its error line instead of raised."""
    try:
        return analyze_into(analyzer, video, folder, overwrite, progress), None
    except VidemoError as e:
        return None, f"videmo: error: {e}"
    except OSError as e:  # the file moved or its disk failed mid-run, say: the other videos still run
        return None, f"videmo: error: {video}: cannot read or write ({e.strerror or e})"
    except (RuntimeError, ValueError, MemoryError) as e:  # an unforeseen failure on one video spares the rest
        return None, f"videmo: error: {video}: analysis failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"


def one_line(report: Callable[[str], None]) -> Callable[[str], None]:
    """``report`` that escapes what would break a line or its encoding (see ``printable``)."""
    return lambda line: report(printable(line))


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def frame_runs(frames: list[int], most: int = 3) -> str:
    """'frame 12', 'frames 12, 40-49' or 'frames 12, 40-49, 60, ...': the first ``most`` runs of ascending frame numbers."""
    runs: list[list[int]] = []
    for frame in frames:
        if runs and frame == runs[-1][1] + 1:
            runs[-1][1] = frame
        else:
            runs.append([frame, frame])
    shown = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs[:most]) + (", ..." if len(runs) > most else "")
    return f"frame{'s' if len(frames) > 1 else ''} {shown}"


def closing_lines(video: Path, result: VideoResult, folder: Path) -> list[str]:
    """The notes and the closing line reported for a video analysed into ``folder``."""
    counts, missing = result.summary["counts"], result.summary.get("frames_missing")
    shortfall = f" ({missing['count']} listed frames from frame {missing['from_frame']} not in the stream)" if missing else ""
    unreadable = result.summary.get("frames_unreadable")
    cut = unreadable["from_frame"] if unreadable else math.inf
    lost = [frame for frame in result.summary["frames_undecodable"] if frame < cut]
    if lost:
        shortfall += f" ({plural(len(lost), 'frame')} did not decode: damaged data at {frame_runs(lost)})"
    if unreadable:
        after = len(result.summary["frames_undecodable"]) - len(lost)
        shortfall += (f" (the file could not be read from frame {cut} on: {unreadable['cause']}; "
                      f"{plural(after, 'frame')} from there {'has an empty row' if after == 1 else 'have empty rows'})")
    return [f"videmo: note: {note}" for note in result.notes] + [
        f"{video.name if folder.name == video.stem else video}: {counts['frames_analysed']} frames analysed{shortfall}, {plural(counts['faces'], 'face')} in "
        f"{plural(counts['tracks'], 'track')}, {plural(counts.get('episodes', 0), 'episode')}, "
        f"{result.summary['frames_per_second']} frames/s -> {folder}"]
