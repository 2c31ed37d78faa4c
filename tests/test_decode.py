"""The frames streamed for analysis are decord's, pixel for pixel, whichever frames are picked."""

import subprocess

import decord
import numpy as np
import pytest
from media import EXAMPLE, face_frames, ffmpeg, write_video

from videmo.decode import VideoError, open_video, stream_frames


def streamed(path, indices, chunk=16):
    reader, info = open_video(path)
    batches = list(stream_frames(reader, info, np.asarray(indices), chunk))
    return np.concatenate([b.indices for b in batches]), np.concatenate([b.times for b in batches]), np.concatenate([b.frames for b in batches])


@pytest.mark.parametrize("indices", [range(275), range(0, 275, 7), [0, 1, 2, 150, 274]])
def test_example_frames_and_times_are_decords(indices):
    got_indices, times, frames = streamed(EXAMPLE, list(indices))
    reader = decord.VideoReader(str(EXAMPLE))
    assert list(got_indices) == list(indices)
    assert np.array_equal(frames, reader.get_batch(list(indices)).asnumpy())
    assert np.allclose(times, reader.get_frame_timestamp(list(indices))[:, 0])


@pytest.mark.parametrize("name,extra", [("hevc.mp4", ["-c:v", "libx265", "-x265-params", "log-level=none", "-tag:v", "hvc1"]),
                                        ("vp9.webm", ["-c:v", "libvpx-vp9"]),
                                        ("rotated.mp4", ["-c", "copy"])])
def test_other_codecs_and_rotation_match_decord(tmp_path, name, extra):
    source = write_video(tmp_path / "source.mp4", face_frames(6, width=322, height=240))
    target = tmp_path / name
    rotation = ["-display_rotation", "90"] if name.startswith("rotated") else []
    subprocess.run([ffmpeg(), "-y", "-loglevel", "error", *rotation, "-i", str(source), *extra, str(target)], check=True)
    _, _, frames = streamed(target, range(6), chunk=4)
    assert np.array_equal(frames, decord.VideoReader(str(target)).get_batch(list(range(6))).asnumpy())


def test_a_frame_past_the_end_names_the_file_and_the_frame(tmp_path):
    video = write_video(tmp_path / "short.mp4", face_frames(5))
    with pytest.raises(VideoError, match=r"short\.mp4: decoding failed near frame 9"):
        streamed(video, [0, 9])
