"""The library a researcher reports from: the command's keyword names, the emotions, the readers of
a results folder and of a batch, and messages in words."""

import json
import re

import pytest

import videmo
from videmo.core.errors import VidemoError


def test_the_library_takes_the_commands_names_for_smoothing_bins_and_episodes(one_face_video, tiny_checkpoint, tmp_path):
    videmo.analyze(one_face_video, tmp_path, weights=str(tiny_checkpoint), every=10, smooth=0.2, bin=2, min_episode=0)
    settings = json.loads((tmp_path / "one_face" / "summary.json").read_text())["settings"]
    assert (settings["smooth_s"], settings["bin_s"], settings["min_episode_s"]) == (0.2, 2, 0)
    videmo.analyze(one_face_video, tmp_path, weights=str(tiny_checkpoint), every=10, smooth_s=0.3, bin_s=3)  # the old names
    settings = json.loads((tmp_path / "one_face" / "summary.json").read_text())["settings"]
    assert (settings["smooth_s"], settings["bin_s"], settings["min_episode_s"]) == (0.3, 3, 0.5)


@pytest.mark.parametrize("call", [videmo.analyze, videmo.analyze_many])
def test_an_option_given_twice_or_unknown_is_one_clear_type_error(call, tmp_path):
    with pytest.raises(TypeError, match=re.escape("smooth and smooth_s are the same option: give one of them")):
        call(tmp_path / "absent.mp4", tmp_path, smooth=1, smooth_s=2)
    with pytest.raises(TypeError) as error:
        call(tmp_path / "absent.mp4", tmp_path, smoothing=1)
    assert str(error.value).startswith("unknown keyword smoothing: the valid ones are ")
    assert {"smooth", "bin", "min_episode", "fps", "every", "weights"} <= set(
        str(error.value).split(": the valid ones are ")[1].split(", ")
    )
    assert ("ray" in str(error.value)) == (call is videmo.analyze_many)


def test_an_option_set_to_none_says_so_in_words(tmp_path):
    for options, message in (
        ({"chunk": None}, "chunk not set: give a value or leave it out (default 16)"),
        ({"smooth": None}, "smooth not set: give a value or leave it out (default 0.5)"),
        ({"bin": None}, "bin not set: give a value or leave it out (default 1)"),  # not 1.0
        ({"precision": None}, "precision not set: give a value or leave it out (default auto)"),
    ):
        with pytest.raises(VidemoError, match=re.escape(message)):
            videmo.analyze_many([str(tmp_path / "absent.mp4")], tmp_path / "out", quiet=True, **options)
    with pytest.raises(VidemoError, match="bin 0: must be above 0"):  # the options' own checks, under the new name too
        videmo.analyze_many([str(tmp_path / "absent.mp4")], tmp_path / "out", quiet=True, bin=0)


def test_the_emotions_are_the_classifiers_and_import_videmo_stays_light():
    import subprocess
    import sys

    from videmo.core.emotions import CLASSES

    assert videmo.EMOTIONS == CLASSES and "EMOTIONS" in videmo.__all__
    assert {"VidemoError", "ArgumentError", "ArgumentTypeError"} <= set(videmo.__all__)  # what its errors are, importable with *
    code = "import sys, videmo; assert 'torch' not in sys.modules; from videmo import EMOTIONS; print(len(EMOTIONS))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "7\n"


@pytest.fixture(scope="module")
def batch(tmp_path_factory, one_face_video, two_face_video, tiny_checkpoint):
    """An output folder of two videos' results."""
    output = tmp_path_factory.mktemp("batch")
    outcomes = videmo.analyze_many(
        [str(one_face_video), str(two_face_video)], output, weights=str(tiny_checkpoint), every=5, quiet=True, report=False
    )
    assert [(o.video, o.folder, o.status, o.error) for o in outcomes] == [
        (str(one_face_video), output / "one_face", "done", None),
        (str(two_face_video), output / "two_faces", "done", None),
    ]
    return output


def run_example(name, *args):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parents[1] / "examples" / name
    return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True)


@pytest.mark.parametrize("name, folder", [("explore_batch.py", ""), ("explore_results.py", "one_face")])
def test_the_examples_check_the_emotion_they_are_given(batch, name, folder):
    wrong = run_example(name, batch / folder, "--emotion", "Happy")
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert (
        f"{name}: error: argument --emotion: Happy is not one of videmo's emotions ({', '.join(videmo.EMOTIONS)})" in wrong.stderr
    )
    right = run_example(name, batch / folder, "--emotion", "Happiness")  # any case
    assert right.returncode == 0, right.stderr
    assert "happiness" in right.stdout


def test_the_examples_say_in_one_line_when_the_folder_is_not_theirs(batch, tmp_path):
    for name in ("explore_batch.py", "explore_results.py"):
        wrong = run_example(name, tmp_path)
        assert wrong.returncode == 1 and wrong.stderr.startswith(f"{name}: error: ") and "Traceback" not in wrong.stderr


def test_the_readers_of_one_results_folder(batch, two_face_video):
    folder = batch / "two_faces"
    summary = videmo.read_summary(folder)
    assert summary["video"]["path"] == str(two_face_video) and summary["settings"]["every"] == 5
    assert videmo.read_summary(folder / "summary.json") == summary
    timeline = videmo.read_timeline(folder)
    assert list(timeline.columns) == ["face_id", "t_start", "t_end", "n_frames", *videmo.EMOTIONS, "emotion"]
    assert str(timeline["face_id"].dtype) == "Int64" and str(timeline["n_frames"].dtype) == "int64"
    assert str(timeline["emotion"].dtype) == "string" and all(str(timeline[e].dtype) == "float64" for e in videmo.EMOTIONS)
    assert len(timeline) and timeline["n_frames"].sum() == videmo.read_results(folder)["face_id"].notna().sum()


def test_read_batch_is_every_videos_frames_with_its_video_and_folder(batch, one_face_video, two_face_video):
    frames = videmo.read_batch(batch)
    assert list(frames.columns[:2]) == ["video", "folder"] and str(frames["video"].dtype) == "string"
    assert str(frames["face_id"].dtype) == "Int64"
    for video, folder in ((one_face_video, "one_face"), (two_face_video, "two_faces")):
        mine = frames[frames["folder"] == folder]
        assert set(mine["video"]) == {str(video)}
        assert mine.drop(columns=["video", "folder"]).reset_index(drop=True).equals(videmo.read_results(batch / folder))
    assert set(videmo.read_index(batch)["folder"]) == set(frames["folder"])


def test_a_folder_of_the_wrong_kind_says_which_reader_to_use(batch, tmp_path):
    for read in (videmo.read_results, videmo.read_episodes, videmo.read_timeline, videmo.read_summary):
        with pytest.raises(
            VidemoError,
            match="an output folder of many videos, not one video's results: read it with "
            "videmo.read_batch, or read one of its results folders such as ",
        ):
            read(batch)
    for read in (videmo.read_batch, videmo.read_index):
        with pytest.raises(
            VidemoError, match="one video's results, not an output folder of many: read it with videmo.read_results"
        ):
            read(batch / "one_face")
    with pytest.raises(VidemoError, match="no results folders here"):
        videmo.read_batch(tmp_path)
    with pytest.raises(VidemoError, match="no results here"):
        videmo.read_summary(tmp_path)
    (tmp_path / "summary.json").write_text("[]")
    with pytest.raises(VidemoError, match="not a videmo summary"):
        videmo.read_summary(tmp_path)


def test_other_settings_are_told_in_words_not_python(batch, one_face_video, tiny_checkpoint):
    from conftest import invoke

    from videmo.core.options import AnalyzeOptions
    from videmo.results.store import changed_settings

    now = AnalyzeOptions(weights=str(tiny_checkpoint), fps=5.0, bin_s=2.0, smooth_s=0.25, mirror=False)
    assert changed_settings(batch / "one_face", now, None) == (
        ", made with other settings (fps not set now 5, every 5 now not set, mirror True now False, bin_s 1 now 2, smooth_s 0.5 now 0.25)"
    )
    again = invoke("analyze", one_face_video, "-w", tiny_checkpoint, "-o", batch, "-q", "--fps", "5", "--no-report")
    assert again.exit_code == 0
    assert "made with other settings (fps not set now 5, every 5 now not set) (use --overwrite to redo)" in again.stdout
    assert "None" not in again.stdout and "5.0" not in again.stdout
