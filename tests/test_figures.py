"""Figures a scientist can publish: one colour-blind-safe palette everywhere, timeline.png's episode
band on an axis of its own, a legible face sheet with plural-aware captions, labelled bars in
annotated.mp4, and --no-plots for large batches."""

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from conftest import invoke
from PIL import Image

import videmo
from videmo.core.emotions import CLASSES, EMOTION_COLOURS, ink
from videmo.results.annotated import AnnotatedVideoWriter, FaceMark
from videmo.results.figures import TILE, FaceSheet, read_face_sheet, tile_captions, tile_places, timeline_figure, write_faces_png

# Machado, Oliveira and Fernandes (2009): linear-RGB matrices that show colours as protanopes and deuteranopes see them.
SIGHT = {
    "normal": np.eye(3),
    "protanopia": np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]]),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]]),
}


def linear(colour: str) -> np.ndarray:
    c = np.array([int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def lab(rgb: np.ndarray) -> np.ndarray:
    xyz = (
        np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
        @ rgb
        / np.array([0.95047, 1, 1.08883])
    )
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


@pytest.mark.parametrize("sight", SIGHT)
def test_no_two_emotions_look_alike_to_colour_blind_readers(sight):
    seen = {c: lab(np.clip(SIGHT[sight] @ linear(colour), 0, 1)) for c, colour in EMOTION_COLOURS.items()}
    closest = min((float(np.linalg.norm(seen[a] - seen[b])), a, b) for a, b in itertools.combinations(CLASSES, 2))
    assert closest[0] > 17, closest  # the old palette's disgust and happiness were 2.8 apart under protanopia


def test_text_on_each_colour_is_the_readable_one():
    assert ink(EMOTION_COLOURS["sadness"]) == "#ffffff" and ink(EMOTION_COLOURS["neutral"]) == "#000000"
    assert ink(EMOTION_COLOURS["happiness"]) == "#000000"


def frames_and_episodes():
    """Two faces over 4 s at 10 frames/s: face 0 happy then sad, face 1 neutral; their episodes."""
    rows = []
    for face_id in (0, 1):
        for k in range(40):
            p = {c: 0.02 for c in CLASSES}
            top = "neutral" if face_id else ("happiness" if k < 20 else "sadness")
            p[top] = 0.88
            rows.append({"frame": k, "time_s": k / 10, "face_id": face_id, **p, "emotion": top})
    frames = pd.DataFrame(rows).astype({"face_id": "Int64"})
    frames["short_track"] = False
    episodes = pd.DataFrame(
        {
            "face_id": [0, 0, 1],
            "emotion": ["happiness", "sadness", "neutral"],
            "t_start": [0.0, 2.0, 0.0],
            "duration_s": [2.0, 2.0, 4.0],
        }
    )
    return frames, episodes


def test_the_episode_band_is_labelled_and_off_the_probability_axis():
    frames, episodes = frames_and_episodes()
    figure = timeline_figure(frames, "video.mp4", episodes)
    probability, band = (
        [a for a in figure.axes if "p(emotion)" in a.get_ylabel()],
        [a for a in figure.axes if a.get_ylabel() == "episodes"],
    )
    assert len(probability) == len(band) == 2
    for axis, episodes in zip(probability, band):
        assert axis.get_ylim() == (0, 1)  # nothing drawn below 0 on the probability scale
        above, below = axis.get_position(), episodes.get_position()
        assert below.y1 <= above.y0  # the band lies beneath, on its own axis
        assert below.height < above.height / 2
    named = sorted(t.get_text() for t in band[0].texts)
    assert named == ["happiness", "sadness"]  # each episode named on the band
    assert [t.get_text() for t in figure.legends[0].get_texts()] == list(CLASSES)


def test_timeline_png_is_drawn_in_the_palette(tmp_path):
    frames, episodes = frames_and_episodes()
    figure = timeline_figure(frames, "video.mp4", episodes)
    figure.savefig(tmp_path / "timeline.png", dpi=100)
    image = np.asarray(Image.open(tmp_path / "timeline.png").convert("RGB")).reshape(-1, 3).astype(int)
    for emotion in ("happiness", "sadness", "neutral"):
        colour = np.array([int(EMOTION_COLOURS[emotion][i : i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(image - colour).max(axis=1) <= 2).sum() > 500, emotion


def tracks(frames_seen):
    share = {c: 0.0 for c in CLASSES}
    return [
        {
            "face_id": i,
            "first_s": 0.0,
            "last_s": 1.25,
            "n_frames": n,
            "dominant_emotion": "fear",
            "emotion_share": {**share, "fear": 1.0},
        }
        for i, n in enumerate(frames_seen)
    ]


def test_captions_count_frames_in_words():
    one, many = tracks([1, 2])
    assert tile_captions(one) == ("face 0", "0.0-1.2 s, 1 frame", "fear 100%")
    assert tile_captions(many)[1].endswith("2 frames")


def test_face_sheet_tiles_and_captions_are_legible_at_full_size(tmp_path):
    write_faces_png(FaceSheet(), tracks([5] * 6), tmp_path / "faces.png", "video.mp4")
    image = np.asarray(Image.open(tmp_path / "faces.png").convert("L")).astype(int)
    assert TILE >= 160 and image.shape[1] >= 3 * TILE
    x, y = tile_places(6)[2][0]
    caption = image[y + TILE + 5 : y + TILE + 26, x : x + TILE] < 128  # the first caption line, "face 0", in black type
    rows = np.flatnonzero(caption.any(axis=1))
    assert rows.max() - rows.min() + 1 >= 11  # capitals at least 11 px high (they were 8 px)


def test_face_crops_come_back_from_faces_png(tmp_path):
    sheet = FaceSheet()
    rng = np.random.default_rng(0)
    for face_id in (0, 3):
        sheet.offer(rng.integers(0, 255, (200, 200, 3), dtype=np.uint8), face_id, (50, 50, 150, 150), 0.99)
    listed = tracks([4, 4, 4, 4])
    write_faces_png(sheet, listed, tmp_path / "faces.png", "video.mp4")
    again = read_face_sheet(tmp_path / "faces.png")
    assert sorted(again.best) == [0, 3]
    for face_id in (0, 3):
        assert np.array_equal(again.best[face_id][1], sheet.best[face_id][1])  # pixel for pixel: the sheet is lossless


def test_annotated_bars_are_labelled_and_in_the_palette(tmp_path):
    writer = AnnotatedVideoWriter(tmp_path / "a.mp4", 640, 360, 10)
    probabilities = np.array([0.05, 0.05, 0.05, 0.6, 0.1, 0.05, 0.1])
    writer.add(np.full((360, 640, 3), 90, np.uint8), [FaceMark(0, (100.0, 100.0, 180.0, 190.0), probabilities)])
    writer.close()
    frame = writer.last.astype(int)
    panel = frame[100:220, 185:260]
    for emotion, p in zip(CLASSES, probabilities):
        colour = np.array([int(EMOTION_COLOURS[emotion][i : i + 2], 16) for i in (1, 3, 5)])
        found = np.argwhere(np.abs(panel - colour).max(axis=2) <= 3)
        assert len(found), emotion
    rows = {
        e: np.argwhere(np.abs(panel - np.array([int(EMOTION_COLOURS[e][i : i + 2], 16) for i in (1, 3, 5)])).max(axis=2) <= 3)
        for e in CLASSES
    }
    left = int(np.median([found[:, 1].min() for found in rows.values()]))  # where the bars start (grey letters may match neutral)
    bars = {e: found[found[:, 1] >= left] for e, found in rows.items()}
    assert [e for e, _ in sorted(bars.items(), key=lambda item: item[1][:, 0].mean())] == list(
        CLASSES
    )  # in CLASSES order, top down
    length = {e: np.ptp(found[:, 1]) + 1 for e, found in bars.items()}
    assert length["happiness"] > 4 * length["surprise"]  # bar length follows the probability
    assert left > 10 and (panel[:, :left] > 200).all(axis=2).sum() > 40  # light letters left of the bars: their names


def test_no_plots_skips_the_pngs_and_the_report_says_so(one_face_video, tiny_checkpoint, tmp_path):
    result = invoke("analyze", one_face_video, "-w", tiny_checkpoint, "-o", tmp_path, "--every", "3", "--no-plots", "-q")
    assert result.exit_code == 0, result.output
    folder = tmp_path / "one_face"
    assert not (folder / "timeline.png").exists() and not (folder / "faces.png").exists()
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["settings"]["plots"] is False and not {"timeline.png", "faces.png"} & set(summary["files"])
    assert len(videmo.read_episodes(folder)) >= 1  # the tables are all there
    report = (tmp_path / "report.html").read_text()
    assert "no faces.png" in report and "no timeline.png" in report
