"""The command's terminal: stderr or stdout closed or unwritable, the working folder deleted. A batch
runs to its end whatever becomes of its printing, exits with a failure's status where something could
not be printed, and says so in one line where stderr is open; no traceback."""

import os
import pty
import subprocess
import sys
import tempfile

import pandas as pd
import pytest

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def videmo(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "videmo", *map(str, args)], env=ENV, text=True, timeout=300, **kwargs)


def test_with_stderr_closed_a_batch_runs_to_its_end(tmp_path, tiny_checkpoint, one_face_video):
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    out = tmp_path / "out"
    run = videmo(
        "analyze", bad, one_face_video, "-w", tiny_checkpoint, "-o", out, stdout=subprocess.PIPE, preexec_fn=lambda: os.close(2)
    )  # `2>&-`
    assert run.returncode == 1
    assert (out / "one_face" / "summary.json").is_file()
    assert len(pd.read_csv(out / "index.csv")) == 1
    assert list(pd.read_csv(out / "failed.csv")["video"]) == [str(bad)]
    assert "one_face.mp4: 30 frames analysed" in run.stdout and "Traceback" not in run.stdout


def test_with_stdout_on_a_full_device_the_batch_finishes_and_says_so_in_one_line(
    tmp_path, tiny_checkpoint, one_face_video, no_face_video
):
    out = tmp_path / "out"
    with open("/dev/full", "w") as full:
        run = videmo(
            "analyze", one_face_video, no_face_video, "-w", tiny_checkpoint, "-o", out, "-q", stdout=full, stderr=subprocess.PIPE
        )
    assert run.returncode == 1
    assert run.stderr == "videmo: error: stdout: the output could not be printed (No space left on device)\n"
    assert (out / "one_face" / "summary.json").is_file() and (out / "no_face" / "summary.json").is_file()
    assert len(pd.read_csv(out / "index.csv")) == 2 and (out / "report.html").is_file()


def finished_with_one_failure(run: subprocess.CompletedProcess, out, bad, good) -> None:
    """The batch ran to its end: the bad video failed, the good one has results, both tables name them, and the
    last line (written after the tables) was printed; a crash would also exit 1, its traceback lost with stderr."""
    assert run.returncode == 1
    assert (out / good.stem / "summary.json").is_file()
    assert list(pd.read_csv(out / "index.csv")["video"]) == [str(good)]
    assert list(pd.read_csv(out / "failed.csv")["video"]) == [str(bad)]
    assert f"{good.name}: 30 frames analysed" in run.stdout and run.stdout.splitlines()[-1].startswith("videmo: batch table")


@pytest.mark.parametrize("quiet", [[], ["-q"]])
def test_with_stderr_on_a_full_device_a_batch_finishes(tmp_path, tiny_checkpoint, one_face_video, quiet):
    """`2>/dev/full`: the error line and the notes cannot be written (ENOSPC), the progress bars are off (stderr is
    no terminal), and the batch runs to its end with a failure's status."""
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    out = tmp_path / "out"
    with open("/dev/full", "w") as full:
        run = videmo(
            "analyze", bad, one_face_video, "-w", tiny_checkpoint, "-o", out, *quiet, stdout=subprocess.PIPE, stderr=full
        )
    finished_with_one_failure(run, out, bad, one_face_video)


def test_with_its_terminal_gone_a_batch_finishes_and_its_progress_bars_fail_quietly(tmp_path, tiny_checkpoint, one_face_video):
    """stderr a terminal that is gone (a disowned job after its window closed): it is still a tty, so the progress
    bars are on, and every write to it fails (EIO)."""
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    out = tmp_path / "out"
    master, terminal = pty.openpty()
    os.close(master)
    try:
        run = videmo("analyze", bad, one_face_video, "-w", tiny_checkpoint, "-o", out, stdout=subprocess.PIPE, stderr=terminal)
    finally:
        os.close(terminal)
    finished_with_one_failure(run, out, bad, one_face_video)


def test_with_stdout_closed_or_its_pipe_closed_the_batch_finishes(tmp_path, tiny_checkpoint, one_face_video, no_face_video):
    closed = videmo(
        "analyze",
        one_face_video,
        "-w",
        tiny_checkpoint,
        "-o",
        tmp_path / "closed",
        "-q",
        stderr=subprocess.PIPE,
        preexec_fn=lambda: os.close(1),
    )  # `>&-`
    assert closed.returncode == 1
    assert closed.stderr == "videmo: error: stdout: the output could not be printed (Bad file descriptor)\n"
    assert (tmp_path / "closed" / "one_face" / "summary.json").is_file()
    read, write = os.pipe()
    os.close(read)  # `| head -1` gone before the first line
    piped = videmo(
        "analyze",
        one_face_video,
        no_face_video,
        "-w",
        tiny_checkpoint,
        "-o",
        tmp_path / "piped",
        "-q",
        stdout=write,
        stderr=subprocess.PIPE,
    )
    os.close(write)
    assert piped.returncode == 1
    assert piped.stderr == "videmo: error: stdout: the output could not be printed (Broken pipe)\n"
    assert len(pd.read_csv(tmp_path / "piped" / "index.csv")) == 2


def test_from_a_deleted_working_folder_the_command_says_why_in_one_line(tmp_path, tiny_checkpoint, one_face_video):
    gone = tempfile.mkdtemp(dir=tmp_path)

    def in_deleted_folder():  # as a shell left in a folder that another removed
        os.chdir(gone)
        os.rmdir(gone)

    run = videmo(
        "analyze",
        one_face_video,
        "-w",
        tiny_checkpoint,
        "-o",
        tmp_path / "out",
        capture_output=True,
        preexec_fn=in_deleted_folder,
    )
    assert run.returncode == 1
    assert run.stderr == (
        "videmo: error: the working folder no longer exists (deleted while a shell was in it): cd to another folder\n"
    )
    assert not (tmp_path / "out").exists()
