"""Test media made on the fly: videos with a real face moving over a background, tiny checkpoints."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "hamilton_clip.mp4"  # the shipped example clip


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def encode(frames: np.ndarray, fps: float, output: list[str]) -> bytes:
    """Run ffmpeg on uint8 (N, H, W, 3) RGB frames given on its stdin, with ``output``'s options and
    target; returns what it wrote to its stdout (a target of ``pipe:1``)."""
    n, height, width, _ = frames.shape
    raw = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(fps), "-i", "-"]
    command = [ffmpeg(), "-y", "-loglevel", "error", *raw, *output]
    return subprocess.run(command, input=np.ascontiguousarray(frames).tobytes(), capture_output=True, check=True).stdout


def write_video(path: Path, frames: np.ndarray, fps: float = 10, codec: str = "libx264", extra: list[str] | None = None) -> Path:
    """Encode uint8 (N, H, W, 3) RGB frames with ffmpeg; even sizes for yuv420p unless the codec copes."""
    encode(frames, fps, ["-c:v", codec, "-pix_fmt", "yuv420p", *(extra or []), str(path)])
    return path


def face_sprite(size: int) -> np.ndarray:
    """The astronaut's head from scikit-image, resized to ``size`` x ``size``."""
    from PIL import Image
    from skimage import data

    head = data.astronaut()[20:240, 140:330]
    return np.asarray(Image.fromarray(head).resize((size, size), Image.BILINEAR))


def face_frames(
    n_frames: int = 30,
    width: int = 320,
    height: int = 240,
    faces: int = 1,
    face_size: int = 96,
    moving: bool = True,
    seed: int = 0,
) -> np.ndarray:
    """Frames with ``faces`` faces side by side on a textured background, drifting slowly."""
    rng = np.random.default_rng(seed)
    background = rng.integers(60, 120, size=(height // 8, width // 8, 3), dtype=np.uint8).repeat(8, axis=0).repeat(8, axis=1)
    background = np.pad(background, ((0, height - background.shape[0]), (0, width - background.shape[1]), (0, 0)), mode="edge")
    sprite = face_sprite(face_size)
    frames = np.repeat(background[None], n_frames, axis=0)
    for i, boxes in enumerate(face_boxes(n_frames, width, height, faces, face_size, moving)):
        for x, y, _, _ in boxes:
            frames[i, y : y + face_size, x : x + face_size] = sprite
    return frames


def face_boxes(
    n_frames: int = 30, width: int = 320, height: int = 240, faces: int = 1, face_size: int = 96, moving: bool = True
) -> np.ndarray:
    """Where face_frames pastes each face: int (n_frames, faces, 4) boxes x1, y1, x2, y2."""
    slot = width // max(faces, 1)
    boxes = np.zeros((n_frames, faces, 4), dtype=np.int64)
    for i in range(n_frames):
        shift = int(round(i * 1.5)) if moving else 0
        for k in range(faces):
            x = min(k * slot + (slot - face_size) // 2 + shift % max(slot - face_size, 1) // 4, width - face_size)
            y = (height - face_size) // 2
            boxes[i, k] = x, y, x + face_size, y + face_size
    return boxes


def blank_frames(n_frames: int = 20, width: int = 320, height: int = 240) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 255, size=(n_frames, height, width, 3), dtype=np.uint8)


def drop_leading_frames(source: Path, target: Path, dropped: int) -> Path:
    """A copy of ``source`` whose first ``dropped`` frames lie before the start of presentation (negative
    times): the MP4 muxer then writes an edit list that skips them, the container's index still counts
    them, and decoders (PyAV, ffmpeg) deliver ``dropped`` frames fewer, as in many real files."""
    import av

    with av.open(str(source)) as given, av.open(str(target), "w") as written:
        stream = given.streams.video[0]
        copy = written.add_stream_from_template(stream)
        step = round(1 / (stream.average_rate * stream.time_base))
        for packet in given.demux(stream):
            if packet.dts is None:  # the demuxer's closing empty packet
                continue
            packet.pts -= dropped * step
            packet.dts -= dropped * step
            packet.stream = copy
            written.mux(packet)
    return target


def damage_frame(source: Path, target: Path, frame: int) -> Path:
    """A copy of ``source`` whose packet of ``frame`` (in presentation order) holds random bytes after
    its first four: the decoder refuses that packet, as it would a damaged download or disk block."""
    import av

    with av.open(str(source)) as given:
        packets = [(p.pts, p.pos, p.size) for p in given.demux(given.streams.video[0]) if p.size]
    _, position, size = sorted(packets)[frame]
    data = bytearray(source.read_bytes())
    data[position + 4 : position + size] = np.random.default_rng(frame).integers(0, 256, size - 4, dtype=np.uint8).tobytes()
    target.write_bytes(bytes(data))
    return target


def unreadable_after(monkeypatch, packets: int) -> None:
    """From now on PyAV's containers fail to demux after ``packets`` packets with an I/O error: a disk
    or a network share failing mid-file (decord, which indexed the file before, is not affected)."""
    import errno

    import av

    real_open = av.open

    class Failing:
        def __init__(self, container):
            self.container = container

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.container.close()

        def __getattr__(self, name):
            return getattr(self.container, name)

        def demux(self, *args, **kwargs):
            for number, packet in enumerate(self.container.demux(*args, **kwargs)):
                if number == packets:
                    raise av.error.OSError(errno.EIO, "Input/output error")
                yield packet

    monkeypatch.setattr(av, "open", lambda *args, **kwargs: Failing(real_open(*args, **kwargs)))


def entries(folder) -> list[str]:
    """What an output folder holds besides the batch table that every run rewrites (index.csv, failed.csv, report.html)."""
    import os

    return sorted(name for name in os.listdir(folder) if name not in ("index.csv", "failed.csv", "report.html"))
