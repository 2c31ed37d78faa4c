import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import invoke, make_checkpoint
from media import entries

import videmo
from videmo.cli import main
from videmo.core.errors import VidemoError
from videmo.core.files import file_sha256
from videmo.core.options import AnalyzeOptions
from videmo.results.io import OUTPUT_FILES
from videmo.run import runner

CLASSES = ["surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral"]
SEEN = [
    "confidence",
    "face_px",
    "yaw",
    "pitch",
    "roll",
    "sharpness",
    "brightness",
    *(f"{point}_{axis}" for point in ("eye_left", "eye_right", "nose", "mouth_left", "mouth_right") for axis in "xy"),
]
COLUMNS = [
    "frame",
    "time_s",
    "decoded",
    "face_id",
    "x1",
    "y1",
    "x2",
    "y2",
    "det_score",
    *CLASSES,
    "emotion",
    *SEEN,
    "emotion_smoothed",
    "short_track",
    "unreadable",
]


def run_cli(*args):
    """The real console script in a subprocess: exit status, stdout and stderr exactly as a user and a shell see
    them, Python's tracebacks and what C libraries write to file descriptor 2 included (``invoke`` runs the
    command in this process, for the tests that need neither)."""
    script = Path(sys.executable).with_name("videmo")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "videmo.cli"]
    return subprocess.run([*command, *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def one_face_results(one_face_video, tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    run = invoke("analyze", one_face_video, "--weights", tiny_checkpoint, "-o", out, "--quiet")
    assert run.exit_code == 0, run.stderr
    return out / "one_face", run


def test_writes_all_four_files_and_a_closing_line(one_face_results):
    folder, run = one_face_results
    assert sorted(os.listdir(folder)) == sorted(OUTPUT_FILES)
    assert "30 frames analysed" in run.stdout and "frames/s" in run.stdout


def test_one_face_keeps_one_id_in_every_frame(one_face_results):
    frames = videmo.read_results(folder=one_face_results[0])
    assert list(frames["frame"]) == list(range(30))
    assert frames["face_id"].notna().all() and set(frames["face_id"]) == {0}


def test_frames_csv_schema_dtypes_and_probabilities(one_face_results):
    frames = videmo.read_results(one_face_results[0])
    assert list(frames.columns) == COLUMNS
    assert str(frames["face_id"].dtype) == "Int64" and frames["frame"].dtype == np.int64
    assert all(frames[c].dtype == np.float64 for c in ["time_s", "x1", "y1", "x2", "y2", "det_score", *CLASSES])
    np.testing.assert_allclose(frames[CLASSES].sum(axis=1), 1.0, atol=1e-4)
    assert (frames["emotion"] == frames[CLASSES].idxmax(axis=1)).all()
    assert ((frames["x2"] > frames["x1"]) & (frames["y2"] > frames["y1"])).all()
    assert frames["x1"].min() >= 0 and frames["x2"].max() <= 320 and frames["y2"].max() <= 240
    np.testing.assert_allclose(frames["time_s"], frames["frame"] / 10, atol=1e-3)


def test_timeline_and_summary(one_face_results):
    folder = one_face_results[0]
    timeline = pd.read_csv(folder / "timeline.csv")
    assert list(timeline.columns) == ["face_id", "t_start", "t_end", "n_frames", *CLASSES, "emotion"]
    assert list(timeline["t_start"]) == [0.0, 1.0, 2.0] and timeline["n_frames"].sum() == 30
    np.testing.assert_allclose(timeline[CLASSES].sum(axis=1), 1.0, atol=1e-4)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["video"]["frame_count"] == 30 and summary["video"]["width"] == 320 and summary["video"]["codec"] == "h264"
    assert summary["counts"] == {
        "frames_analysed": 30,
        "frames_undecodable": 0,
        "frames_with_faces": 30,
        "faces": 30,
        "tracks": 1,
        "short_tracks": 0,
        "unreadable_face_frames": 0,
        "episodes": len(videmo.read_episodes(folder)),
    }
    assert summary["model"]["arch"] == "awei" and len(summary["model"]["sha256"]) == 64
    track = summary["tracks"][0]
    assert track["dominant_emotion"] in CLASSES and abs(sum(track["emotion_share"].values()) - 1) < 1e-3
    frames = videmo.read_results(folder)
    smoothed, raw = frames["emotion_smoothed"].value_counts(normalize=True), frames["emotion"].value_counts(normalize=True)
    assert track["dominant_emotion"] == smoothed.idxmax()  # the label its episodes carry, not the single-frame one
    assert track["emotion_share"] == pytest.approx({c: smoothed.get(c, 0) for c in CLASSES}, abs=1e-4)
    assert track["emotion_share_raw"] == pytest.approx({c: raw.get(c, 0) for c in CLASSES}, abs=1e-4)
    assert summary["videmo_version"] == videmo.__version__ and summary["frames_per_second"] > 0


def test_api_returns_the_csv_rows(one_face_video, tiny_checkpoint, one_face_results):
    from_api = videmo.analyze(one_face_video, weights=str(tiny_checkpoint)).frames
    from_csv = videmo.read_results(one_face_results[0])
    pd.testing.assert_frame_equal(from_api, from_csv, check_exact=False, rtol=1e-4)


def test_two_faces_get_two_ids(two_face_video, tiny_checkpoint):
    frames = videmo.analyze(two_face_video, weights=str(tiny_checkpoint)).frames
    assert set(frames["face_id"]) == {0, 1}
    assert (frames.groupby("frame")["face_id"].nunique() == 2).all()
    left = frames[frames["x1"] < 240]["face_id"]
    assert left.nunique() == 1


def test_no_face_gives_one_empty_row_per_frame(no_face_video, tiny_checkpoint, tmp_path):
    run = invoke("analyze", no_face_video, "-w", tiny_checkpoint, "-o", tmp_path, "-q")
    assert run.exit_code == 0, run.stderr
    frames = videmo.read_results(tmp_path / "no_face")
    assert list(frames["frame"]) == list(range(12))
    assert frames["face_id"].isna().all() and frames[["x1", *CLASSES]].isna().all().all() and frames["emotion"].isna().all()
    assert pd.read_csv(tmp_path / "no_face" / "timeline.csv").empty
    assert (tmp_path / "no_face" / "timeline.png").stat().st_size > 0


@pytest.mark.parametrize(
    "option, expected",
    [
        (["--every", "4"], [0, 4, 8, 12, 16, 20, 24, 28]),
        (["--fps", "2.5"], [0, 4, 8, 12, 16, 20, 24, 28]),
        (["--fps", "5"], list(range(0, 30, 2))),
        (["--fps", "50"], list(range(30))),
    ],
)
def test_fps_and_every_pick_frames_and_decoder_timestamps(one_face_video, tiny_checkpoint, tmp_path, option, expected):
    run = invoke("analyze", one_face_video, "-w", tiny_checkpoint, "-o", tmp_path, "-q", *option)
    assert run.exit_code == 0, run.stderr
    frames = videmo.read_results(tmp_path / "one_face")
    assert list(frames["frame"]) == expected
    np.testing.assert_allclose(frames["time_s"], np.array(expected) / 10, atol=1e-3)


def test_done_videos_are_skipped_and_overwrite_redoes_them(one_face_video, tiny_checkpoint, tmp_path):
    assert invoke("analyze", one_face_video, "-w", tiny_checkpoint, "-o", tmp_path, "-q").exit_code == 0
    marker = tmp_path / "one_face" / "frames.csv"
    before = marker.stat().st_mtime_ns
    again = invoke("analyze", one_face_video, "-w", tiny_checkpoint, "-o", tmp_path, "-q")
    assert again.exit_code == 0 and "already done" in again.stdout and marker.stat().st_mtime_ns == before
    redo = invoke("analyze", one_face_video, "-w", tiny_checkpoint, "-o", tmp_path, "-q", "--every", "3", "--overwrite")
    assert redo.exit_code == 0 and len(videmo.read_results(tmp_path / "one_face")) == 10
    assert entries(tmp_path) == ["one_face"]  # no partial or retired folder left behind


def test_redoing_results_keeps_the_users_own_files_in_their_folder(one_face_video, tiny_checkpoint, tmp_path):
    assert invoke("analyze", one_face_video, "-w", tiny_checkpoint, "-o", tmp_path, "-q").exit_code == 0
    folder = tmp_path / "one_face"
    (folder / "notes.txt").write_text("my annotations")
    (folder / "mine").mkdir()
    (folder / "mine" / "a.csv").write_text("x\n1\n")
    redo = invoke("analyze", one_face_video, "-w", tiny_checkpoint, "-o", tmp_path, "-q", "--every", "3", "--overwrite")
    assert redo.exit_code == 0 and len(videmo.read_results(folder)) == 10
    assert invoke("episodes", folder, "--smooth", "1").exit_code == 0
    assert (folder / "notes.txt").read_text() == "my annotations" and (folder / "mine" / "a.csv").read_text() == "x\n1\n"
    assert json.loads((folder / "summary.json").read_text())["settings"]["smooth_s"] == 1
    assert entries(tmp_path) == ["one_face"]


def test_a_failure_mid_write_leaves_no_folder(one_face_video, tiny_checkpoint, tmp_path, monkeypatch):
    from videmo.results import store as folders

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(folders, "write_timeline_png", broken)
    failed = runner.analyze_many(
        [str(one_face_video)], tmp_path, AnalyzeOptions(weights=str(tiny_checkpoint)), quiet=True, report=lambda line: None
    )
    assert failed == 1 and entries(tmp_path) == []


def test_videos_with_the_same_stem_do_not_collide(one_face_video, tiny_checkpoint, tmp_path):
    for sub in ("a", "b"):
        (tmp_path / "in" / sub).mkdir(parents=True)
        (tmp_path / "in" / sub / "clip.mp4").write_bytes(one_face_video.read_bytes())
    run = invoke("analyze", tmp_path / "in", "-w", tiny_checkpoint, "-o", tmp_path / "out", "-q", "--every", "10")
    assert run.exit_code == 0, run.stderr
    folders = entries(tmp_path / "out")
    assert len(folders) == 2 and folders[0] == "clip" and folders[1].startswith("clip-")
    owner = {f: json.loads((tmp_path / "out" / f / "summary.json").read_text())["video"]["path"] for f in folders}
    for sub in ("b", "a"):  # alone, each is done in its own folder, whatever ran beside it before
        video = tmp_path / "in" / sub / "clip.mp4"
        alone = invoke("analyze", video, "-w", tiny_checkpoint, "-o", tmp_path / "out", "-q", "--every", "10")
        assert alone.exit_code == 0 and "already done in" in alone.stdout
        done_in = alone.stdout.split("already done in ")[1].split(" (use")[0]
        assert owner[os.path.basename(done_in)] == str(video)
    assert entries(tmp_path / "out") == folders


def test_results_inside_an_input_folder_are_never_inputs(one_face_video, tiny_checkpoint, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "one_face.mp4").write_bytes(one_face_video.read_bytes())
    for _ in range(2):
        run = invoke(
            "analyze",
            tmp_path / "in",
            "-w",
            tiny_checkpoint,
            "-o",
            tmp_path / "in" / "results",
            "-q",
            "--every",
            "10",
            "--annotate",
        )
        assert run.exit_code == 0, run.stderr
    assert "annotated" not in run.stdout + run.stderr and "already done" in run.stdout
    assert entries(tmp_path / "in" / "results") == ["one_face"]


def test_a_video_finished_meanwhile_by_another_run_is_done_not_failed(one_face_video, tiny_checkpoint, tmp_path):
    from videmo.run.pipeline import Analyzer
    from videmo.run.runner import analyze_into

    analyzer = Analyzer(AnalyzeOptions(weights=str(tiny_checkpoint), every=10))
    folder = tmp_path / "out" / "one_face"
    analyze_into(analyzer, one_face_video, folder, overwrite=False, progress=False)  # the other run
    before = (folder / "summary.json").read_text()
    result = analyze_into(
        analyzer, one_face_video, folder, overwrite=False, progress=False
    )  # this one, started before it finished
    assert any("done by another run meanwhile" in note for note in result.notes)
    assert (folder / "summary.json").read_text() == before and entries(tmp_path / "out") == ["one_face"]


def test_a_users_own_files_in_the_results_folder_are_reported_before_analysing(one_face_video, tiny_checkpoint, tmp_path):
    (tmp_path / "out" / "one_face").mkdir(parents=True)
    (tmp_path / "out" / "one_face" / "notes.txt").write_text("mine")
    run = invoke("analyze", one_face_video, "-w", tiny_checkpoint, "-o", tmp_path / "out", "-q")
    assert run.exit_code == 1 and "holds files that videmo did not write" in run.stderr
    assert "frames analysed" not in run.stdout and os.listdir(tmp_path / "out" / "one_face") == ["notes.txt"]


def test_bad_inputs_are_reported_in_one_line_and_the_good_video_still_runs(one_face_video, tiny_checkpoint, tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "notes.mp4").write_text("this is not a video\n" * 50)
    (tmp_path / "no_videos").mkdir()
    bad = [tmp_path / "empty.mp4", tmp_path / "notes.mp4", tmp_path / "missing.mp4", tmp_path / "no_videos"]
    run = run_cli("analyze", *bad, one_face_video, "-w", tiny_checkpoint, "-o", tmp_path / "out", "-q", "--every", "10")
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if line.startswith("videmo: error:")]
    assert len(errors) == 4 and "Traceback" not in run.stderr
    for path, cause in zip(bad, ["empty", "not a video", "no such file", "no video files"]):
        assert any(str(path) in line and cause in line for line in errors), (path, errors)
    assert entries(tmp_path / "out") == ["one_face"]


def test_missing_weights_and_glob_paths(one_face_video, tiny_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setattr("videmo.model.checkpoint.default_weights", lambda: None)  # a partial clone: no models/
    for command in (["analyze", str(one_face_video), "-o", str(tmp_path), "-q"], ["evaluate", "--data", str(tmp_path)], ["info"]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 1, command
        assert (
            result.stderr
            == "videmo: error: no weights: pass a checkpoint (--weights CHECKPOINT); no default model is installed in models/\n"
        )
    run = invoke(
        "analyze", str(one_face_video.parent / "one_f*.mp4"), "-w", tiny_checkpoint, "-o", tmp_path, "-q", "--every", "10"
    )
    assert run.exit_code == 0 and (tmp_path / "one_face" / "summary.json").is_file()


@pytest.fixture(scope="module")
def short_stream_video(tmp_path_factory):
    """A one-face video whose index lists 20 frames and whose stream holds 17 (the first 3 dropped by an edit list)."""
    from media import drop_leading_frames, face_frames, write_video

    folder = tmp_path_factory.mktemp("short_stream")
    source = write_video(folder / "source.mp4", face_frames(20), fps=10, extra=["-bf", "0"])
    return drop_leading_frames(source, folder / "short_stream.mp4", 3)


@pytest.mark.parametrize(
    "option, expected", [([], list(range(17))), (["--every", "6"], [0, 6, 12]), (["--fps", "5"], list(range(0, 17, 2)))]
)
def test_a_stream_shorter_than_its_index_is_analysed(short_stream_video, tiny_checkpoint, tmp_path, option, expected):
    run = invoke(
        "analyze",
        short_stream_video,
        "-w",
        tiny_checkpoint,
        "-o",
        tmp_path,
        "-q",
        "--annotate",
        "--chunk",
        "4",
        "--lanes",
        "2",
        *option,
    )
    assert run.exit_code == 0, run.stderr
    closing = [line for line in run.stdout.splitlines() if "frames analysed" in line]
    assert len(closing) == 1 and closing[0].startswith(
        f"short_stream.mp4: {len(expected)} frames analysed (3 listed frames from frame 17 not in the stream)"
    )
    assert "note" not in run.stdout + run.stderr  # said once, in the closing line
    folder = tmp_path / "short_stream"
    frames = videmo.read_results(folder)
    assert list(frames["frame"]) == expected and frames["face_id"].notna().all()
    np.testing.assert_allclose(frames["time_s"], np.array(expected) / 10, atol=1e-3)  # the decoder's times, from 0
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["counts"]["frames_analysed"] == len(expected) and summary["video"]["frame_count"] == 20
    assert summary["frames_missing"] == {"count": 3, "from_frame": 17}
    import av

    with av.open(str(folder / "annotated.mp4")) as annotated:
        assert sum(1 for _ in annotated.decode(video=0)) == len(expected)


def test_a_whole_stream_reports_nothing_missing(one_face_results):
    summary = json.loads((one_face_results[0] / "summary.json").read_text())
    assert summary["frames_missing"] is None and "not in the stream" not in one_face_results[1].stdout
    assert summary["counts"]["frames_undecodable"] == 0 and summary["frames_undecodable"] == []
    assert videmo.read_results(one_face_results[0])["decoded"].all()


def test_a_file_that_cannot_be_read_on_says_from_where_in_the_closing_line_and_summary(tiny_checkpoint, tmp_path, monkeypatch):
    from media import face_frames, unreadable_after, write_video

    video = write_video(tmp_path / "source.mp4", face_frames(20), fps=10, extra=["-bf", "0"])
    unreadable_after(monkeypatch, 12)
    lines = []
    failed = runner.analyze_many(
        [str(video)], tmp_path / "out", AnalyzeOptions(weights=str(tiny_checkpoint), every=2), quiet=True, report=lines.append
    )
    assert failed == 0
    assert lines[-1].startswith(
        "source.mp4: 6 frames analysed (the file could not be read from frame 12 on: "
        "Input/output error; 4 frames from there have empty rows), "
    )
    summary = json.loads((tmp_path / "out" / "source" / "summary.json").read_text())
    assert summary["frames_unreadable"] == {"from_frame": 12, "cause": "Input/output error"}
    assert summary["frames_undecodable"] == [12, 14, 16, 18] and summary["frames_missing"] is None


@pytest.mark.parametrize("option, expected", [([], list(range(20))), (["--every", "3"], list(range(0, 20, 3)))])
def test_a_damaged_frame_gets_an_empty_row_and_the_frames_after_it_are_analysed(tiny_checkpoint, tmp_path, option, expected):
    from media import damage_frame, face_frames, write_video

    source = write_video(tmp_path / "source.mp4", face_frames(20), fps=10, extra=["-bf", "0"])
    (tmp_path / "videos").mkdir()
    damage_frame(source, tmp_path / "videos" / "damaged.mp4", 12)
    run = invoke(
        "analyze",
        tmp_path / "videos",
        "-w",
        tiny_checkpoint,
        "-o",
        tmp_path / "out",
        "-q",
        "--annotate",
        "--lanes",
        "2",
        "--chunk",
        "4",
        *option,
    )
    assert run.exit_code == 0, run.stderr
    closing = [line for line in run.stdout.splitlines() if "frames analysed" in line]
    assert closing[0].startswith(
        f"damaged.mp4: {len(expected) - 1} frames analysed (1 frame did not decode: damaged data at frame 12)"
    )
    frames = videmo.read_results(tmp_path / "out" / "damaged")
    assert list(frames["frame"]) == expected and list(frames["frame"][~frames["decoded"]]) == [12]
    assert frames.loc[~frames["decoded"], "face_id"].isna().all() and frames.loc[frames["decoded"], "face_id"].notna().all()
    assert frames.loc[frames["frame"] == 12, "time_s"].item() == pytest.approx(1.2)
    summary = json.loads((tmp_path / "out" / "damaged" / "summary.json").read_text())
    assert summary["counts"]["frames_undecodable"] == 1 and summary["frames_undecodable"] == [12]
    assert summary["counts"]["frames_analysed"] == len(expected) - 1 and summary["frames_missing"] is None
    assert summary["frames_unreadable"] is None
    import av

    with av.open(str(tmp_path / "out" / "damaged" / "annotated.mp4")) as annotated:  # the last frame held in the lost one's place
        assert sum(1 for _ in annotated.decode(video=0)) == len(expected)


def test_damaged_frames_are_named_as_runs():
    from videmo.run.runner import frame_runs

    assert frame_runs([226]) == "frame 226"
    assert frame_runs([12, 40, 41, 42, 60]) == "frames 12, 40-42, 60"
    assert frame_runs([1, 3, 5, 7, 9]) == "frames 1, 3, 5, ..."


@pytest.mark.slow
def test_every_shared_video_gets_complete_results(shared_data, tmp_path):
    """The real videos in ../shared/data/videos, with the shipped model: each analyses completely."""
    videos = sorted((shared_data / "videos").glob("*.mp4"))
    run = invoke("analyze", shared_data / "videos", "-o", tmp_path, "-q", "--every", "3")
    assert run.exit_code == 0, run.stderr
    for video in videos:
        folder = tmp_path / video.stem
        summary = json.loads((folder / "summary.json").read_text())
        assert set(OUTPUT_FILES) <= set(os.listdir(folder))
        frames = videmo.read_results(folder)
        delivered = summary["video"]["frame_count"] - (summary["frames_missing"] or {"count": 0})["count"]
        assert frames["frame"].nunique() == summary["counts"]["frames_analysed"] == len(range(0, delivered, 3)), video.name


def test_the_batch_index_matches_the_folders_after_an_interrupted_and_resumed_batch(
    one_face_video, two_face_video, no_face_video, tiny_checkpoint, tmp_path, monkeypatch
):

    (tmp_path / "broken.mp4").write_text("not a video")
    videos = [str(one_face_video), str(two_face_video), str(no_face_video), str(tmp_path / "broken.mp4")]
    options = AnalyzeOptions(weights=str(tiny_checkpoint), every=2)
    real, done = runner.analyze_into, []

    def interrupted(analyzer, video, *args, **kwargs):
        if done:
            raise KeyboardInterrupt  # Ctrl-C during the second video
        done.append(video)
        return real(analyzer, video, *args, **kwargs)

    monkeypatch.setattr(runner, "analyze_into", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner.analyze_many(videos, tmp_path / "out", options, quiet=True, report=lambda line: None)
    first = videmo.read_index(tmp_path / "out")
    assert set(first["folder"]) == {"one_face"} and len(first) == 1  # what finished, nothing else
    monkeypatch.setattr(runner, "analyze_into", real)
    assert runner.analyze_many(videos, tmp_path / "out", options, quiet=True, report=lambda line: None) == 1  # the resumed batch
    index = videmo.read_index(tmp_path / "out")
    assert sorted(set(index["folder"])) == ["no_face", "one_face", "two_faces"]
    for folder, rows in index.groupby("folder"):
        summary = json.loads((tmp_path / "out" / folder / "summary.json").read_text())
        episodes = videmo.read_episodes(tmp_path / "out" / folder)
        assert (rows["video"] == summary["video"]["path"]).all() and (
            rows["frames_analysed"] == summary["counts"]["frames_analysed"]
        ).all()
        if not summary["tracks"]:
            assert len(rows) == 1 and rows["face_id"].isna().all()  # a video without faces still has its row
            continue
        assert list(rows["face_id"]) == [t["face_id"] for t in summary["tracks"]]
        for (_, row), track in zip(rows.iterrows(), summary["tracks"]):
            assert row["dominant_emotion"] == track["dominant_emotion"] and row["n_frames"] == track["n_frames"]
            assert row[[f"share_{c}" for c in CLASSES]].tolist() == pytest.approx([track["emotion_share"][c] for c in CLASSES])
            assert row[[f"raw_share_{c}" for c in CLASSES]].tolist() == pytest.approx(
                [track["emotion_share_raw"][c] for c in CLASSES]
            )
            counts = episodes[episodes["face_id"] == track["face_id"]]["emotion"].value_counts()
            assert [row[f"episodes_{c}"] for c in CLASSES] == [counts.get(c, 0) for c in CLASSES]
    failed = pd.read_csv(tmp_path / "out" / "failed.csv")
    assert list(failed["video"]) == [str(tmp_path / "broken.mp4")] and "not a video" in failed["error"].iloc[0]
    # A later run of one video alone keeps the others in the index, and the earlier failure listed.
    run = invoke("analyze", one_face_video, "-w", tiny_checkpoint, "-o", tmp_path / "out", "-q", "--every", "2")
    assert run.exit_code == 0 and "already done" in run.stdout
    assert videmo.read_index(tmp_path / "out").equals(index)
    assert list(pd.read_csv(tmp_path / "out" / "failed.csv")["video"]) == [str(tmp_path / "broken.mp4")]
    assert not [p for p in os.listdir(tmp_path / "out") if p.startswith(".")]  # written atomically: nothing partial left


@pytest.mark.parametrize(
    "option",
    [
        ["--fps", "0"],
        ["--fps", "-1"],
        ["--fps", "nan"],
        ["--fps", "inf"],
        ["--bin", "nan"],
        ["--smooth", "-1"],
        ["--min-episode", "nan"],
        ["--det-threshold", "nan"],
        ["--fps", "2", "--every", "3"],
        ["--threads", "100000"],
        ["--lanes", "1000"],
        ["-o", ""],
    ],
)
def test_every_option_is_checked_up_front_as_a_usage_error(one_face_video, tmp_path, option):
    (tmp_path / "out" / "one_face").mkdir(parents=True)  # "already done" must not hide a bad option
    (tmp_path / "out" / "one_face" / "summary.json").write_text("{}")
    run = run_cli("analyze", one_face_video, "-w", tmp_path / "absent.pt", "-o", tmp_path / "out", *option)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert option[0] in run.stderr and "already done" not in run.stdout + run.stderr


def test_a_log_gets_plain_lines_not_progress_bars(one_face_video, tiny_checkpoint, tmp_path):
    run = run_cli(
        "analyze", one_face_video, "-w", tiny_checkpoint, "-o", tmp_path, "--every", "5"
    )  # stderr: a pipe, not a terminal
    assert run.returncode == 0, run.stderr
    assert "\r" not in run.stderr and "\x1b[" not in run.stderr
    assert run.stderr.splitlines()[0] == "videmo: loading the face detector and the emotion model"
    assert run.stderr.splitlines()[1:] == [  # frames 0.5 s apart: the episode settings' warning, one line
        "videmo: warning: one_face.mp4: the analysed frames are 0.5 s apart, so --smooth 0.5 s smooths nothing and --min-episode "
        "0.5 s keeps one-frame episodes: raise --smooth and --min-episode to at least 1 s (videmo episodes redoes them without the "
        "video), or sample more frames (a higher --fps or a lower --every)"
    ]
    assert "6 frames analysed, 6 face-frames of 1 face, " in run.stdout


def test_special_files_and_dangling_links_are_named_as_given(tmp_path, tiny_checkpoint):
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    dangling = tmp_path / "link.mp4"
    dangling.symlink_to(tmp_path / "gone" / "target.mp4")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "videmo.cli",
            "analyze",
            str(fifo),
            "/dev/null",
            str(dangling),
            "-w",
            str(tiny_checkpoint),
            "-o",
            str(tmp_path / "out"),
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
    errors = run.stderr.splitlines()
    assert f"videmo: error: {fifo}: not a regular file (a FIFO, a named pipe), not a video" in errors
    assert "videmo: error: /dev/null: not a regular file (a character device), not a video" in errors
    assert any(line.startswith(f"videmo: error: {dangling}: ") for line in errors) and "target.mp4" not in run.stderr


def test_any_legal_file_name_is_analysed_and_shown_escaped(one_face_video, tiny_checkpoint, tmp_path):
    """Linux names may be any bytes but '/' and NUL: not UTF-8, 244 characters, a newline."""
    folder = tmp_path / "in"
    folder.mkdir()
    names = [os.fsdecode(b"latin\xe9.mp4"), "L" * 240 + ".mp4", "two\nlines.mp4"]
    for name in names:
        (folder / name).write_bytes(one_face_video.read_bytes())
    run = invoke("analyze", folder, "-w", tiny_checkpoint, "-o", tmp_path / "out", "-q", "--every", "10", "--annotate")
    assert run.exit_code == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[-1] == f"videmo: batch table {tmp_path / 'out' / 'index.csv'}, report {tmp_path / 'out' / 'report.html'}"
    lines = lines[:-1]
    assert len(lines) == 3 and all("frames analysed" in line for line in lines)  # one line each, newline or not
    assert any(line.startswith("latin\\xe9.mp4: 3 frames analysed") for line in lines)
    assert any(line.startswith("two\\nlines.mp4: 3 frames analysed") for line in lines)
    index = videmo.read_index(tmp_path / "out")
    assert sorted(index["video"]) == sorted(str(folder / n).replace("\n", "\\n").replace("\udce9", "\\xe9") for n in names)
    assert all(len(os.fsencode(name)) <= 150 for name in os.listdir(tmp_path / "out"))
    assert (tmp_path / "out" / os.fsdecode(b"latin\xe9") / "annotated.mp4").is_file()


def test_already_done_names_the_settings_that_differ(one_face_video, tiny_checkpoint, tmp_path):
    assert invoke("analyze", one_face_video, "-w", tiny_checkpoint, "-o", tmp_path, "-q", "--every", "10").exit_code == 0
    same = invoke("analyze", one_face_video, "-w", tiny_checkpoint, "-o", tmp_path, "-q", "--every", "10")
    assert "already done in" in same.stdout and "other settings" not in same.stdout
    other = invoke("analyze", one_face_video, "-w", tiny_checkpoint, "-o", tmp_path, "-q", "--every", "5", "--annotate")
    assert other.exit_code == 0
    assert "made with other settings (every 10 now 5, annotate False now True) (use --overwrite to redo)" in other.stdout


def test_already_done_names_another_model_and_a_setting_older_results_lack(one_face_video, tmp_path):
    weights = make_checkpoint(tmp_path / "model.pt", seed=0)
    assert invoke("analyze", one_face_video, "-w", weights, "-o", tmp_path / "out", "-q", "--every", "10").exit_code == 0
    relative = invoke("analyze", one_face_video, "-w", os.path.relpath(weights), "-o", tmp_path / "out", "-q", "--every", "10")
    assert "already done in" in relative.stdout and "other settings" not in relative.stdout  # the same model, another path
    summary_json = tmp_path / "out" / "one_face" / "summary.json"
    summary = json.loads(summary_json.read_text())
    del summary["settings"]["mirror"]  # as in results made before --mirror existed, which were made without it
    summary_json.write_text(json.dumps(summary))
    old_sha = summary["model"]["sha256"]
    make_checkpoint(weights, seed=1)  # the same name, other weights: a default model replaced by an update
    again = invoke("analyze", one_face_video, "-w", weights, "-o", tmp_path / "out", "-q", "--every", "10")
    assert again.exit_code == 0
    new_sha = file_sha256(weights)
    assert (
        f"made with other settings (model model sha256 {old_sha[:8]} now {new_sha[:8]}, mirror False now True) "
        "(use --overwrite to redo)"
    ) in again.stdout


@pytest.mark.parametrize(
    "options, message",
    [
        ({"chunk": 0}, "chunk 0: must be at least 1"),
        ({"fps": 2, "every": 3}, "fps and every cannot be used together"),
        ({"det_threshold": 1.5}, "det_threshold 1.5: must be at least 0 and at most 1"),
        ({"fps": float("nan")}, "fps nan: not a finite number"),
        ({"bin_s": 0}, "bin_s 0: must be above 0"),
        ({"batch_size": "64"}, "batch_size: a number, not the text '64'"),
    ],
)
def test_the_library_refuses_the_options_the_command_refuses(tmp_path, options, message):
    with pytest.raises(VidemoError, match=re.escape(message)):  # before any model loads or video is read
        videmo.analyze_many([str(tmp_path / "absent.mp4")], tmp_path / "out", quiet=True, **options)


def test_edited_results_and_failed_tables_never_stop_the_batch_table(tmp_path):
    from videmo.batch import index as batch

    for name, summary in {"list": "[]", "text_video": '{"video": "x", "counts": {}, "tracks": []}'}.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(summary)
    (tmp_path / "failed.csv").write_text("path,why\nold.mp4,gone\n")  # not the columns videmo writes
    batch.update_index(tmp_path, [], {"x.mp4": "videmo: error: x.mp4: not a video"})
    assert len(videmo.read_index(tmp_path)) == 0  # the edited folders left out
    assert pd.read_csv(tmp_path / "failed.csv").to_dict("records") == [{"video": "x.mp4", "error": "x.mp4: not a video"}]


def test_analyze_with_an_output_names_folders_as_batches_do_and_spares_your_files(one_face_video, tiny_checkpoint, tmp_path):
    out = tmp_path / "out"
    (out / "one_face").mkdir(parents=True)
    (out / "one_face" / "notes.txt").write_text("mine")
    with pytest.raises(VidemoError, match="holds files that videmo did not write"):
        videmo.analyze(one_face_video, out, weights=str(tiny_checkpoint), every=10)
    assert (out / "one_face" / "notes.txt").read_text() == "mine"
    (out / "one_face" / "notes.txt").unlink()
    other = tmp_path / "elsewhere" / "one_face.mp4"  # another video of the same name
    other.parent.mkdir()
    other.write_bytes(one_face_video.read_bytes())
    for video in (one_face_video, other, one_face_video):  # the last one redoes its own folder
        frames = videmo.analyze(video, out, weights=str(tiny_checkpoint), every=10).frames
    assert len(frames) and entries(out) == sorted(
        ["one_face", f"one_face-{hashlib.sha1(os.fsencode(str(other))).hexdigest()[:8]}"]
    )
    index = videmo.read_index(out)
    assert sorted(set(index["video"])) == sorted([str(one_face_video), str(other)])


def test_the_batch_table_gives_older_results_the_headline_of_their_episodes(one_face_results, tmp_path):
    """Summaries from before emotion_share_raw held the single-frame labels' shares and headline: the batch
    table takes the smoothed ones from their episodes, and keeps those as raw_share_."""
    from videmo.batch.index import build_index

    fresh = build_index(one_face_results[0].parent)
    old = tmp_path / "out" / one_face_results[0].name
    shutil.copytree(one_face_results[0], old)
    summary = json.loads((old / "summary.json").read_text())
    for track in summary["tracks"]:
        raw = track.pop("emotion_share_raw")
        track.update(emotion_share=raw, dominant_emotion=max(raw, key=raw.get))
    (old / "summary.json").write_text(json.dumps(summary))
    rebuilt = build_index(tmp_path / "out")
    columns = ["dominant_emotion", *[f"share_{c}" for c in CLASSES], *[f"raw_share_{c}" for c in CLASSES]]
    pd.testing.assert_frame_equal(rebuilt[columns], fresh[fresh["folder"] == old.name][columns].reset_index(drop=True), atol=2e-4)
    (old / "episodes.csv").unlink()  # from before episodes: no smoothed labels to say
    rebuilt = build_index(tmp_path / "out")
    assert (
        rebuilt["dominant_emotion"].isna().all()
        and rebuilt["share_neutral"].isna().all()
        and rebuilt["raw_share_neutral"].notna().all()
    )
