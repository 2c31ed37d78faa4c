"""The library a researcher reports from: the command's keyword names, the emotions, the readers of
a results folder and of a batch, and messages in words."""

import json
import re

import pytest

import videmo
from videmo.errors import VidemoError


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
    assert {"smooth", "bin", "min_episode", "fps", "every", "weights"} <= set(str(error.value).split(": the valid ones are ")[1].split(", "))
    assert ("ray" in str(error.value)) == (call is videmo.analyze_many)


def test_an_option_set_to_none_says_so_in_words(tmp_path):
    for options, message in (({"chunk": None}, "chunk not set: give a value or leave it out (default 16)"),
                             ({"smooth": None}, "smooth not set: give a value or leave it out (default 0.5)"),
                             ({"precision": None}, "precision not set: give a value or leave it out (default auto)")):
        with pytest.raises(VidemoError, match=re.escape(message)):
            videmo.analyze_many([str(tmp_path / "absent.mp4")], tmp_path / "out", quiet=True, **options)
    with pytest.raises(VidemoError, match="bin_s 0: must be above 0"):  # the options' own checks, under the new name too
        videmo.analyze_many([str(tmp_path / "absent.mp4")], tmp_path / "out", quiet=True, bin=0)
