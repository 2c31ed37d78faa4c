"""See the results: an annotated video, streamed frame by frame, and a sheet of each track's face.

Both use the emotion colours of ``timeline.png`` and report.html (``write.EMOTION_COLOURS``). The face
sheet records where each face's crop lies in a PNG text chunk (``TILES_KEY``), so that ``videmo
episodes`` redraws it with new captions from the crops alone, without the video.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

from .checkpoint import CLASSES
from .errors import VidemoError, plural
from .write import EMOTION_COLOURS, ink

# The face sheet's layout, in pixels: legible at 100% (captions of 15 px type, a face 160 px high).
TILE, GAP, HEADER, CAPTION, BORDER = 160, 14, 40, 62, 4  # tile side, space between tiles, title band, captions, frame
TILES_KEY = "videmo:tiles"  # faces.png's text chunk: {"tile": side, "faces": {face_id: [x, y]}} of each crop


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
        self.bar_font = font(max(10, round(min(width, height) / 36)))
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
        if faces:  # the bar panels first, translucent over the frame, then every box and label over them
            panels = Image.new("RGBA", image.size, (0, 0, 0, 0))
            panel_draw = ImageDraw.Draw(panels)
            for face in faces:
                self.draw_bars(panel_draw, face.probabilities, face.box, image.width, image.height)
            image = Image.alpha_composite(image.convert("RGBA"), panels).convert("RGB")
        draw = ImageDraw.Draw(image)
        for face in faces:
            self.draw_face(draw, face)
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
        draw.rectangle((x1, label_y, x1 + right - left + 2 * self.line, label_y + lower - upper + 2 * self.line), fill=rgb(colour))
        draw.text((x1 + self.line, label_y + self.line - (upper - y1)), label, fill=ink(colour), font=self.font)

    def draw_bars(self, draw: ImageDraw.ImageDraw, probabilities: np.ndarray, box: tuple[float, float, float, float],
                  frame_width: int, frame_height: int) -> None:
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


def tile_places(count: int) -> tuple[int, int, list[tuple[int, int]]]:
    """The face sheet's width and height for ``count`` tiles, and each tile's top-left corner."""
    columns = max(1, min(8, math.ceil(math.sqrt(count))))
    rows = max(1, math.ceil(count / columns))
    places = [(GAP + (n % columns) * (TILE + GAP), HEADER + (n // columns) * (TILE + CAPTION + GAP)) for n in range(count)]
    return max(columns * (TILE + GAP) + GAP, 360), HEADER + rows * (TILE + CAPTION + GAP), places


def tile_captions(track: dict) -> tuple[str, str, str]:
    """A face's three caption lines: its id; when it was seen, in how many frames; its dominant emotion and share."""
    emotion = track["dominant_emotion"]
    return (f"face {track['face_id']}", f"{track['first_s']:.1f}-{track['last_s']:.1f} s, {plural(track['n_frames'], 'frame')}",
            f"{emotion} {track['emotion_share'][emotion]:.0%}")


def write_faces_png(sheet: FaceSheet, tracks: list[dict], path: Path, title: str) -> None:
    """One tile per track, in face_id order: the face framed in its dominant emotion's colour, its id,
    frames, first and last time, and dominant emotion with its share; a sheet that says so when there
    was no face. Where each crop lies goes into the PNG's ``TILES_KEY`` chunk."""
    width, height, places = tile_places(len(tracks))
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((GAP, 10), title, fill="black", font=font(18))
    if not tracks:
        draw.text((GAP, HEADER + 10), "no face found", fill="black", font=font(16))
    bold, small = font(16), font(15)  # the caption lines' type, in pixels
    for (x, y), track in zip(places, tracks):
        face = sheet.best.get(track["face_id"])
        emotion = track["dominant_emotion"]
        draw.rectangle((x - BORDER, y - BORDER, x + TILE + BORDER - 1, y + TILE + BORDER - 1), fill=rgb(EMOTION_COLOURS[emotion]))
        if face is not None:
            image.paste(Image.fromarray(face[1]).resize((TILE, TILE), Image.BILINEAR), (x, y))
        else:
            draw.rectangle((x, y, x + TILE - 1, y + TILE - 1), fill=(235, 235, 235))
        top = y + TILE + BORDER + 3
        name, when, share = tile_captions(track)
        draw.text((x, top), name, fill="black", font=bold)
        draw.text((x, top + 19), when, fill="black", font=small)
        draw.rectangle((x, top + 42, x + 11, top + 53), fill=rgb(EMOTION_COLOURS[emotion]))
        draw.text((x + 16, top + 38), share, fill="black", font=small)
    chunk = PngImagePlugin.PngInfo()
    chunk.add_text(TILES_KEY, json.dumps({"tile": TILE, "faces": {str(t["face_id"]): list(p) for t, p in zip(tracks, places)
                                                                  if t["face_id"] in sheet.best}}))
    image.save(path, pnginfo=chunk)


def read_face_sheet(path: Path) -> FaceSheet:
    """The crops of a faces.png that ``write_faces_png`` wrote (none from one without its ``TILES_KEY`` chunk)."""
    sheet = FaceSheet()
    with Image.open(path) as image:
        tiles = json.loads(image.text.get(TILES_KEY, '{"faces": {}}'))
        side = int(tiles.get("tile", TILE))
        for face_id, (x, y) in tiles["faces"].items():
            sheet.best[int(face_id)] = (math.inf, np.asarray(image.convert("RGB").crop((x, y, x + side, y + side))))
    return sheet
