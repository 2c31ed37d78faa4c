"""See the results: an annotated video, streamed frame by frame, and a sheet of each track's face.

Both use the emotion colours of ``timeline.png`` (``write.EMOTION_COLOURS``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .checkpoint import CLASSES
from .errors import VidemoError
from .write import EMOTION_COLOURS

TILE = 112  # face sheet tile side, pixels


@dataclass
class FaceMark:
    """One face to draw on one frame."""
    face_id: int
    box: tuple[float, float, float, float]
    probabilities: np.ndarray  # (7,) in CLASSES order


class NoEncoder(VidemoError):
    pass


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one fixed size
        return ImageFont.load_default()


class AnnotatedVideoWriter:
    """H.264 through imageio-ffmpeg's bundled ffmpeg, one frame at a time (memory stays flat)."""

    def __init__(self, path: Path, width: int, height: int, fps: float):
        try:
            import imageio_ffmpeg

            imageio_ffmpeg.get_ffmpeg_exe()
        except (ImportError, RuntimeError) as e:
            raise NoEncoder(f"annotated video skipped: no ffmpeg with an H.264 encoder ({e})") from None
        self.path = path
        self.line = max(4, round(min(width, height) / 120))  # thick enough to keep its colour through 4:2:0 chroma
        self.font = font(max(12, round(min(width, height) / 30)))
        self.last = np.zeros((height, width, 3), np.uint8)
        # yuv420p, which every player reads, needs even sides: the odd last row or column is padded.
        self.writer = imageio_ffmpeg.write_frames(
            str(path), (width, height), fps=max(fps, 1e-3), codec="libx264", pix_fmt_out="yuv420p", quality=None,
            macro_block_size=1, ffmpeg_log_level="error",
            output_params=["-crf", "23", "-preset", "veryfast", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-movflags", "+faststart"])
        try:
            self.writer.send(None)
        except (OSError, RuntimeError) as e:
            raise NoEncoder(f"annotated video skipped: ffmpeg could not start ({e})") from None

    def add(self, frame: np.ndarray, faces: list[FaceMark]) -> None:
        image = Image.fromarray(frame)
        draw = ImageDraw.Draw(image)
        for face in faces:
            self.draw_face(draw, face, image.width)
        self.last = np.ascontiguousarray(np.asarray(image))
        self.writer.send(self.last)

    def hold(self) -> None:
        """The last frame once more (black before any), in place of one that did not decode: the video keeps its timing."""
        self.writer.send(self.last)

    def draw_face(self, draw: ImageDraw.ImageDraw, face: FaceMark, frame_width: int) -> None:
        x1, y1, x2, y2 = face.box
        top = int(np.argmax(face.probabilities))
        colour = rgb(EMOTION_COLOURS[CLASSES[top]])
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=self.line)
        label = f"{face.face_id} {CLASSES[top]} {face.probabilities[top]:.2f}"
        left, upper, right, lower = draw.textbbox((x1, y1), label, font=self.font)
        label_y = y1 - (lower - upper) - 2 * self.line if y1 - (lower - upper) - 2 * self.line >= 0 else y2 + self.line
        draw.rectangle((x1, label_y, x1 + right - left + 2 * self.line, label_y + lower - upper + 2 * self.line), fill=colour)
        draw.text((x1 + self.line, label_y + self.line - (upper - y1)), label, fill=(255, 255, 255), font=self.font)
        # seven probability bars, in CLASSES order, beside the box (left of it if no room on the right)
        bar_width, height = max(4, self.line * 2), y2 - y1
        left_edge = x2 + self.line if x2 + self.line + 7 * bar_width <= frame_width else x1 - self.line - 7 * bar_width
        for k, p in enumerate(face.probabilities):
            bx = left_edge + k * bar_width
            draw.rectangle((bx, y2 - p * height, bx + bar_width - 1, y2), fill=rgb(EMOTION_COLOURS[CLASSES[k]]))

    def close(self) -> None:
        self.writer.close()


class FaceSheet:
    """Keeps each track's most confident face crop (a small tile), for ``faces.png``."""

    def __init__(self, margin: float = 0.2):
        self.margin = margin
        self.best: dict[int, tuple[float, np.ndarray]] = {}

    def offer(self, frame: np.ndarray, face_id: int, box: tuple[float, float, float, float], confidence: float) -> None:
        if face_id in self.best and self.best[face_id][0] >= confidence:
            return
        x1, y1, x2, y2 = box
        half = max(x2 - x1, y2 - y1) * (1 + self.margin) / 2
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        crop = Image.fromarray(frame).crop((round(cx - half), round(cy - half), round(cx + half), round(cy + half)))
        self.best[face_id] = (confidence, np.asarray(crop.resize((TILE, TILE), Image.BILINEAR)))


def write_faces_png(sheet: FaceSheet, tracks: list[dict], path: Path, title: str) -> None:
    """One tile per track, in face_id order: the face, its id, first and last time, frames, and
    dominant emotion with its share; a sheet that says so when there was no face."""
    columns = max(1, min(8, math.ceil(math.sqrt(len(tracks)))))
    rows = max(1, math.ceil(len(tracks) / columns))
    caption = 46
    width, height = columns * (TILE + 8) + 8, 30 + rows * (TILE + caption + 8)
    image = Image.new("RGB", (max(width, 320), height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((8, 6), title, fill="black", font=font(14))
    if not tracks:
        draw.text((8, 40), "no face found", fill="black", font=font(14))
    small = font(11)
    for n, track in enumerate(tracks):
        x, y = 8 + (n % columns) * (TILE + 8), 30 + (n // columns) * (TILE + caption + 8)
        face = sheet.best.get(track["face_id"])
        if face is not None:
            image.paste(Image.fromarray(face[1]), (x, y))
        emotion = track["dominant_emotion"]
        draw.rectangle((x, y, x + TILE - 1, y + TILE - 1), outline=rgb(EMOTION_COLOURS[emotion]), width=3)
        lines = [f"face {track['face_id']}: {track['n_frames']} frames", f"{track['first_s']:.1f}-{track['last_s']:.1f} s",
                 f"{emotion} {track['emotion_share'][emotion]:.0%}"]
        for k, line in enumerate(lines):
            draw.text((x, y + TILE + 2 + 14 * k), line, fill="black", font=small)
    image.save(path)
