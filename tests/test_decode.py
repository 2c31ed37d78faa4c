"""Streaming frames: the decoder's backlog is dropped at keyframes without changing a frame."""

import numpy as np
import pytest

from media import face_frames, write_video

from videmo import decode


@pytest.mark.parametrize("every", [1, 3])
def test_resets_at_keyframes_give_the_same_frames(tmp_path, every, monkeypatch):
    # B-frames and a keyframe every 12 frames: decord's reordering and its accurate seeks both come into play.
    video = write_video(tmp_path / "gop.mp4", face_frames(60, 160, 120), extra=["-g", "12", "-bf", "2"])
    reader, info = decode.open_video(video)
    indices = np.arange(0, info.frame_count, every)
    plain = np.concatenate([b.frames for b in decode.stream_frames(reader, info, indices, 8, reset_bytes=0)])

    seeks = []
    reader, info = decode.open_video(video)
    monkeypatch.setattr(reader, "seek", lambda pos, seek=reader.seek: (seeks.append(pos), seek(pos))[1])
    batches = list(decode.stream_frames(reader, info, indices, 8, reset_bytes=1))  # reset at every keyframe
    assert [len(b.frames) for b in batches] == [len(indices[i:i + 8]) for i in range(0, len(indices), 8)]
    assert np.array_equal(np.concatenate([b.frames for b in batches]), plain)
    assert len(seeks) >= (4 if every == 1 else 1)
