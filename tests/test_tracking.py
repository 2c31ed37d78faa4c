"""Face ids that do not depend on the sampling rate: the tracker predicts each face's
motion and keeps its gates and memory in seconds. On the 1080p crowd at --fps 5, and on synthetic
boxes: fast faces, crossing faces, faces that leave and come back, cuts."""

import numpy as np
import pandas as pd
import pytest
import torch
from media import EXAMPLE

from videmo.core.emotions import CLASSES
from videmo.faces.track import FaceTracker
from videmo.results.episodes import add_episodes

SIZE = 60.0


def box_at(x: float, y: float = 300.0, size: float = SIZE) -> np.ndarray:
    return np.array([x, y, x + size, y + size])


def ids_over(times, boxes_per_frame, tracker: FaceTracker | None = None) -> list[list[int]]:
    tracker = tracker or FaceTracker()
    return [tracker.update(t, np.array(boxes).reshape(-1, 4)) for t, boxes in zip(times, boxes_per_frame)]


@pytest.mark.parametrize("fps", [25, 10, 5])
def test_a_face_crossing_the_frame_fast_keeps_its_id(fps):
    """8 face widths a second (the crowd's nearest walker): at 5 fps it moves 1.6 widths between frames."""
    times = np.arange(0, 2, 1 / fps)
    ids = ids_over(times, [[box_at(100 + 8 * SIZE * t)] for t in times])
    assert ids == [[0]] * len(times)


@pytest.mark.parametrize("fps", [25, 10, 5])
def test_two_faces_crossing_keep_their_ids(fps):
    """One walks right, the other left, a little lower, passing through each other at t = 1 s."""
    times = np.arange(0, 2, 1 / fps)
    ids = ids_over(times, [[box_at(200 + 4 * SIZE * t), box_at(200 + 8 * SIZE - 4 * SIZE * t, 320)] for t in times])
    assert ids == [[0, 1]] * len(times)


@pytest.mark.parametrize("fps", [25, 5])
def test_a_face_back_within_the_memory_keeps_its_id_and_after_it_gets_a_new_one(fps):
    tracker = FaceTracker(max_gap_s=1.0)
    step = 1 / fps
    seen = [0, step, 2 * step]  # three frames, then gone
    assert ids_over(seen, [[box_at(300)]] * 3, tracker) == [[0]] * 3
    missed = np.arange(3 * step, 3 * step + 0.8, step)
    assert ids_over(missed, [[]] * len(missed), tracker) == [[]] * len(missed)
    assert tracker.update(missed[-1] + step, box_at(300)[None]) == [0]  # back after 0.8 s unseen
    gone = missed[-1] + step
    later = np.arange(gone + step, gone + 1.5, step)
    ids_over(later, [[]] * len(later), tracker)
    assert tracker.update(later[-1] + step, box_at(300)[None]) == [1]  # back after 1.5 s unseen: a new face


def test_a_single_false_detection_does_not_lie_in_wait_for_a_face():
    """A one-frame box (a hand) is forgotten sooner than a face: a face that appears 4 widths off
    0.6 s later is a new track, not the hand's, and the hand's track is flagged short."""
    tracker = FaceTracker()
    assert tracker.update(0.0, box_at(100)[None]) == [0]
    times = np.arange(0.04, 0.6, 0.04)
    ids_over(times, [[]] * len(times), tracker)
    assert tracker.update(0.6, box_at(100 + 4 * SIZE)[None]) == [1]
    rows = [(0.0, 0)] + [(t, None) for t in times] + [(0.6 + 0.04 * i, 1) for i in range(10)]
    table = pd.DataFrame(rows, columns=["time_s", "face_id"]).astype({"face_id": "Int64"})
    for emotion in CLASSES:
        table[emotion] = 1 / len(CLASSES)
    flagged = add_episodes(table)[0]
    assert flagged.loc[flagged["face_id"] == 0, "short_track"].all()
    assert not flagged.loc[flagged["face_id"] == 1, "short_track"].any()


def test_a_cut_ends_every_track():
    """The same box on both sides of a cut is two faces; the frames decide, or the decoder's cuts."""
    dark, bright = np.zeros((90, 160, 3), np.uint8), np.full((90, 160, 3), 255, np.uint8)
    bright[:45] = 128
    tracker = FaceTracker()
    ids = [tracker.update(i / 25, box_at(300)[None], dark if i < 5 else bright)[0] for i in range(10)]
    assert ids == [0] * 5 + [1] * 5
    replayed = FaceTracker()
    assert [replayed.observe(i / 25, box_at(300)[None], cut=i == 5)[0] for i in range(10)] == ids


def test_the_decoder_finds_cuts_between_frames_it_does_not_analyse():
    """The example clip's cuts come after frames 19, 81 and 210. At --fps 5 the analysed frames are 0.2 s apart and a
    close-up's motion between two of them scores nearly as a cut does: the decoder compares every decoded frame with the one before, so the analysed frame after each real
    cut, and no other, is marked, as at every frame."""
    from videmo.video.decode import open_video, stream_frames
    from videmo.video.sampling import select_frames

    info = open_video(EXAMPLE)
    for fps in (None, 5.0):
        batches = list(stream_frames(info, select_frames(info, fps), 16))
        frames, cuts = np.concatenate([b.indices for b in batches]), np.concatenate([b.cuts for b in batches])
        assert len(cuts) == len(frames)
        assert [int(np.searchsorted(frames, cut)) for cut in (20, 82, 211)] == np.flatnonzero(cuts).tolist()


@pytest.mark.slow
def test_the_crowd_at_5_fps_keeps_one_id_per_walker(shared_data):
    """The 1080p crowd at --fps 5 (21 frames): 6 tracks, as at every frame (which adds a one-frame coat),
    each seen in several frames, and the woman in profile walking across the front one id from her first
    frame to her last (a greedy IoU tracker gave her a new id at each frame)."""
    from videmo.faces.detect import FaceDetector
    from videmo.video.decode import open_video, stream_frames
    from videmo.video.sampling import select_frames

    info = open_video(shared_data / "videos" / "crowd_walking_1080p.mp4")
    detector = FaceDetector(torch.device("cpu"))
    tracker, rows = FaceTracker(), []
    for batch in stream_frames(info, select_frames(info, fps=5), 8):
        # As the pipeline does: the decoder's cuts (it compares every decoded frame, not only those 0.2 s apart).
        for time_s, found, cut in zip(batch.times, detector.detect(batch.frames, batch.cuts), batch.cuts):
            boxes = np.array([d.box for d in found]).reshape(-1, 4)
            rows += [(time_s, face_id, *box) for face_id, box in zip(tracker.observe(time_s, boxes, bool(cut)), boxes)]
    faces = pd.DataFrame(rows, columns=["time_s", "face_id", "x1", "y1", "x2", "y2"])
    spans = faces.groupby("face_id")["time_s"].agg(["min", "max", "size"])
    assert len(spans) == 6 and (spans["size"] >= 4).all()
    first = faces[faces["time_s"] == faces["time_s"].min()]
    nearest = first.loc[(first["x2"] - first["x1"]).idxmax(), "face_id"]  # the largest face: the woman nearest the camera
    walker = faces[faces["face_id"] == nearest]
    assert walker["x1"].is_monotonic_increasing and walker["x1"].iloc[-1] - walker["x1"].iloc[0] > 1000
    assert len(walker) == 7  # frames 0-30: every analysed frame she is in
