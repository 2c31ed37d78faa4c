"""Batches as a careless or hostile user runs them: runs beside each other on one output folder, thousands
of files, odd names everywhere, a failing file system, an hour-long video."""

import errno
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import invoke
from media import entries, ffmpeg

import videmo
from videmo.batch.index import update_index
from videmo.core.options import AnalyzeOptions
from videmo.results import store
from videmo.results.store import output_locked, result_folder_names, results_of
from videmo.run.runner import analyze_into, closing_lines

FAST = ("--every", "10", "--no-plots", "-q")


@pytest.fixture(scope="module")
def analyzer(tiny_checkpoint):
    from videmo.run.pipeline import Analyzer

    return Analyzer(AnalyzeOptions(weights=str(tiny_checkpoint), every=10, plots=False))


def copies(video: Path, *paths: Path) -> list[Path]:
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(video, path)
    return list(paths)


def test_another_video_of_the_same_name_saved_meanwhile_sends_this_one_to_its_hashed_folder(analyzer, one_face_video, tmp_path):
    mine, theirs = copies(one_face_video, tmp_path / "in" / "a.mp4", tmp_path / "in2" / "a.mp4")
    out = tmp_path / "out"
    folder = out / result_folder_names([mine], out)[mine]  # planned as "a", before the other run finished
    analyze_into(analyzer, theirs, out / "a", overwrite=False, progress=False)  # the other run, on another "a.mp4"
    result = analyze_into(analyzer, mine, folder, overwrite=False, progress=False)
    hashed = out / result_folder_names([mine], out)[mine]
    assert folder == out / "a" and hashed.name.startswith("a-") and results_of(hashed) == str(mine)
    assert results_of(out / "a") == str(theirs) and entries(out) == sorted(["a", hashed.name])
    assert any("another run put another video's results in" in note and hashed.name in note for note in result.notes)
    assert closing_lines(mine, result, folder)[-1].endswith(f"-> {hashed}")  # the folder it is in, not the one planned


def test_a_video_another_run_saved_under_its_other_name_is_kept_once(analyzer, one_face_video, tmp_path):
    video = copies(one_face_video, tmp_path / "in" / "a.mp4")[0]
    out = tmp_path / "out"
    analyze_into(analyzer, video, out / "a", overwrite=False, progress=False)  # a run that named it "a"
    hashed = out / f"a-{store.hashlib.sha1(os.fsencode(str(video))).hexdigest()[:8]}"  # a run that had another a.mp4 first
    result = analyze_into(analyzer, video, hashed, overwrite=False, progress=False)
    assert entries(out) == ["a"] and any("done by another run meanwhile" in note for note in result.notes)
    assert closing_lines(video, result, hashed)[-1].endswith(f"-> {out / 'a'}")


def test_the_batch_tables_wait_for_a_run_that_holds_the_output_folder(tmp_path):
    done = []
    with output_locked(tmp_path):
        worker = threading.Thread(target=lambda: done.append(update_index(tmp_path, [], {"x.mp4": "x.mp4: not a video"})))
        worker.start()
        time.sleep(0.3)
        assert worker.is_alive() and not (tmp_path / "failed.csv").exists()
    worker.join(10)
    assert done and pd.read_csv(tmp_path / "failed.csv")["video"].tolist() == ["x.mp4"]


def test_runs_started_together_on_one_output_folder_give_each_video_results_once(one_face_video, tiny_checkpoint, tmp_path):
    videos = copies(one_face_video, *(tmp_path / d / f"{n}.mp4" for d in ("in", "in2") for n in "ab"))
    out = tmp_path / "out"
    inputs = [[tmp_path / "in", videos[2]], [tmp_path / "in2", videos[0]], [videos[1], tmp_path / "in2"]]
    command = [str(Path(sys.executable).parent / "videmo")]  # the console script, beside this interpreter
    runs = [
        subprocess.Popen(
            [*command, "analyze", *map(str, paths), "-o", str(out), "-w", str(tiny_checkpoint), *FAST],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for paths in inputs
    ]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], outputs
    assert not any("Traceback" in err or "error" in err for _, err in outputs)
    index = videmo.read_index(out)
    assert sorted(index["video"]) == sorted(map(str, videos)) and len(entries(out)) == 4  # each once, nothing hidden
    assert pd.read_csv(out / "failed.csv").empty


@pytest.mark.parametrize("stem", ["index.csv", "failed.csv", "report.html", "Report.HTML", ".", "..", ".hidden", "notes"])
def test_a_video_named_like_the_batch_files_or_hidden_gets_a_folder_of_its_own(one_face_video, tiny_checkpoint, tmp_path, stem):
    video = copies(one_face_video, tmp_path / "in" / f"{stem}.mp4")[0]
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes").write_text("the user's own file")
    name = result_folder_names([video], out)[video]
    assert name.endswith(store.hashlib.sha1(os.fsencode(str(video))).hexdigest()[:8]) and not name.startswith(".")
    if stem in ("report.html", "..", ".hidden"):  # the others name their folders alike
        run = invoke("analyze", video, "-o", out, "-w", tiny_checkpoint, *FAST)
        assert run.exit_code == 0, run.stderr
        assert videmo.read_index(out)["folder"].tolist() == [name] and (out / "report.html").is_file()
        assert (out / "notes").read_text() == "the user's own file" and sorted(entries(out)) == sorted([name, "notes"])


@pytest.mark.parametrize("code", [errno.EIO, errno.ENOSPC, errno.EROFS])
def test_a_file_system_that_fails_at_the_rename_fails_that_video_and_the_next_run_redoes_it(
    one_face_video, tiny_checkpoint, tmp_path, monkeypatch, code
):
    real_replace = os.replace

    def failing(src, dst):
        if ".partial-" in str(src) and Path(src).is_dir():
            raise OSError(code, os.strerror(code))
        return real_replace(src, dst)

    out = tmp_path / "out"
    monkeypatch.setattr(store.os, "replace", failing)
    run = invoke("analyze", one_face_video, "-o", out, "-w", tiny_checkpoint, *FAST)
    assert run.exit_code == 1 and "Traceback" not in run.stderr
    assert run.stderr.splitlines()[0] == f"videmo: error: {out / 'one_face'}: cannot write results ({os.strerror(code)})"
    assert entries(out) == [] and len(pd.read_csv(out / "failed.csv")) == 1
    monkeypatch.setattr(store.os, "replace", real_replace)
    run = invoke("analyze", one_face_video, "-o", out, "-w", tiny_checkpoint, *FAST)
    assert run.exit_code == 0 and entries(out) == ["one_face"] and pd.read_csv(out / "failed.csv").empty


def test_an_overwrite_that_cannot_rename_keeps_the_old_results_and_the_users_files(
    one_face_video, tiny_checkpoint, tmp_path, monkeypatch
):
    out = tmp_path / "out"
    invoke("analyze", one_face_video, "-o", out, "-w", tiny_checkpoint, *FAST)
    (out / "one_face" / "notes.txt").write_text("mine")
    before = (out / "one_face" / "summary.json").read_text()
    real_replace = os.replace
    monkeypatch.setattr(
        store.os,
        "replace",
        lambda src, dst: (
            (_ for _ in ()).throw(OSError(errno.EIO, "Input/output error"))
            if ".partial-" in str(src) and Path(src).is_dir()
            else real_replace(src, dst)
        ),
    )
    run = invoke("analyze", one_face_video, "-o", out, "-w", tiny_checkpoint, *FAST, "--overwrite")
    assert run.exit_code == 1 and run.stderr.splitlines()[0].endswith("cannot write results (Input/output error)")
    assert entries(out) == ["one_face"] and (out / "one_face" / "summary.json").read_text() == before
    assert (out / "one_face" / "notes.txt").read_text() == "mine"


ODD = [
    "e\u0301te\u0301",
    "\u05e9\u05dc\u05d5\u05dd\u202e",
    "\U0001f600\U0001f469\u200d\U0001f467",
    "two\nlines",
    os.fsdecode(b"latin\xe9"),
]


def test_odd_unicode_in_the_video_its_folder_and_the_output_is_written_and_read_back(one_face_video, tiny_checkpoint, tmp_path):
    videos = copies(one_face_video, *(tmp_path / folder / f"{name}.mp4" for folder, name in zip(ODD, ODD[1:] + ODD[:1])))
    out = tmp_path / f"{ODD[3]}{ODD[4]}{ODD[1]}"
    run = invoke("analyze", *(tmp_path / folder for folder in ODD), "-o", out, "-w", tiny_checkpoint, "--every", "10", "-q")
    assert run.exit_code == 0 and "Traceback" not in run.stderr
    assert all(line.startswith("videmo: warning:") for line in run.stderr.splitlines())  # one line each, no error
    index = videmo.read_index(out)
    assert len(index) == len(videos) and set(index["video"]) == {videmo.core.errors.printable(str(v)) for v in videos}
    assert len(videmo.read_batch(out)["video"].unique()) == len(videos) and (out / "report.html").read_text(encoding="utf-8")


def test_ten_thousand_junk_files_named_mp4_fail_one_line_each_in_linear_time(tiny_checkpoint, tmp_path):
    junk = tmp_path / "junk"
    junk.mkdir()
    for i in range(2000):
        (junk / f"j{i:05}.mp4").write_text(f"not a video {i}")
        (junk / f"n{i:05}.txt").write_text("notes")
    started = time.monotonic()
    run = invoke("analyze", junk, "-o", tmp_path / "out", "-w", tiny_checkpoint, *FAST)
    lines = run.stderr.splitlines()
    assert run.exit_code == 1 and len(lines) == 2001 and lines[-1] == "videmo: 2000 inputs failed"
    assert all(line.endswith(": not a video file (unrecognised container)") for line in lines[:-1])
    assert len(pd.read_csv(tmp_path / "out" / "failed.csv")) == 2000 and time.monotonic() - started < 60


def test_many_videos_of_few_names_get_distinct_folders(one_face_video, tmp_path):
    videos = [tmp_path / "in" / f"{n}" / ("same.mp4" if n % 2 else f"v{n % 500}.mp4") for n in range(3000)]
    names = result_folder_names(videos, tmp_path / "out")
    assert len(set(names.values())) == 3000
    assert names[videos[1]] == "same" and names[videos[0]] == "v0" and names[videos[500]].startswith("v0-")


def test_an_hour_long_video_at_one_frame_in_five_seconds_has_sane_times(one_face_video, tiny_checkpoint, tmp_path):
    hour = tmp_path / "hour.mp4"
    subprocess.run(
        [
            ffmpeg(),
            "-y",
            "-loglevel",
            "error",
            "-stream_loop",
            "-1",
            "-i",
            str(one_face_video),
            "-t",
            "3600",
            "-c",
            "copy",
            str(hour),
        ],
        check=True,
    )
    run = invoke("analyze", hour, "-o", tmp_path / "out", "-w", tiny_checkpoint, "--fps", "0.2", "--no-plots", "-q")
    assert run.exit_code == 0, run.stderr
    frames = videmo.read_results(tmp_path / "out" / "hour")
    assert len(frames) == 721 and frames["time_s"].iloc[-1] == 3600 and (frames["time_s"].diff().dropna() == 5).all()


def test_a_name_with_a_bidirectional_control_is_shown_escaped():
    from videmo.core.errors import printable

    assert printable("evil\u202egpj.mp4") == "evil\\u202egpj.mp4" and printable("plain é.mp4") == "plain é.mp4"
