"""How each face was seen, in frames.csv: the five points fall inside the face's box, a frontal face
sits near yaw 0, a mirrored video flips yaw and roll, and a video turned by a known angle moves roll
by that angle."""

import subprocess

import numpy as np
import pandas as pd
import pytest
from media import EXAMPLE, face_frames, face_sprite, ffmpeg, write_video
from PIL import Image

import videmo
from videmo.faces.pose import MEAN_FACE, head_pose


def seen(video, checkpoint, tmp_path) -> pd.DataFrame:
    frames = videmo.analyze(video, str(tmp_path / "out" / video.stem), weights=str(checkpoint), plots=False).frames
    faces = frames[frames["face_id"].notna()]
    assert len(faces) >= 3
    return faces


def turned_frames(degrees: float, n: int = 6) -> np.ndarray:
    """A still face, turned by ``degrees`` anticlockwise about its centre, on a grey ground."""
    canvas = np.full((240, 320, 3), 90, dtype=np.uint8)
    sprite = Image.fromarray(face_sprite(110)).rotate(degrees, resample=Image.BILINEAR, expand=True, fillcolor=(90, 90, 90))
    top, left = (240 - sprite.height) // 2, (320 - sprite.width) // 2
    canvas[top : top + sprite.height, left : left + sprite.width] = np.asarray(sprite)
    return np.repeat(canvas[None], n, axis=0)


@pytest.fixture(scope="module")
def still(tmp_path_factory):
    folder = tmp_path_factory.mktemp("geometry")
    frames = face_frames(8, moving=False)
    return write_video(folder / "still.mp4", frames), write_video(folder / "mirrored.mp4", frames[:, :, ::-1].copy())


@pytest.fixture(scope="module")
def audience(tmp_path_factory):
    """A second and a half of the example clip's closing shot (four people laughing, turned three-quarters to
    profile) and its mirror image."""
    folder = tmp_path_factory.mktemp("audience")
    plain, mirrored = folder / "audience.mp4", folder / "audience_mirrored.mp4"
    for target, extra in ((plain, []), (mirrored, ["-vf", "hflip"])):
        subprocess.run(
            [
                ffmpeg(),
                "-y",
                "-loglevel",
                "error",
                "-ss",
                "7.1",
                "-t",
                "1.5",
                "-i",
                str(EXAMPLE),
                *extra,
                "-an",
                "-c:v",
                "libx264",
                "-pix_fmt",
                "yuv420p",
                str(target),
            ],
            check=True,
        )
    return plain, mirrored


def test_a_mirrored_video_flips_yaw_and_roll(audience, tiny_checkpoint, tmp_path):
    plain, mirrored = (seen(video, tiny_checkpoint, tmp_path) for video in audience)
    width = 640
    pairs = 0
    for _, face in plain.groupby("face_id"):
        centre = ((face["x1"] + face["x2"]) / 2).median()
        match = mirrored.groupby("face_id").filter(lambda f: abs(width - ((f["x1"] + f["x2"]) / 2).median() - centre) < 20)
        if match.empty:
            continue
        pairs += 1
        yaw, other = face["yaw"].median(), match["yaw"].median()
        assert np.sign(other) == -np.sign(yaw) and other == pytest.approx(-yaw, abs=max(8, 0.25 * abs(yaw)))
        assert match["roll"].median() == pytest.approx(-face["roll"].median(), abs=8)  # the eye line of a profile is short
    assert pairs >= 4
    assert plain.groupby("face_id")["yaw"].median().abs().max() > 30  # turned faces, measured as turned


@pytest.mark.parametrize("degrees", [15, -20])
def test_a_video_turned_by_a_known_angle_moves_roll_by_it(degrees, tiny_checkpoint, tmp_path):
    upright = seen(write_video(tmp_path / "upright.mp4", turned_frames(0)), tiny_checkpoint, tmp_path)["roll"].median()
    turned = seen(write_video(tmp_path / "turned.mp4", turned_frames(degrees)), tiny_checkpoint, tmp_path)["roll"].median()
    # PIL turns anticlockwise: the eye on the image's right rises, the eye line's angle falls
    assert turned - upright == pytest.approx(-degrees, abs=3)


def test_head_pose_recovers_the_turn_of_a_projected_mean_face():
    def projected(yaw: float, pitch: float) -> np.ndarray:
        y, p = np.radians([yaw, pitch])
        turn = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
        tilt = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
        points = MEAN_FACE @ (tilt @ turn).T
        return np.stack([200 + 2 * points[:, 0], 200 - 2 * points[:, 1]], axis=1)

    for yaw, pitch in [(0, 0), (30, 0), (-45, 0), (0, 20), (0, -15)]:
        assert head_pose(projected(yaw, pitch)[None])[0, :2] == pytest.approx([yaw, pitch], abs=0.5)
    assert np.isnan(head_pose(np.full((1, 5, 2), np.nan))).all()
