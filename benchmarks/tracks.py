"""Whether face ids survive sampling: tracks at every frame against tracks at --fps 5 and 10.

    python benchmarks/tracks.py                        # the example clip and ../shared/data's videos
    python benchmarks/tracks.py --cache /tmp/tracks VIDEO...

Detection runs once per video, at every frame, with analyze's default settings (saved under
``--cache`` when given, so that a rerun only replays); the tracker then replays the saved
detections and the cuts the decoder found (between every two decoded frames) at each sampling
rate, on the frames ``videmo analyze --fps N`` would analyse, with their decoder times: the tracker is the only stage that sees the sampling, and
detection is frame by frame, so this is what ``analyze --fps N`` gives without detecting again.

Per video and rate: tracks (those not flagged short_track), short tracks, and ``ids/track``: for
each every-frame track, the number of distinct ids that its faces get at that rate (a face matched
by box overlap of 0.5 or more in the same frame), as a mean and a maximum; 1.0 / 1 is a face that
keeps one id whatever the sampling. Writes benchmarks/results/tracks.txt.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED_VIDEOS = ROOT.parent / "shared" / "data" / "videos"
RESULTS = ROOT / "benchmarks" / "results" / "tracks.txt"
RATES = [None, 10.0, 5.0]  # None: every frame


def detected(video: Path, cache: Path | None) -> dict[str, np.ndarray]:
    """Every frame's faces (boxes in original pixels, scores), decoder time and cut, as analyze finds them."""
    saved = cache / f"{video.name}.npz" if cache is not None else None
    if saved is not None and saved.exists() and "cuts" in np.load(saved):  # a cache from before the decoder's cuts is redone
        return dict(np.load(saved))
    import torch

    from videmo.core.options import AnalyzeOptions
    from videmo.faces.detect import FaceDetector
    from videmo.video.decode import open_video, stream_frames
    from videmo.video.sampling import select_frames

    options = AnalyzeOptions()
    info = open_video(video)
    detector = FaceDetector(torch.device("cpu"), options.detect_width, options.min_face, options.det_threshold)
    frames, times, face_frame, boxes, scores, cuts = [], [], [], [], [], []
    for batch in stream_frames(info, select_frames(info), options.chunk):
        found = detector.detect(batch.frames) if len(batch.frames) else []
        for frame, time_s, faces, cut in zip(batch.indices, batch.times, found, batch.cuts):
            frames.append(frame), times.append(time_s), cuts.append(cut)
            for face in faces:
                face_frame.append(frame), boxes.append(face.box), scores.append(face.score)
    result = {
        "frames": np.array(frames, dtype=np.int64),
        "times": np.array(times, dtype=np.float64),
        "face_frame": np.array(face_frame, dtype=np.int64),
        "boxes": np.array(boxes, dtype=np.float64).reshape(-1, 4),
        "scores": np.array(scores, dtype=np.float64),
        "cuts": np.array(cuts, dtype=bool),
        "fps": np.array(info.fps),
        "frame_count": np.array(info.frame_count),
    }
    if saved is not None:
        saved.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(saved, **result)
    return result


def replayed(video: Path, found: dict[str, np.ndarray], fps: float | None) -> pd.DataFrame:
    """The frames table (frame, time_s, face_id, box, short_track) that tracking the saved detections gives
    on the frames ``analyze --fps fps`` analyses, with the tracker and its memory that analyze uses."""
    from videmo.core.emotions import CLASSES
    from videmo.faces.track import FaceTracker
    from videmo.results.episodes import add_episodes
    from videmo.run.pipeline import track_memory_s
    from videmo.video.decode import open_video
    from videmo.video.sampling import select_frames

    info = open_video(video)
    indices = np.intersect1d(select_frames(info, fps), found["frames"])  # the frames that decoded
    tracker = FaceTracker(max_gap_s=track_memory_s(info, indices))
    position = {int(frame): i for i, frame in enumerate(found["frames"])}
    rows, after = [], -1  # the position of the last analysed frame
    for frame in indices:
        i = position[int(frame)]
        mine = found["face_frame"] == frame
        cut, after = (
            bool(found["cuts"][after + 1 : i + 1].any()) and after >= 0,
            i,
        )  # a cut anywhere since the last analysed frame
        ids = tracker.observe(float(found["times"][i]), found["boxes"][mine], cut)
        rows += [
            {
                "frame": int(frame),
                "time_s": found["times"][i],
                "face_id": face_id,
                "x1": box[0],
                "y1": box[1],
                "x2": box[2],
                "y2": box[3],
            }
            for face_id, box in zip(ids, found["boxes"][mine])
        ]
        if not ids:
            rows.append({"frame": int(frame), "time_s": found["times"][i], "face_id": None})
    table = pd.DataFrame(rows, columns=["frame", "time_s", "face_id", "x1", "y1", "x2", "y2"]).astype({"face_id": "Int64"})
    for emotion in CLASSES:  # add_episodes flags short tracks; the labels play no part in it
        table[emotion] = 1 / len(CLASSES)
    return add_episodes(table)[0]


def ids_per_track(every_frame: pd.DataFrame, sampled: pd.DataFrame) -> list[int]:
    """For each long every-frame track, how many distinct long-track ids its faces get in ``sampled``."""
    from videmo.faces.track import iou

    box = ["x1", "y1", "x2", "y2"]
    full = every_frame[every_frame["face_id"].notna() & ~every_frame["short_track"]]
    other = sampled[sampled["face_id"].notna() & ~sampled["short_track"]]
    by_frame = dict(tuple(other.groupby("frame")))
    ids: dict[int, set[int]] = {int(face_id): set() for face_id in full["face_id"].unique()}
    for frame, faces in full.groupby("frame"):
        if frame not in by_frame:
            continue
        overlap = iou(faces[box].to_numpy(float), by_frame[frame][box].to_numpy(float))
        for i, j in enumerate(overlap.argmax(axis=1)):
            if overlap[i, j] >= 0.5:
                ids[int(faces["face_id"].iloc[i])].add(int(by_frame[frame]["face_id"].iloc[j]))
    return [len(found) for found in ids.values() if found]


def tracks_of(table: pd.DataFrame) -> tuple[int, int]:
    """Tracks that count, and short tracks."""
    faces = table[table["face_id"].notna()]
    return int(faces.loc[~faces["short_track"], "face_id"].nunique()), int(faces.loc[faces["short_track"], "face_id"].nunique())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="*", type=Path)
    parser.add_argument("--cache", type=Path, help="folder for each video's detections (reused when there)")
    args = parser.parse_args()
    videos = args.videos or sorted(SHARED_VIDEOS.glob("*.mp4")) + [ROOT / "examples" / "hamilton_clip.mp4"]
    seen, lines = set(), []
    header = f"{'video':<28}{'rate':>7}{'frames':>8}{'tracks':>8}{'short':>7}{'ids/track':>11}{'max':>5}"
    print(header), lines.append(header)
    for video in videos:
        key = (video.name, video.stat().st_size)  # the example clip is also among the shared videos
        if key in seen:
            continue
        seen.add(key)
        found = detected(video, args.cache)
        every_frame = None
        for fps in RATES:
            table = replayed(video, found, fps)
            every_frame = table if fps is None else every_frame
            counts = ids_per_track(every_frame, table) or [0]
            line = (
                f"{video.name[:27]:<28}{'all' if fps is None else f'{fps:g} fps':>7}{table['frame'].nunique():>8}"
                f"{tracks_of(table)[0]:>8}{tracks_of(table)[1]:>7}{np.mean(counts):>11.2f}{max(counts):>5}"
            )
            print(line, flush=True), lines.append(line)
    RESULTS.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
