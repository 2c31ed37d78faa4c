"""annotated.mp4 and faces.png: the right frames, colours, places and tiles."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import videmo
from videmo.cli import main
from videmo.core.emotions import EMOTION_COLOURS
from videmo.results.figures import TILE, FaceSheet, tile_places, write_faces_png


def rgb(hex_colour):
    return np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])


@pytest.fixture(scope="module")
def annotated(one_face_video, tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("annotated")
    result = CliRunner().invoke(
        main,
        ["analyze", str(one_face_video), "-w", str(tiny_checkpoint), "-o", str(out), "--every", "2", "--annotate", "--quiet"],
    )
    assert result.exit_code == 0, result.output
    return out / "one_face"


def test_annotated_video_has_the_analysed_frames_size_and_rate(annotated):
    import decord

    reader = decord.VideoReader(str(annotated / "annotated.mp4"))
    assert len(reader) == 15  # 30 frames, every 2nd
    assert reader[0].shape == (240, 320, 3)
    assert reader.get_avg_fps() == pytest.approx(5.0, rel=0.01)  # a 10 fps video, every 2nd frame
    summary = json.loads((annotated / "summary.json").read_text())
    assert "annotated.mp4" in summary["files"] and "faces.png" in summary["files"]


def test_each_face_is_boxed_in_its_emotions_colour(annotated):
    import decord

    frames = videmo.read_results(annotated)
    reader = decord.VideoReader(str(annotated / "annotated.mp4"))
    for k in (0, 7, 14):
        row = frames.iloc[k]
        image = reader[k].asnumpy().astype(int)
        x1, y1, x2, y2 = (int(round(row[c])) for c in ("x1", "y1", "x2", "y2"))
        expected = rgb(EMOTION_COLOURS[row["emotion"]])
        left_edge = image[(y1 + y2) // 2 - 4 : (y1 + y2) // 2 + 4, x1 + 1 : x1 + 3].reshape(-1, 3)
        assert np.abs(left_edge.mean(axis=0) - expected).max() < 40, (left_edge.mean(axis=0), expected)


def sheet_tiles(path) -> int:
    """Tiles counted from the layout: each tile's coloured border crosses a row through its middle twice."""
    image = np.asarray(Image.open(path).convert("RGB")).astype(int)
    tiles = 0
    for y in sorted({y for _, y in tile_places(64)[2]}):
        y += TILE // 2
        if y >= image.shape[0]:
            break
        coloured = (np.abs(image[y] - 255).max(axis=1) > 60) & (image[y].max(axis=1) - image[y].min(axis=1) > 30)
        tiles += int(np.count_nonzero(np.diff(coloured.astype(int)) == 1)) // 2
    return tiles


def fake_tracks(n):
    shares = {c: 0.0 for c in EMOTION_COLOURS}
    return [
        {
            "face_id": i,
            "first_s": 0.0,
            "last_s": 1.0,
            "n_frames": 3,
            "dominant_emotion": "anger",
            "emotion_share": {**shares, "anger": 1.0},
        }
        for i in range(n)
    ]


@pytest.mark.parametrize("n", [1, 2, 7, 60])
def test_face_sheet_has_one_tile_per_track(tmp_path, n):
    write_faces_png(FaceSheet(), fake_tracks(n), tmp_path / "faces.png", "video.mp4")
    assert sheet_tiles(tmp_path / "faces.png") == n


def test_face_sheet_of_the_analysed_video(annotated):
    summary = json.loads((annotated / "summary.json").read_text())
    assert len(summary["tracks"]) == 1
    image = np.asarray(Image.open(annotated / "faces.png").convert("RGB"))
    x, y = tile_places(1)[2][0]
    tile = image[y : y + TILE, x : x + TILE].astype(int)
    assert tile[10:-10, 10:-10].std() > 10, "the tile shows a face, not a blank"


def test_no_face_sheet_says_so(no_face_video, tiny_checkpoint, tmp_path):
    result = CliRunner().invoke(main, ["analyze", str(no_face_video), "-w", str(tiny_checkpoint), "-o", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    image = np.asarray(Image.open(tmp_path / "no_face" / "faces.png").convert("RGB")).astype(int)
    assert sheet_tiles(tmp_path / "no_face" / "faces.png") == 0
    assert (image[40:70].min(axis=2) < 100).any(), "the sheet carries its 'no face found' line"


def test_without_an_encoder_the_video_is_skipped_with_a_note(one_face_video, tiny_checkpoint, tmp_path, monkeypatch):
    import imageio_ffmpeg

    def missing():
        raise RuntimeError("No ffmpeg exe could be found")

    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", missing)
    result = CliRunner().invoke(
        main,
        [
            "analyze",
            str(one_face_video),
            "-w",
            str(tiny_checkpoint),
            "-o",
            str(tmp_path),
            "--every",
            "5",
            "--annotate",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "annotated video skipped: no ffmpeg" in result.output
    folder = tmp_path / "one_face"
    assert not (folder / "annotated.mp4").exists() and (folder / "faces.png").is_file() and (folder / "summary.json").is_file()
    assert not list(tmp_path.glob(".*"))
