"""See the results: an annotated video, streamed frame by frame, and a sheet of each track's face.

Both use the emotion colours of ``timeline.png`` and report.html (``write.EMOTION_COLOURS``). The face
sheet records where each face's crop lies in a PNG text chunk (``TILES_KEY``), so that ``videmo
episodes`` redraws it with new captions from the crops alone, without the video.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from videmo.core.emotions import CLASSES, EMOTION_COLOURS, ink
from videmo.core.errors import VidemoError
from videmo.results.figures import font, rgb


@dataclass
class FaceMark:
    """One face to draw on one frame."""

    face_id: int
    box: tuple[float, float, float, float]
    probabilities: np.ndarray  # (7,) in CLASSES order


class NoEncoder(VidemoError):
    pass


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
        self.bar_font = font(max(10, round(min(width, height) / 36)))
        self.last, self.size = np.zeros((height, width, 3), np.uint8), (width, height)
        # yuv420p, which every player reads, needs even sides: the odd last row or column is padded.
        self.writer = imageio_ffmpeg.write_frames(
            str(path),
            (width, height),
            fps=max(fps, 1e-3),
            codec="libx264",
            pix_fmt_out="yuv420p",
            quality=None,
            macro_block_size=1,
            ffmpeg_log_level="error",
            output_params=[
                "-crf",
                "23",
                "-preset",
                "veryfast",
                "-vf",
                "pad=ceil(iw/2)*2:ceil(ih/2)*2",
                "-movflags",
                "+faststart",
            ],
        )
        try:
            self.writer.send(None)
        except (OSError, RuntimeError) as e:
            raise NoEncoder(f"annotated video skipped: ffmpeg could not start ({e})") from None

    def add(self, frame: np.ndarray, faces: list[FaceMark]) -> None:
        image = Image.fromarray(frame)
        if faces:  # the bar panels first, translucent over the frame, then every box and label over them
            panels = Image.new("RGBA", image.size, (0, 0, 0, 0))
            panel_draw = ImageDraw.Draw(panels)
            for face in faces:
                self.draw_bars(panel_draw, face.probabilities, face.box, image.width, image.height)
            image = Image.alpha_composite(image.convert("RGBA"), panels).convert("RGB")
        draw = ImageDraw.Draw(image)
        for face in faces:
            self.draw_face(draw, face)
        if image.size != self.size:  # the picture's size changed mid-stream: drawn at its own size, shown at the first
            image = image.resize(self.size, Image.BILINEAR)
        self.last = np.ascontiguousarray(np.asarray(image))
        self.writer.send(self.last)

    def hold(self) -> None:
        """The last frame once more (black before any), in place of one that did not decode: the video keeps its timing."""
        self.writer.send(self.last)

    def draw_face(self, draw: ImageDraw.ImageDraw, face: FaceMark) -> None:
        """The face's box, and its id, top emotion and probability above it, in that emotion's colour."""
        x1, y1, x2, y2 = face.box
        top = int(np.argmax(face.probabilities))
        colour = EMOTION_COLOURS[CLASSES[top]]
        draw.rectangle((x1, y1, x2, y2), outline=rgb(colour), width=self.line)
        label = f"{face.face_id} {CLASSES[top]} {face.probabilities[top]:.2f}"
        left, upper, right, lower = draw.textbbox((x1, y1), label, font=self.font)
        label_y = y1 - (lower - upper) - 2 * self.line if y1 - (lower - upper) - 2 * self.line >= 0 else y2 + self.line
        draw.rectangle(
            (x1, label_y, x1 + right - left + 2 * self.line, label_y + lower - upper + 2 * self.line), fill=rgb(colour)
        )
        draw.text((x1 + self.line, label_y + self.line - (upper - y1)), label, fill=ink(colour), font=self.font)

    def draw_bars(
        self,
        draw: ImageDraw.ImageDraw,
        probabilities: np.ndarray,
        box: tuple[float, float, float, float],
        frame_width: int,
        frame_height: int,
    ) -> None:
        """Each emotion's first three letters and a bar of its probability, in CLASSES order, on a
        translucent dark panel right of the box (left of it where the frame has no room), its top at the box's top."""
        x1, y1, x2, _ = box
        row, pad = self.bar_font.size + 3, 3
        names = max(draw.textlength(c[:3], font=self.bar_font) for c in CLASSES)
        length = 3 * self.bar_font.size  # a probability of 1
        width, height = pad * 3 + names + length, pad * 2 + row * len(CLASSES)
        left = x2 + self.line if x2 + self.line + width <= frame_width else max(0, x1 - self.line - width)
        top = min(max(0, y1), max(0, frame_height - height))
        draw.rectangle((left, top, left + width, top + height), fill=(16, 16, 16, 150))
        for k, (emotion, p) in enumerate(zip(CLASSES, probabilities)):
            y = top + pad + k * row
            draw.text((left + pad, y), emotion[:3], fill=(245, 245, 245, 255), font=self.bar_font)
            start = left + 2 * pad + names
            draw.rectangle((start, y + 2, start + max(1, p * length), y + row - 2), fill=(*rgb(EMOTION_COLOURS[emotion]), 255))

    def close(self) -> None:
        self.writer.close()
