"""--detect-every K: the whole MTCNN pyramid on keyframes, and in between MTCNN only near the faces of the frame before."""

import numpy as np
import pytest
import torch
from media import face_frames, face_sprite

from videmo.faces.detect import FaceDetector

CPU = torch.device("cpu")
SIZE = 96


def scene(n_frames: int, seed: int = 0) -> np.ndarray:
    return face_frames(n_frames, faces=0, seed=seed)


def paste(frames: np.ndarray, x: int, from_frame: int = 0, to_frame: int | None = None, drift: int = 1) -> np.ndarray:
    sprite = face_sprite(SIZE)
    for i in range(from_frame, len(frames) if to_frame is None else to_frame):
        left = x + drift * i
        frames[i, 60 : 60 + SIZE, left : left + SIZE] = sprite
    return frames


def lefts(found) -> list[list[int]]:
    """Each frame's faces by the left edge of their boxes, rounded to tens of pixels."""
    return [sorted(int(round(d.box[0], -1)) for d in frame) for frame in found]


@pytest.fixture(scope="module")
def detectors():
    return {k: FaceDetector(CPU, every=k) for k in (1, 8, 16)}


def test_every_1_is_the_search_of_every_frame(detectors):
    frames = paste(scene(12), 20)
    assert detectors[1].detect(frames) == FaceDetector(CPU).detect(frames)


def test_a_followed_face_keeps_its_box_and_score(detectors):
    """Near a face P-Net's cells are the whole search's, so a moving face gets the same box and score."""
    frames = paste(scene(16), 20, drift=2)
    full, followed = detectors[1].detect(frames), detectors[16].detect(frames)
    assert all(len(f) == 1 for f in full) and all(len(f) == 1 for f in followed)
    for a, b in zip(full, followed):
        np.testing.assert_allclose(b[0].box, a[0].box, atol=1e-3)
        assert b[0].score == pytest.approx(a[0].score, abs=1e-5)


def test_a_face_that_enters_between_keyframes_is_found_at_the_next_one(detectors):
    frames = paste(paste(scene(16), 10, drift=0), 200, from_frame=5, drift=0)
    found = lefts(detectors[8].detect(frames))
    assert all(len(f) == 1 for f in found[:8])  # frames 5-7: the new face is not searched for yet
    assert all(len(f) == 2 for f in found[8:])  # frame 8 is a keyframe
    assert all(len(f) == 2 for f in lefts(detectors[1].detect(frames))[5:])


def test_a_cut_forces_a_keyframe(detectors):
    frames = scene(16)
    frames[6:] = scene(10, seed=5)  # another shot from frame 6 on: another background, the face elsewhere
    paste(frames, 10, to_frame=6, drift=0), paste(frames, 200, from_frame=6, drift=0)
    cuts = np.arange(16) == 6  # as the decoder marks them (FrameBatch.cuts)
    found, searched = lefts(detectors[16].detect(frames, cuts)), lefts(detectors[1].detect(frames, cuts))
    assert found == searched  # the face of the new shot is found at once, where it is
    assert all(len(f) == 1 and f[0] < 100 for f in found[:6]) and all(len(f) == 1 and f[0] > 150 for f in found[6:])


def test_a_face_that_leaves_is_no_longer_reported(detectors):
    frames = paste(scene(16), 20, to_frame=6)
    found = detectors[16].detect(frames)
    assert all(len(f) == 1 for f in found[:6]) and not any(found[6:])


def test_frames_far_apart_are_each_searched_whole(detectors):
    """With --fps or --every, analysed frames can lie too far apart to follow a face from one to the next."""
    frames = paste(paste(scene(16), 10, drift=0), 200, from_frame=5, drift=0)
    sparse, dense = np.arange(16) * 0.2, np.arange(16) / 30
    assert all(len(f) == 2 for f in lefts(detectors[8].detect(frames, times=sparse))[5:])
    assert all(len(f) == 1 for f in lefts(detectors[8].detect(frames, times=dense))[5:8])
