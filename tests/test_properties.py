"""Properties of the pure parts of the pipeline, over inputs that hypothesis makes up: the tracker,
the timeline aggregation, and the mapping of boxes between detection and original pixels; and the
tracker's cuts on the example clip."""

import decord
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from media import EXAMPLE

from videmo.core.emotions import CLASSES
from videmo.faces.detect import detection_scale, to_original
from videmo.faces.track import FaceTracker, iou
from videmo.results.tables import frames_table, timeline
from videmo.video.cuts import Shot

SETTINGS = settings(max_examples=60, deadline=None)

BOX = st.tuples(st.floats(-50, 600), st.floats(-50, 400), st.floats(1, 250), st.floats(1, 250)).map(
    lambda t: (t[0], t[1], t[0] + t[2], t[1] + t[3])
)
FRAMES = st.lists(st.tuples(st.floats(0.001, 1.5), st.lists(BOX, max_size=6)), max_size=20)  # (time since last frame, boxes)


@SETTINGS
@given(frames=FRAMES)
def test_tracker_ids_never_collide_and_expired_ids_never_return(frames):
    tracker, time_s, last_seen = FaceTracker(), 0.0, {}
    for gap, boxes in frames:
        time_s += gap
        ids = tracker.update(time_s, np.array(boxes))
        assert len(ids) == len(boxes) and len(set(ids)) == len(ids)
        for face_id in ids:
            if face_id in last_seen:  # a known id only for a track missed for no longer than allowed,
                # counted from the first frame that missed it (``gap`` after the one it was last seen in)
                assert time_s - gap - last_seen[face_id] <= tracker.max_gap_s + 1e-9
            else:  # otherwise a fresh one, never an expired one
                assert face_id == max(last_seen, default=-1) + 1
            last_seen[face_id] = time_s


@SETTINGS
@given(still=BOX, frames=FRAMES, data=st.data())
def test_a_face_that_stays_still_keeps_its_id(still, frames, data):
    tracker, time_s, kept = FaceTracker(), 0.0, None
    for gap, others in frames:
        time_s += min(gap, 0.99 * tracker.max_gap_s)  # within its memory (exactly at it, rounding decides)
        # other faces anywhere, but not a duplicate detection of the still one
        others = [b for b in others if iou(np.array([b]), np.array([still]))[0, 0] < 0.99]
        at = data.draw(st.integers(0, len(others)), label="position of the still face")
        ids = tracker.update(time_s, np.array([*others[:at], still, *others[at:]]))
        kept = ids[at] if kept is None else kept
        assert ids[at] == kept


def test_a_cut_to_another_shot_ends_every_track():
    """The example clip's cuts (frames 20, 82 and 211, from the stage to a close-up and back) and
    nothing else end tracks; a face where another was before a cut gets a new id."""
    frames = decord.VideoReader(str(EXAMPLE)).get_batch(list(range(275))).asnumpy()
    shots = [Shot.of(frame) for frame in frames]
    assert [i for i in range(1, len(shots)) if shots[i].is_cut_from(shots[i - 1])] == [20, 82, 211]
    tracker, box = FaceTracker(), np.array([[100.0, 100.0, 160.0, 170.0]])
    ids = [tracker.update(i / 30, box, frames[i])[0] for i in range(15, 25)]
    assert ids == [0] * 5 + [1] * 5


@st.composite
def analysed_frames(draw):
    """A frames table as the pipeline builds it: sorted times, some frames without faces, several faces per frame."""
    n_frames = draw(st.integers(1, 30))
    times = np.cumsum(draw(st.lists(st.floats(0.0, 0.7), min_size=n_frames, max_size=n_frames)))
    frames, frame_times, ids, probabilities = [], [], [], []
    for frame, time_s in enumerate(times):
        faces = draw(st.lists(st.integers(0, 3), unique=True, max_size=3))
        for face_id in faces or [None]:
            frames.append(frame), frame_times.append(float(time_s)), ids.append(face_id)
            if face_id is None:
                probabilities.append([np.nan] * len(CLASSES))
            else:
                raw = np.array(draw(st.lists(st.floats(1e-6, 1.0), min_size=len(CLASSES), max_size=len(CLASSES))))
                probabilities.append(raw / raw.sum())
    n = len(frames)
    boxes = np.where(np.array([i is None for i in ids])[:, None], np.nan, np.tile([1.0, 2.0, 3.0, 4.0], (n, 1)))
    return frames_table(frames, frame_times, ids, boxes, np.full(n, 0.99), np.array(probabilities)), float(times[-1])


@SETTINGS
@given(table_end=analysed_frames(), bin_s=st.floats(0.05, 3.0), tail=st.floats(0.0, 1.0))
def test_timeline_bins_cover_the_analysed_time(table_end, bin_s, tail):
    frames, last_time = table_end
    end_s = last_time + tail  # the video's duration is at least its last frame's time
    bins = timeline(frames, bin_s, end_s)
    faces = frames[frames["face_id"].notna()]
    assert bins["n_frames"].sum() == len(faces) and (bins["n_frames"] > 0).all()
    assert not bins.duplicated(["face_id", "t_start"]).any()
    k = np.round(bins["t_start"] / bin_s)
    assert (bins["t_start"] == k * bin_s).all() and (k >= 0).all()  # bin k starts at k * bin
    assert (bins["t_start"] <= bins["t_end"]).all() and (bins["t_end"] <= end_s + 1e-9).all()
    assert (bins["t_end"] <= bins["t_start"] + bin_s + 1e-9).all()
    np.testing.assert_allclose(bins[list(CLASSES)].sum(axis=1), 1.0, atol=1e-6)
    assert (bins["emotion"] == bins[list(CLASSES)].idxmax(axis=1)).all()
    for row in bins.itertuples():  # each bin holds exactly its face's frames in [t_start, t_start + bin)
        mine = faces[
            (faces["face_id"] == row.face_id)
            & (faces["time_s"] >= row.t_start - 1e-9)
            & (faces["time_s"] < row.t_start + bin_s - 1e-9)
        ]
        assert len(mine) == row.n_frames
        np.testing.assert_allclose(mine[list(CLASSES)].mean().to_numpy(), [getattr(row, c) for c in CLASSES], atol=1e-9)


def test_a_frame_on_a_bin_edge_opens_that_bin():
    times = [0.0, 0.1, 0.2, 0.3, 0.6]
    frames = frames_table(list(range(5)), times, [0] * 5, np.tile([1.0, 2, 3, 4], (5, 1)), np.ones(5), np.full((5, 7), 1 / 7))
    assert list(timeline(frames, 0.1, 0.7)["n_frames"]) == [1, 1, 1, 1, 1]
    assert list(timeline(frames, 0.05, 0.7)["t_start"]) == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.6])


def test_timeline_of_no_faces_is_empty_with_the_columns():
    frames = frames_table([0, 1], [0.0, 0.1], [None, None], np.full((2, 4), np.nan), np.full(2, np.nan), np.full((2, 7), np.nan))
    bins = timeline(frames, 1.0, 0.2)
    assert bins.empty and list(bins.columns) == ["face_id", "t_start", "t_end", "n_frames", *CLASSES, "emotion"]
    assert str(bins["face_id"].dtype) == "Int64" and bins["n_frames"].dtype == np.int64


SIZES = st.tuples(st.integers(16, 4096), st.integers(16, 4096))


@SETTINGS
@given(size=SIZES, detect_width=st.one_of(st.none(), st.integers(64, 2048)), data=st.data())
def test_boxes_map_back_to_the_original_frame(size, detect_width, data):
    width, height = size
    scale = detection_scale(width, detect_width)
    assert 0 < scale <= 1 and (scale == 1) == (not detect_width or detect_width >= width)
    if scale < 1:
        assert round(width * scale) == detect_width  # the detection copy is exactly --detect-width wide
    x = sorted(data.draw(st.lists(st.floats(0, width), min_size=2, max_size=2)))
    y = sorted(data.draw(st.lists(st.floats(0, height), min_size=2, max_size=2)))
    box = np.array([[x[0], y[0], x[1], y[1]]])
    np.testing.assert_allclose(to_original(box * scale, scale, width, height), box, atol=1e-6 * max(width, height))
    # the detection copy is round(height * scale) tall: its rows map back within half a detection pixel
    row_scale = max(1, round(height * scale)) / height
    mapped = to_original(np.array([[0, y[0] * row_scale, 1, y[1] * row_scale]]), scale, width, height)
    assert np.abs(mapped[0, [1, 3]] - y).max() <= 0.5 / scale + 1e-6


@SETTINGS
@given(size=SIZES, scale=st.floats(0.01, 1.0), box=BOX.map(lambda b: [3 * v for v in b]))
def test_mapped_boxes_stay_inside_the_frame_and_ordered(size, scale, box):
    width, height = size
    ((x1, y1, x2, y2),) = to_original(np.array([box]), scale, width, height)
    assert 0 <= x1 <= x2 <= width and 0 <= y1 <= y2 <= height
