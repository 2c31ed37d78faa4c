import threading
import time

import numpy as np
import pytest
import torch

import videmo
from videmo.core.emotions import CLASSES
from videmo.run.lanes import ordered_map
from videmo.video.sampling import chunk_bounds


@pytest.mark.parametrize("count,chunk", [(0, 16), (1, 16), (3, 16), (5, 16), (105, 16), (275, 16), (10, 1), (40, 5)])
def test_chunks_cover_every_frame_once_grow_to_the_chunk_size_and_shrink_at_the_end(count, chunk):
    bounds = chunk_bounds(count, chunk)
    assert [frame for start, stop in bounds for frame in range(start, stop)] == list(range(count))
    sizes = [stop - start for start, stop in bounds]
    assert all(0 < size <= chunk for size in sizes)
    if count >= 2 and chunk >= 2:
        assert sizes[0] == 2
    if count >= 2 * (2 + 4 + 8 + 16) and chunk == 16:  # long enough to ramp up and down in full
        assert sizes[:4] == [2, 4, 8, 16] and sizes[-4:] == [16, 8, 4, 2]
        assert set(sizes[4:-4]) <= {16} | {sizes[len(sizes) // 2]}  # whole chunks, and one remainder at most


def test_ordered_map_keeps_the_order_when_workers_finish_out_of_order():
    def slow_for_small(n):
        time.sleep(0.02 * (n % 3 == 0))
        return n * n, threading.current_thread().name

    results = list(ordered_map(slow_for_small, range(20), workers=3))
    assert [value for value, _ in results] == [n * n for n in range(20)]
    assert len({name for _, name in results}) > 1  # the work really ran in several threads
    assert {name for _, name in ordered_map(slow_for_small, range(3), workers=1)} == {threading.current_thread().name}


def test_ordered_map_raises_the_workers_error_and_stops():
    started = []

    def fails_at_five(n):
        started.append(n)
        if n == 5:
            raise ValueError("bad item 5")
        return n

    with pytest.raises(ValueError, match="bad item 5"):
        list(ordered_map(fails_at_five, range(1000), workers=2))
    assert len(started) < 20  # items after the failure are not all run


def test_ordered_map_draws_the_items_in_its_workers_and_raises_their_error_in_place():
    drawn_in = []

    def items():
        for n in range(1000):
            drawn_in.append(threading.current_thread().name)
            if n == 7:
                raise OSError("frame 7 is damaged")
            yield n

    results = ordered_map(lambda n: n * 10, items(), workers=2)
    assert [next(results) for _ in range(7)] == [n * 10 for n in range(7)]  # every item before the bad one
    with pytest.raises(OSError, match="frame 7 is damaged"):
        next(results)
    assert threading.current_thread().name not in drawn_in  # the items were made beside the work, not in the consumer
    assert len(drawn_in) == 8  # none after the error


def test_a_consumer_that_stops_early_stops_the_workers():
    started = []
    results = ordered_map(lambda n: started.append(n) or n, range(1000), workers=2)
    assert next(results) == 0
    results.close()
    assert len(started) <= 4  # two running and one waiting at most, beyond the one consumed


def test_lanes_find_and_label_the_same_faces_as_one_lane(two_face_video, tiny_checkpoint):
    threads = torch.get_num_threads()
    one = videmo.analyze(two_face_video, weights=str(tiny_checkpoint), lanes=1, chunk=2, threads=threads + 1).frames
    lanes = videmo.analyze(two_face_video, weights=str(tiny_checkpoint), lanes=2, chunk=2, threads=threads + 1).frames
    assert torch.get_num_threads() == threads  # the library leaves the caller's process as it was
    assert len(one) == len(lanes) and one["face_id"].notna().sum() > 0
    assert (one["frame"].to_numpy() == lanes["frame"].to_numpy()).all()
    assert one["face_id"].equals(lanes["face_id"])
    assert one["emotion"].equals(lanes["emotion"])
    np.testing.assert_allclose(one[["x1", "y1", "x2", "y2"]], lanes[["x1", "y1", "x2", "y2"]], atol=1e-3)
    probabilities = list(CLASSES)
    np.testing.assert_allclose(one[probabilities], lanes[probabilities], atol=1e-3)  # a thread count can move the last digits


@pytest.mark.parametrize("lanes", [1, 2])
def test_a_video_that_fails_midway_leaves_no_lane_or_decoding_thread_running(two_face_video, tiny_checkpoint, lanes):
    """Stopped at once, not when the error's traceback is freed: threads still inside torch or a decoder when
    the interpreter exits abort it (after Ctrl-C: 'terminate called without an active exception')."""
    from videmo.core.options import AnalyzeOptions
    from videmo.run.pipeline import Analyzer

    analyzer = Analyzer(AnalyzeOptions(weights=str(tiny_checkpoint), lanes=lanes, chunk=2))
    label_chunk, calls = analyzer.label_chunk, []

    def fails_on_the_third_chunk(batch):
        calls.append(batch)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return label_chunk(batch)

    analyzer.label_chunk = fails_on_the_third_chunk
    with pytest.raises(KeyboardInterrupt) as raised:
        analyzer.analyze_video(two_face_video)
    assert raised.traceback  # the traceback, and the frames it holds, still alive here
    assert [t.name for t in threading.enumerate() if t.name.startswith("videmo-")] == []
