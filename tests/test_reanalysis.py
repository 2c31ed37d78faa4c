"""Re-analysis from saved results (``videmo episodes``), batch tables that say how each video was
made and warn when a batch mixes settings, and ``--start``/``--end``."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import invoke
from PIL import Image

import videmo
from videmo.core.emotions import CLASSES
from videmo.core.files import file_sha256
from videmo.results import store as folders
from videmo.results.episodes import add_episodes
from videmo.results.figures import TILE, TILES_KEY


@pytest.fixture(scope="module")
def analysed(one_face_video, tiny_checkpoint, tmp_path_factory):
    """One video analysed with --smooth 1 --annotate, its video then gone: re-analysis must not need it."""
    out = tmp_path_factory.mktemp("analysed")
    video = out.parent / "gone.mp4"
    shutil.copy(one_face_video, video)
    result = invoke("analyze", video, "-w", tiny_checkpoint, "-o", out / "out", "--smooth", "1", "--annotate", "-q")
    assert result.exit_code == 0, result.output
    video.unlink()
    return out / "out"


def copy_of(analysed, tmp_path):
    shutil.copytree(analysed, tmp_path / "out")
    return tmp_path / "out", tmp_path / "out" / "gone"


def test_episodes_are_rebuilt_from_frames_csv_without_the_video(analysed, tmp_path):
    out, folder = copy_of(analysed, tmp_path)
    before = videmo.read_results(folder)
    movie = (folder / "annotated.mp4").read_bytes()
    result = invoke("episodes", folder, "--smooth", "0", "--min-episode", "0", "--bin", "0.5")
    assert result.exit_code == 0, result.output
    assert "smooth_s 1 now 0, min_episode_s 0.5 now 0, bin_s 1 now 0.5" in result.output
    frames = videmo.read_results(folder)
    pd.testing.assert_frame_equal(frames.drop(columns="emotion_smoothed"), before.drop(columns="emotion_smoothed"))
    kept = frames[frames["face_id"].notna() & ~frames["short_track"]]
    assert (kept["emotion_smoothed"] == kept["emotion"]).all()  # no smoothing, no merging: the single-frame labels
    expected = add_episodes(before.drop(columns=["emotion_smoothed", "short_track"]), 0, 0)[1]
    pd.testing.assert_frame_equal(videmo.read_episodes(folder), expected, rtol=1e-5)
    timeline = videmo.read_timeline(folder)
    assert np.allclose((timeline["t_end"] - timeline["t_start"]).iloc[:-1], 0.5)
    summary = videmo.read_summary(folder)
    assert (summary["settings"]["smooth_s"], summary["settings"]["min_episode_s"], summary["settings"]["bin_s"]) == (0, 0, 0.5)
    assert summary["counts"]["episodes"] == len(expected)
    assert (folder / "annotated.mp4").read_bytes() == movie and "annotated.mp4" in summary["files"]
    index = videmo.read_index(out)
    assert set(index["smooth_s"]) == {0}  # the batch table was rebuilt with the folder
    assert not [p for p in out.rglob(".*")]  # no hidden work left behind


def test_damaged_results_each_fail_in_one_line_and_the_others_are_rebuilt(analysed, tmp_path):
    out, good = copy_of(analysed, tmp_path)
    damage = {
        "cut": lambda text: text[: len(text) // 2],
        "empty": lambda text: "",
        "renamed": lambda text: text.replace("fear", "feer", 1),
    }
    for name, change in damage.items():
        shutil.copytree(good, out / name)
        (out / name / "frames.csv").write_text(change((good / "frames.csv").read_text()))
    result = invoke("episodes", out, "--smooth", "0")
    assert result.exit_code == 1 and "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("videmo: error:")]
    assert len(errors) == 3 and all(str(out / name / "frames.csv") in " ".join(errors) for name in damage)
    assert "lacks the column(s) fear" in result.stderr and "cannot be read as videmo's frames.csv" in result.stderr
    assert videmo.read_summary(good)["settings"]["smooth_s"] == 0  # the good folder was rebuilt all the same
    assert set(videmo.read_index(out)["smooth_s"]) == {0, 1}  # and the batch table after it


def test_the_same_settings_give_what_a_fresh_analysis_gives(analysed, one_face_video, tiny_checkpoint, tmp_path):
    out, folder = copy_of(analysed, tmp_path)
    assert invoke("episodes", out, "--smooth", "0.5").exit_code == 0  # an output folder: each of its results folders
    fresh = invoke("analyze", one_face_video, "-w", tiny_checkpoint, "-o", tmp_path / "fresh", "-q")
    assert fresh.exit_code == 0, fresh.output
    pd.testing.assert_frame_equal(videmo.read_episodes(folder), videmo.read_episodes(tmp_path / "fresh" / "one_face"), rtol=1e-5)
    pd.testing.assert_frame_equal(videmo.read_timeline(folder), videmo.read_timeline(tmp_path / "fresh" / "one_face"), rtol=1e-4)
    assert videmo.read_summary(folder)["tracks"] == videmo.read_summary(tmp_path / "fresh" / "one_face")["tracks"]


def test_the_face_sheet_keeps_its_crops(analysed, tmp_path):
    out, folder = copy_of(analysed, tmp_path)
    with Image.open(folder / "faces.png") as image:
        x, y = json.loads(image.text[TILES_KEY])["faces"]["0"]
        crop = np.asarray(image.convert("RGB"))[y : y + TILE, x : x + TILE].copy()
    assert invoke("episodes", folder, "--min-episode", "2").exit_code == 0
    with Image.open(folder / "faces.png") as image:
        assert np.array_equal(np.asarray(image.convert("RGB"))[y : y + TILE, x : x + TILE], crop)


def test_no_plots_then_plots_again(analysed, tmp_path):
    out, folder = copy_of(analysed, tmp_path)
    assert invoke("episodes", folder, "--no-plots").exit_code == 0
    assert not (folder / "timeline.png").exists() and not (folder / "faces.png").exists()
    assert "no timeline.png" in (out / "report.html").read_text()
    again = invoke("episodes", folder, "--plots")
    assert again.exit_code == 0 and "faces.png's tiles are empty" in again.stdout  # the crops went with the old sheet: said, once
    assert (folder / "timeline.png").is_file() and (folder / "faces.png").is_file()
    assert videmo.read_summary(folder)["settings"]["plots"] is True


def test_analyze_names_the_command_when_only_episode_settings_changed(analysed, tiny_checkpoint, one_face_video, tmp_path):
    out, folder = copy_of(analysed, tmp_path)
    video = analysed.parent.parent / "gone.mp4"  # the video the folder's summary names, back in its place
    shutil.copy(one_face_video, video)
    try:
        again = invoke("analyze", video, "-w", tiny_checkpoint, "-o", out, "--annotate", "-q")
    finally:
        video.unlink()
    assert again.exit_code == 0
    assert f"made with other settings (smooth_s 1 now 0.5; 'videmo episodes {folder} --smooth 0.5' rebuilds" in again.stdout


def test_a_failed_rewrite_leaves_the_folder_as_it_was(analysed, tmp_path, monkeypatch):
    out, folder = copy_of(analysed, tmp_path)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(folders, "write_timeline_png", broken)
    result = invoke("episodes", folder, "--smooth", "2")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].endswith("cannot write results (No space left on device)")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert not [p for p in out.rglob(".*")]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda tmp: tmp / "nowhere", "nowhere: no such folder"),
        (lambda tmp: (tmp / "mine").mkdir() or tmp / "mine", "mine: no results here"),
    ],
)
def test_bad_results_paths_are_one_line_each(tmp_path, make, message):
    result = invoke("episodes", make(tmp_path))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.splitlines()[0].startswith("videmo: error: ") and message in result.stderr.splitlines()[0]


def test_an_edited_summary_is_one_line_and_the_folder_is_kept(analysed, tmp_path):
    out, folder = copy_of(analysed, tmp_path)
    summary = json.loads((folder / "summary.json").read_text())
    video = summary.pop("video")
    for edit, why in (
        (summary, "no video field"),
        ({**summary, "video": {k: v for k, v in video.items() if k != "fps"}}, "the video field lacks fps"),
    ):
        (folder / "summary.json").write_text(json.dumps(edit))
        result = invoke("episodes", folder)
        assert result.exit_code == 1 and len(result.stderr.splitlines()) == 2  # its line and the count
        assert f"summary.json lacks what re-analysis needs ({why})" in result.stderr, result.stderr  # in words, not Python's
        assert (folder / "frames.csv").is_file()


def test_a_bad_setting_is_a_usage_error(analysed):
    result = invoke("episodes", analysed, "--smooth", "-1")
    assert result.exit_code == 2 and "--smooth" in result.output


def test_the_batch_table_says_how_each_video_was_made_and_warns_when_they_differ(
    one_face_video, two_face_video, tiny_checkpoint, tmp_path
):
    first = invoke("analyze", one_face_video, "-w", tiny_checkpoint, "-o", tmp_path, "--every", "2", "-q")
    assert first.exit_code == 0 and "warning" not in first.output
    second = invoke("analyze", two_face_video, "-w", tiny_checkpoint, "-o", tmp_path, "--fps", "5", "--detect-every", "2", "-q")
    assert second.exit_code == 0, second.output
    warning = [line for line in second.stderr.splitlines() if line.startswith("videmo: warning:")]
    assert len(warning) == 1
    assert "sampling 1 frame in 2 (1 video) / fps 5 (1 video)" in warning[0]  # in the order of the batch table
    assert "detection searched whole 1 frame in 4 (1 video) / searched whole 1 frame in 2 (1 video)" in warning[0]
    assert "None" not in warning[0] and "model" not in warning[0]  # one model: not mixed
    index = videmo.read_index(tmp_path).drop_duplicates("folder").set_index("folder")
    assert index.loc["one_face", "every"] == 2 and pd.isna(index.loc["one_face", "fps"])
    assert index.loc["two_faces", "fps"] == 5 and index.loc["two_faces", "detect_every"] == 2
    assert set(index["model_sha256"]) == {file_sha256(tiny_checkpoint)} and set(index["model"]) == {"tiny"}
    assert set(index["min_track_s"]) == {0.15} and set(index["smooth_s"]) == {0.5}


def test_start_and_end_analyse_part_of_the_video_in_its_own_times(one_face_video, tiny_checkpoint, tmp_path):
    result = invoke("analyze", one_face_video, "-w", tiny_checkpoint, "-o", tmp_path, "--start", "1", "--end", "2.5", "-q")
    assert result.exit_code == 0, result.output
    frames = videmo.read_results(tmp_path / "one_face")
    assert frames["frame"].min() == 10 and frames["frame"].max() == 24  # a 10 fps video: frames 10-24
    assert frames["time_s"].min() == pytest.approx(1.0, abs=0.01)  # the video's own times, not from the part's start
    summary = videmo.read_summary(tmp_path / "one_face")
    assert (summary["settings"]["start_s"], summary["settings"]["end_s"]) == (1, 2.5)
    assert summary["counts"]["frames_analysed"] == 15


@pytest.mark.parametrize(
    "args, status, message",
    [
        (["--start", "2", "--end", "1"], 2, "the end must come after the start"),
        (["--start", "-1"], 2, "--start"),
        (["--start", "60"], 1, "no frame to analyse from 60 s to the end (the video lasts 3 s)"),
        (["--start", "60", "--end", "70.5"], 1, "no frame to analyse from 60 s to 70.5 s (the video lasts 3 s)"),
        (
            ["--start", "0.2", "--end", "1", "--fps", "0.5"],
            1,  # frames lie there, but the grid of a frame every 2 s picks none
            "no frame to analyse from 0.2 s to 1 s: the --fps sampling counts from the video's first frame and picks none of the frames there",
        ),
    ],
)
def test_bad_start_and_end_are_one_line(one_face_video, tiny_checkpoint, tmp_path, args, status, message):
    result = invoke("analyze", one_face_video, "-w", tiny_checkpoint, "-o", tmp_path, "-q", *args)
    assert result.exit_code == status and "Traceback" not in result.output
    assert message in result.output


def test_classes_are_the_index_share_columns():
    from videmo.batch.index import INDEX_COLUMNS, SETTING_COLUMNS

    assert INDEX_COLUMNS[-len(SETTING_COLUMNS) :] == SETTING_COLUMNS
    assert [f"share_{c}" for c in CLASSES] == [c for c in INDEX_COLUMNS if c.startswith("share_")]


def test_results_made_by_a_newer_videmo_are_left_as_they_are(analysed, tmp_path):
    out, folder = copy_of(analysed, tmp_path)
    summary = json.loads((folder / "summary.json").read_text())
    summary["videmo_version"], summary["added_later"] = "99.0.0", {"kept": True}
    (folder / "summary.json").write_text(json.dumps(summary))
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    result = invoke("episodes", folder, "--smooth", "0")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"made by videmo 99.0.0, newer than this videmo {videmo.__version__}" in result.stderr
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before


def test_versions_compare_as_versions():
    from videmo.core.version import is_newer

    assert is_newer("99.0") and is_newer("0.10.0") and not is_newer(videmo.__version__)
    assert not is_newer("0.0.9") and not is_newer(None) and not is_newer("not a version")
