"""The figures of a results folder: ``timeline.png`` (each face's probabilities and episodes over
time) and ``faces.png`` (one tile per face, its crop places recorded in a PNG text chunk so that
``videmo episodes`` redraws it without the video)."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

from videmo.core.emotions import CLASSES, EMOTION_COLOURS, ink
from videmo.core.errors import plural
from videmo.results.episodes import GAP_FRAMES, frame_step
from videmo.results.tables import ranked, tracked

if TYPE_CHECKING:
    from matplotlib.figure import Figure


TIMELINE_FACES = 6  # panels in timeline.png: the faces seen in most frames


def write_timeline_png(frames: pd.DataFrame, path: Path, title: str, episodes: pd.DataFrame) -> None:
    with warnings.catch_warnings():  # a title's character the font lacks (an emoji in a file name) is drawn as a box, not said
        warnings.filterwarnings("ignore", message="Glyph .* missing from", category=UserWarning)
        timeline_figure(frames, title, episodes).savefig(path, dpi=100)


def seen_stretches(times: np.ndarray, step: float) -> list[np.ndarray]:
    """The positions of each stretch of a track's ascending ``times`` without a gap longer than
    ``GAP_FRAMES`` analysed frames: where a gap ends an episode, the timeline breaks too."""
    return np.split(np.arange(len(times)), np.flatnonzero(np.diff(times) > GAP_FRAMES * step + 1e-9) + 1) if len(times) else []


def timeline_figure(frames: pd.DataFrame, title: str, episodes: pd.DataFrame) -> Figure:
    """Each track's emotion probabilities over time, stacked to 1, one panel per track (the
    ``TIMELINE_FACES`` seen in most frames), and beneath it a band of its episodes on an axis of its
    own, each named where it is wide enough. A Figure of its own, not pyplot's: a notebook's backend
    is left as it was."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    faces = tracked(frames)
    counts = faces["face_id"].value_counts()
    shown = sorted(counts.index[:TIMELINE_FACES].tolist())
    panels = max(len(shown), 1)
    figure = Figure(figsize=(10, 2.3 * panels + 1.3))
    grid = figure.add_gridspec(panels, 1, hspace=0.3)  # a face's probabilities and episodes close together, the faces apart
    times = frames["time_s"].dropna()
    start = float(times.min()) if len(times) else 0.0
    step = frame_step(frames)
    end = max(float(times.max()) + step if len(times) else 1.0, start + 1e-3)
    first = None
    for k, face_id in enumerate(shown or [None]):
        pair = grid[k].subgridspec(2, 1, height_ratios=[4, 1], hspace=0.08)
        axis = figure.add_subplot(pair[0], sharex=first)
        band = figure.add_subplot(pair[1], sharex=axis)
        first = first or axis
        axis.set_xlim(start, end)
        axis.tick_params(labelbottom=False)
        if face_id is None:
            axis.text(0.5, 0.5, "no face found", ha="center", va="center", transform=axis.transAxes, fontsize=12)
            axis.set_yticks([])
            axis.tick_params(labelbottom=True)
            band.remove()
            continue
        rows = faces[faces["face_id"] == face_id].sort_values("time_s")
        for piece in seen_stretches(rows["time_s"].to_numpy(), step):  # nothing drawn where the face was not seen
            part = rows.iloc[piece]  # each frame drawn from its time to the next frame's, as its episode counts it
            axis.stackplot(
                np.append(part["time_s"].to_numpy(), part["time_s"].iloc[-1] + step),
                *(np.append(part[c].to_numpy(), part[c].iloc[-1]) for c in CLASSES),
                colors=[EMOTION_COLOURS[c] for c in CLASSES],
                step="post",
            )
        axis.set_ylim(0, 1)
        axis.set_yticks([0, 0.5, 1])
        axis.set_ylabel(f"face {face_id}\np(emotion)", fontsize=10)
        mine = episodes[episodes["face_id"] == face_id]
        band.broken_barh(
            list(zip(mine["t_start"], mine["duration_s"])),
            (0, 1),
            facecolors=[EMOTION_COLOURS[e] for e in mine["emotion"]],
            edgecolor="white",
            linewidth=0.8,
        )
        for episode in mine.itertuples(
            index=False
        ):  # named where the name fits (the axes are about 880 px wide, a letter at 9 pt 7 px)
            if episode.duration_s / (end - start) * 10 * 88 > 7.5 * len(episode.emotion) + 10:
                band.text(
                    episode.t_start + episode.duration_s / 2,
                    0.5,
                    episode.emotion,
                    ha="center",
                    va="center",
                    fontsize=9,
                    color=ink(EMOTION_COLOURS[episode.emotion]),
                )
        band.set_ylim(0, 1)
        band.set_yticks([])
        band.set_ylabel("episodes", rotation=0, ha="right", va="center", fontsize=9)
        band.tick_params(labelbottom=k == len(shown) - 1)
    figure.axes[-1].set_xlabel("time in the video (s)")
    hidden = len(counts) - len(shown)
    suffix = f" ({len(shown)} of {len(counts)} faces, those seen longest)" if hidden > 0 else ""
    figure.suptitle(f"{title}{suffix}", fontsize=12)
    figure.legend(
        [Patch(color=EMOTION_COLOURS[c]) for c in CLASSES],
        list(CLASSES),
        loc="upper center",
        ncol=len(CLASSES),
        bbox_to_anchor=(0.5, 1 - 0.45 / figure.get_figheight()),
        fontsize=10,
        frameon=False,
    )
    figure.subplots_adjust(left=0.1, right=0.98, top=1 - 0.85 / figure.get_figheight(), bottom=0.55 / figure.get_figheight())
    return figure


# The face sheet's layout, in pixels: legible at 100% (captions of 15 px type, a face 160 px high).
TILE, GAP, HEADER, CAPTION, BORDER = 160, 14, 40, 84, 4  # tile side, space between tiles, title band, captions, frame


TILES_KEY = "videmo:tiles"  # faces.png's text chunk: {"tile": side, "faces": {face_id: [x, y]}} of each crop


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))


def font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one fixed size
        return ImageFont.load_default()


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
    """A face's three caption lines: its id and how it was turned; when it was seen, in how many readable
    frames (of all, where some were unreadable); its dominant emotion and share."""
    emotion = track["dominant_emotion"]
    seen = track.get("seen") or {}
    turned = f" \u00b7 yaw {seen['yaw']:+.0f}\u00b0" if seen.get("yaw") is not None else ""
    unreadable = seen.get("unreadable_frames") or 0
    frames = f"{track['n_frames']}/{track['n_frames'] + unreadable} frames" if unreadable else plural(track["n_frames"], "frame")
    return (
        f"face {track['face_id']}{turned}",
        f"{track['first_s']:.1f}-{track['last_s']:.1f} s, {frames}",
        f"{emotion} {track['emotion_share'][emotion]:.0%}",
    )


def runner_up_caption(track: dict) -> tuple[str | None, str]:
    """A face's fourth caption line, so that a close call shows: its runner-up emotion and that one's
    share ('vs neutral 38%'); (None, '') for a face without one."""
    runner_up, share = track.get("runner_up"), track.get("runner_up_share")
    if "runner_up" not in track:  # a summary from before the runner-up
        _, _, runner_up, share = ranked(track["emotion_share"])
    return (runner_up, f"vs {runner_up} {share:.0%}") if runner_up else (None, "")


def write_faces_png(sheet: FaceSheet, tracks: list[dict], path: Path, title: str) -> None:
    """One tile per track, in face_id order: the face framed in its dominant emotion's colour, its id,
    frames, first and last time, dominant emotion with its share and the runner-up with its; a sheet that says so when there
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
        runner_up, versus = runner_up_caption(track)
        if runner_up in EMOTION_COLOURS:
            draw.rectangle((x + 3, top + 64, x + 11, top + 72), fill=rgb(EMOTION_COLOURS[runner_up]))
            draw.text((x + 16, top + 58), versus, fill="black", font=small)
    chunk = PngImagePlugin.PngInfo()
    chunk.add_text(
        TILES_KEY,
        json.dumps(
            {"tile": TILE, "faces": {str(t["face_id"]): list(p) for t, p in zip(tracks, places) if t["face_id"] in sheet.best}}
        ),
    )
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
