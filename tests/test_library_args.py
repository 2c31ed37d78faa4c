"""The library's arguments are checked, each wrong one a ValueError or
TypeError naming it, before any model loads; ``analyze`` returns its tables, ``analyze_many`` what
became of each video."""

import copy
import json
import pickle
import re

import numpy as np
import pandas as pd
import pytest

import videmo
from videmo.core.errors import VidemoError


@pytest.mark.parametrize(
    "arguments, options, error, message",
    [
        ((None,), {}, TypeError, "path: a path (str or os.PathLike), not NoneType None"),
        ((5,), {}, TypeError, "path: a path (str or os.PathLike), not int 5"),
        (
            (["a.mp4", "b.mp4"],),
            {},
            TypeError,
            "path: a path (str or os.PathLike), not list ['a.mp4', 'b.mp4'] (analyze_many takes many)",
        ),
        (("",), {}, ValueError, "path: the path is empty"),
        (("a\0b.mp4",), {}, ValueError, "path: a path cannot hold a NUL character"),
        (("a.mp4", 3), {}, TypeError, "output: a path (str or os.PathLike), not int 3"),
        (("a.mp4", ""), {}, ValueError, "output: the path is empty"),
        (("a.mp4",), {"fps": -1}, ValueError, "fps -1: must be above 0"),
        (("a.mp4",), {"fps": "5"}, TypeError, "fps: a number, not the text '5'"),
        (("a.mp4",), {"fps": True}, TypeError, "fps: a number, not bool True"),
        (("a.mp4",), {"fps": float("inf")}, ValueError, "fps inf: not a finite number"),
        (("a.mp4",), {"fps": 10**400}, ValueError, "fps: a number past a float's range (over 1e308)"),
        (("a.mp4",), {"every": 2.5}, TypeError, "every: a whole number, not float 2.5"),
        (("a.mp4",), {"every": 0}, ValueError, "every 0: must be at least 1"),
        (("a.mp4",), {"threads": 10**30}, ValueError, "threads 1e+30: must be at least 1 and at most 256"),
        (("a.mp4",), {"chunk": None}, TypeError, "chunk not set: give a value or leave it out (default 16)"),
        (("a.mp4",), {"smooth": -0.5}, ValueError, "smooth -0.5: must be at least 0"),
        (("a.mp4",), {"mirror": "no"}, TypeError, "mirror: True or False, not str 'no'"),
        (("a.mp4",), {"precision": "fp8"}, ValueError, "precision fp8: choose one of auto, fp32, bf16, fp16"),
        (("a.mp4",), {"device": 0}, TypeError, "device: a text, not int 0"),
        (("a.mp4",), {"weights": 3}, TypeError, "weights: a path (str or os.PathLike), not int 3"),
        (("a.mp4",), {"start": 5, "end": 2}, ValueError, "start 5 and end 2: the end must come after the start"),
        (("a.mp4",), {"fps": 2, "every": 3}, ValueError, "fps and every cannot be used together"),
    ],
)
def test_analyze_names_the_wrong_argument_before_anything_loads(arguments, options, error, message):
    with pytest.raises(error, match=f"^{re.escape(message)}") as caught:
        videmo.analyze(*arguments, **options)
    assert isinstance(caught.value, VidemoError)  # as these were before: code that caught VidemoError still does


@pytest.mark.parametrize(
    "arguments, options, error, message",
    [
        ((None,), {}, TypeError, "paths: a path or a list of paths, not NoneType None"),
        ((7,), {}, TypeError, "paths: a path or a list of paths, not int 7"),
        (([],), {}, ValueError, "paths: no paths given (give video files, folders or globs)"),
        ((["a.mp4", 3],), {}, TypeError, "paths[1]: a path (str or os.PathLike), not int 3"),
        (("a.mp4", None), {}, TypeError, "output: a path (str or os.PathLike), not NoneType None"),
        (("a.mp4",), {"overwrite": "yes"}, TypeError, "overwrite: True or False, not str 'yes'"),
        (("a.mp4",), {"report": None}, TypeError, "report: True or False, not NoneType None"),
        (("a.mp4",), {"ray": 5}, TypeError, "ray: True or a Ray address such as 'auto', not int 5"),
        (("a.mp4",), {"ray": True, "workers": 0}, ValueError, "workers 0: must be at least 1"),
        (("a.mp4",), {"ray": True, "cpus_per_worker": -1}, ValueError, "cpus_per_worker -1: must be above 0"),
        (("a.mp4",), {"workers": 2}, ValueError, "workers, cpus_per_worker and gpus_per_worker need ray"),
        (("a.mp4",), {"lanes": 1.5}, TypeError, "lanes: a whole number, not float 1.5"),
    ],
)
def test_analyze_many_names_the_wrong_argument(tmp_path, monkeypatch, arguments, options, error, message):
    monkeypatch.chdir(tmp_path)  # where the default output would go
    with pytest.raises(error, match=f"^{re.escape(message)}"):
        videmo.analyze_many(*arguments, **{"quiet": True, **options})
    assert not list(tmp_path.iterdir())


def test_analyze_into_an_output_that_is_a_file_fails_before_the_models_load(tmp_path, monkeypatch):
    import videmo.run.runner

    monkeypatch.setattr(videmo.run.runner, "Analyzer", None)  # loading the models would fail the test otherwise
    (tmp_path / "out").write_text("a file")
    with pytest.raises(
        VidemoError, match=f"^{re.escape(str(tmp_path / 'out'))}: cannot write results there: .* is a file, not a folder$"
    ):
        videmo.analyze(tmp_path / "video.mp4", tmp_path / "out")


@pytest.mark.parametrize(
    "read, argument",
    [
        (videmo.read_results, "folder"),
        (videmo.read_episodes, "folder"),
        (videmo.read_timeline, "folder"),
        (videmo.read_summary, "folder"),
        (videmo.read_index, "output"),
        (videmo.read_batch, "output"),
    ],
)
def test_the_readers_name_a_wrong_argument(read, argument):
    with pytest.raises(TypeError, match=f"^{argument}: a path \\(str or os.PathLike\\), not NoneType None$"):
        read(None)
    with pytest.raises(TypeError, match=f"^{argument}: a path \\(str or os.PathLike\\), not float 1.5$"):
        read(1.5)
    with pytest.raises(ValueError, match=f"^{argument}: the path is empty$"):  # not the working folder
        read("")


@pytest.fixture(scope="module")
def analysed(tmp_path_factory, one_face_video, tiny_checkpoint):
    output = tmp_path_factory.mktemp("library")
    return videmo.analyze(
        one_face_video, output, weights=str(tiny_checkpoint), every=np.int64(10), smooth=np.float32(0.25)
    ), output


def test_analyze_returns_the_tables_of_its_results_folder(analysed, one_face_video):
    result, output = analysed
    assert isinstance(result, videmo.Analysis) and result.folder == output / "one_face"
    pd.testing.assert_frame_equal(result.frames, videmo.read_results(result.folder), check_exact=False, rtol=1e-4)
    pd.testing.assert_frame_equal(
        result.episodes.reset_index(drop=True),
        videmo.read_episodes(result.folder),
        check_exact=False,
        rtol=1e-4,
        check_dtype=False,
    )
    pd.testing.assert_frame_equal(
        result.timeline.reset_index(drop=True),
        videmo.read_timeline(result.folder),
        check_exact=False,
        rtol=1e-4,
        check_dtype=False,
    )
    on_disk = videmo.read_summary(result.folder)
    assert result.summary["video"]["path"] == on_disk["video"]["path"] == str(one_face_video)
    assert result.summary["counts"] == on_disk["counts"] and len(result.frames) == 3
    settings = json.loads((result.folder / "summary.json").read_text())["settings"]  # numpy's numbers arrive as plain ones
    assert settings["every"] == 10 and type(settings["every"]) is int and settings["smooth_s"] == 0.25


def test_analyze_without_an_output_writes_nothing_and_has_no_folder(one_face_video, tiny_checkpoint, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = videmo.analyze(one_face_video, weights=str(tiny_checkpoint), every=15)
    assert result.folder is None and len(result.frames) == 2 and result.summary["counts"]["frames_analysed"] == 2
    assert not list(tmp_path.iterdir())


def test_the_result_still_stands_in_for_its_frames_with_a_warning(analysed):
    result, _ = analysed
    with pytest.warns(FutureWarning, match="use result.frames where the result was used as the frames table"):
        assert len(result) == len(result.frames)
    with pytest.warns(FutureWarning):
        assert result["face_id"].equals(result.frames["face_id"])
    with pytest.warns(FutureWarning):
        assert result.dropna(subset=["face_id"]).equals(result.frames.dropna(subset=["face_id"]))
    with pytest.raises(AttributeError, match="'Analysis' object has no attribute 'no_such_method'"):
        result.no_such_method
    assert copy.deepcopy(result).frames.equals(result.frames)  # copying and pickling never reach the forwarding
    assert pickle.loads(pickle.dumps(result)).summary == result.summary


def test_analyze_many_says_what_became_of_each_video(tmp_path, one_face_video, two_face_video, tiny_checkpoint):
    broken = tmp_path / "in" / "broken.mp4"
    broken.parent.mkdir()
    broken.write_bytes(b"not a video at all")
    output = tmp_path / "out"
    given = [str(one_face_video), str(broken), str(tmp_path / "absent.mp4")]
    options = {"weights": str(tiny_checkpoint), "every": 15, "quiet": True, "report": False}
    first = videmo.analyze_many(given, output, **options)
    assert [(o.video, o.folder, o.status) for o in first] == [
        (str(one_face_video), output / "one_face", "done"),
        (str(broken), output / "broken", "failed"),
        (str(tmp_path / "absent.mp4"), None, "failed"),
    ]
    assert first[0].error is None and "not a video file" in first[1].error
    assert first[2].error == f"{tmp_path / 'absent.mp4'}: no such file or folder"
    assert (
        first[1].error == videmo.batch.index.read_failed(output).set_index("video").loc[str(broken), "error"]
    )  # as failed.csv says
    again = videmo.analyze_many([one_face_video, two_face_video], output, **options)
    assert [(o.folder.name, o.status) for o in again] == [("one_face", "skipped"), ("two_faces", "done")]
    redone = videmo.analyze_many(str(one_face_video), output, overwrite=True, **options)
    assert [(o.folder.name, o.status) for o in redone] == [("one_face", "done")]
    assert isinstance(redone[0], videmo.VideoOutcome)


def test_analyze_many_on_ray_says_the_same(tmp_path, one_face_video, tiny_checkpoint):
    pytest.importorskip("ray")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    outcomes = videmo.analyze_many(
        [one_face_video, broken], tmp_path / "out", ray=True, weights=str(tiny_checkpoint), every=15, quiet=True, report=False
    )
    assert [(o.folder.name, o.status) for o in outcomes] == [("one_face", "done"), ("broken", "failed")]
    assert "not a video file" in outcomes[1].error
