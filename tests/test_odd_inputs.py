"""Odd inputs a careless or hostile user gives: GIFs, variable frame rates, Matroska damaged to its end,
absurd numbers, results tables that are not videmo's text, a batch that fails whole, Ctrl-C at start-up."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
from conftest import invoke
from media import face_frames, write_video
from PIL import Image

import videmo
from videmo.core.options import words


def gif(path: Path, delays_ms: list[int]) -> Path:
    frames = [Image.fromarray(np.full((48, 64, 3), 30 * i, np.uint8)) for i in range(len(delays_ms))]
    frames[0].save(
        path, save_all=len(frames) > 1, append_images=frames[1:], duration=delays_ms if len(frames) > 1 else delays_ms[0], loop=0
    )
    return path


def test_an_animated_gif_is_analysed_at_the_times_its_frame_delays_give(tmp_path, tiny_checkpoint):
    animated, still = gif(tmp_path / "moving.gif", [100, 200, 50, 300, 100]), gif(tmp_path / "still.gif", [100])
    run = invoke("analyze", animated, still, "-w", tiny_checkpoint, "-o", tmp_path / "out", "-q")
    assert run.exit_code == 0, run.stderr
    frames = videmo.read_results(tmp_path / "out" / "moving")
    assert frames["time_s"].tolist() == pytest.approx([0, 0.1, 0.3, 0.35, 0.65]) and frames["decoded"].all()
    assert videmo.read_summary(tmp_path / "out" / "moving")["video"]["duration_s"] == pytest.approx(0.75)
    assert videmo.read_results(tmp_path / "out" / "still")["frame"].tolist() == [0]
    assert "still.gif: 1 frame analysed" in run.stdout


def test_a_batch_whose_every_input_fails_still_writes_failed_csv_in_a_new_output(tmp_path, tiny_checkpoint):
    (tmp_path / "junk.mp4").write_text("not a video")
    out = tmp_path / "new" / "out"
    run = invoke("analyze", tmp_path / "junk.mp4", tmp_path / "absent.mp4", "-w", tiny_checkpoint, "-o", out, "-q")
    assert run.exit_code == 1
    failed = pd.read_csv(out / "failed.csv")
    assert sorted(Path(v).name for v in failed["video"]) == ["absent.mp4", "junk.mp4"]
    assert pd.read_csv(out / "index.csv").empty and "video" in pd.read_csv(out / "index.csv").columns


def test_no_video_given_at_all_makes_no_output_folder(tmp_path, tiny_checkpoint):
    (tmp_path / "empty").mkdir()
    invoke("analyze", tmp_path / "empty", "-w", tiny_checkpoint, "-o", tmp_path / "out", "-q")
    assert (tmp_path / "out" / "failed.csv").is_file()  # the folder given is a failure of its own
    run = invoke("analyze", "-w", tiny_checkpoint, "-o", tmp_path / "none", "-q")
    assert not (tmp_path / "none").exists() and "Traceback" not in run.stderr


@pytest.fixture(scope="module")
def results(tmp_path_factory, tiny_checkpoint) -> Path:
    folder = tmp_path_factory.mktemp("readers")
    video = write_video(folder / "clip.mp4", face_frames(6, 160, 120, face_size=64), fps=10)
    assert invoke("analyze", video, "-w", tiny_checkpoint, "-o", folder / "out", "-q").exit_code == 0
    return folder / "out"


def damaged(text: bytes, kind: str) -> bytes:
    if kind == "binary":
        return bytes(range(256)) * 8
    if kind == "utf16":
        return text.decode("utf-8").encode("utf-16")
    if kind == "latin1":  # a spreadsheet's save of a table that names a video "café"
        return text.decode("utf-8").replace("a", "é").encode("latin-1")
    return text[: len(text) // 2 + 3]  # cut mid-line


CAUSES = {"binary": "binary data", "utf16": "UTF-16", "latin1": "not UTF-8", "cut": "cut short"}
READERS = {
    "frames.csv": videmo.read_results,
    "episodes.csv": videmo.read_episodes,
    "timeline.csv": videmo.read_timeline,
    "summary.json": videmo.read_summary,
}


@pytest.mark.parametrize("kind", list(CAUSES))
@pytest.mark.parametrize("name", [*READERS, "index.csv"])
def test_a_results_file_that_is_not_videmos_text_is_one_error_naming_it_and_why(results, tmp_path, name, kind):
    out = shutil.copytree(results, tmp_path / "out")
    target = out / name if name == "index.csv" else out / "clip" / name
    target.write_bytes(damaged(target.read_bytes(), kind))
    readers = [videmo.read_index] if name == "index.csv" else [READERS[name]]
    readers += [videmo.read_batch] if name in ("frames.csv", "summary.json") else []
    for reader in readers:
        with pytest.raises(videmo.VidemoError) as error:
            reader(out if reader in (videmo.read_index, videmo.read_batch) else out / "clip")
        assert str(target) in str(error.value) and CAUSES[kind] in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("name", ["frames.csv", "summary.json"])
def test_videmo_episodes_fails_a_folder_whose_files_are_binary_in_one_line(results, tmp_path, name):
    out = shutil.copytree(results, tmp_path / "out")
    (out / "clip" / name).write_bytes(bytes(range(256)) * 8)
    run = invoke("episodes", out / "clip", "--smooth", "1")
    assert run.exit_code == 1 and "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("videmo: error:")]
    assert len(errors) == 1 and str(out / "clip" / name) in errors[0] and "binary data" in errors[0]


def variable_rate_video(path: Path) -> Path:
    """10 frames 0.1 s apart, then 10 frames 0.5 s apart: 5.5 s, its average rate about 3.6 fps."""
    times = [i * 0.1 for i in range(10)] + [1 + i * 0.5 for i in range(10)]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt, stream.time_base = 64, 48, "yuv420p", Fraction(1, 1000)
        for i, t in enumerate(times):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 10 * i, np.uint8), format="rgb24")
            frame.pts, frame.time_base = round(t * 1000), Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_start_and_end_select_a_variable_rate_videos_frames_by_their_own_times(tmp_path, tiny_checkpoint, suffix):
    video = variable_rate_video(tmp_path / f"vfr{suffix}")
    run = invoke("analyze", video, "--start", "2", "--end", "4", "-w", tiny_checkpoint, "-o", tmp_path / "out", "-q")
    assert run.exit_code == 0, run.stderr
    frames = videmo.read_results(tmp_path / "out" / "vfr")
    assert frames["time_s"].tolist() == pytest.approx([2.0, 2.5, 3.0, 3.5]) and frames["frame"].tolist() == [12, 13, 14, 15]


def test_huge_and_tiny_numbers_are_said_in_powers_of_ten():
    assert [words(v) for v in (5, 5.0, 0.5, 2.25, 1e308, 1e-300, 10**400)] == [
        "5",
        "5",
        "0.5",
        "2.25",
        "1e+308",
        "1e-300",
        "1e+400",
    ]


def test_an_absurd_end_is_said_in_a_line_a_person_reads(tmp_path, tiny_checkpoint):
    run = invoke(
        "analyze", tmp_path / "any.mp4", "--start", "1e308", "--end", "1e307", "-w", tiny_checkpoint, "-o", tmp_path / "out"
    )
    assert run.exit_code == 2 and "1e+308" in run.stderr and "1e+307" in run.stderr
    assert max(len(line) for line in run.stderr.splitlines()) < 200


def test_matroska_damaged_to_its_end_lists_the_frames_its_header_promised(tmp_path, tiny_checkpoint):
    video = write_video(tmp_path / "whole.mkv", face_frames(30, 64, 48, face_size=32), fps=10)
    with av.open(str(video)) as container:
        positions = sorted((p.pts, p.pos) for p in container.demux(container.streams.video[0]) if p.size)
    data = bytearray(video.read_bytes())
    cut = positions[20][1] - 20
    data[cut:] = np.random.default_rng(0).integers(0, 256, len(data) - cut, dtype=np.uint8).tobytes()
    (tmp_path / "tail.mkv").write_bytes(bytes(data))
    run = invoke("analyze", tmp_path / "tail.mkv", video, "-w", tiny_checkpoint, "-o", tmp_path / "out", "-q")
    assert run.exit_code == 0, run.stderr
    summary = json.loads((tmp_path / "out" / "tail" / "summary.json").read_text())
    lost = summary["frames_unreadable"]
    assert lost is not None and lost["from_frame"] <= 20 and "header gives the video 3 s" in lost["cause"]
    frames = videmo.read_results(tmp_path / "out" / "tail")
    assert frames["frame"].max() >= 28 and not frames.loc[frames["frame"] >= lost["from_frame"], "decoded"].any()
    assert "could not be read from frame" in run.stdout
    whole = json.loads((tmp_path / "out" / "whole" / "summary.json").read_text())
    assert whole["frames_unreadable"] is None and whole["video"]["frame_count"] == 30


def test_ctrl_c_at_any_point_of_start_up_exits_130_in_one_line(tmp_path, tiny_checkpoint):
    """Interrupted while the imports run, just as the models start loading and while they load: never an
    abort, nor a death by SIGINT, always one line (a run that finished first exits 0)."""
    video = write_video(tmp_path / "clip.mp4", face_frames(40, 160, 120, face_size=64), fps=10)
    for wait in (0.0, 0.05, 0.15, 0.3, None, None, None):
        command = [
            sys.executable,
            "-m",
            "videmo",
            "analyze",
            str(video),
            "-w",
            str(tiny_checkpoint),
            "-o",
            str(tmp_path / "out"),
            "--overwrite",
        ]
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1]
        )
        if wait is None:  # at the imports' first seconds
            time.sleep(0.3)
        else:  # as the models start loading, and a little later
            assert process.stderr.readline().startswith("videmo: loading")
            time.sleep(wait)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
        assert process.returncode in (130, 0), (wait, process.returncode, stderr)
        assert "terminate called" not in stderr and "Traceback" not in stderr
        if process.returncode == 130:
            assert stderr.splitlines()[-1] == "videmo: interrupted", stderr


def test_names_and_paths_too_long_for_the_system_are_one_line_each(one_face_video, tiny_checkpoint, tmp_path):
    long_name, deep = "a" * 300 + ".mp4", "/".join(["d" * 200] * 25)
    result = invoke(
        "analyze", tmp_path / long_name, tmp_path / deep, one_face_video, "-w", tiny_checkpoint, "-o", tmp_path / "out", "-q"
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("videmo: error:")]
    assert len(errors) == 2 and "name too long: a name in the path has 304 bytes" in errors[0]
    assert "path too long" in errors[1] and len(errors[1]) < 300
    assert (tmp_path / "out" / one_face_video.stem / "summary.json").is_file()  # the good video all the same
    for output in (tmp_path / ("b" * 300), tmp_path / deep):
        result = invoke("analyze", one_face_video, "-w", tiny_checkpoint, "-o", output, "-q")
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert "cannot write results there:" in result.stderr and "too long" in result.stderr
    result = invoke("episodes", tmp_path / ("c" * 300))
    assert result.exit_code == 1 and "name too long" in result.stderr


def test_a_ray_address_where_nothing_listens_fails_within_the_stated_time(monkeypatch):
    """The check is given the limit it states (CONNECT_S), and ends in one line that says so; run on its own, it ends
    by itself: a check that hung would be killed long after the limit, failing this test as a hang."""
    import socket

    from videmo.core.errors import VidemoError
    from videmo.run import cluster

    port = closed_port()
    stated = f"cannot connect to the Ray cluster at ray://127.0.0.1:{port} (Connection refused; waited up to 30 s): "
    code = (
        "from videmo.core.errors import VidemoError\nfrom videmo.run.cluster import check_listening\n"
        f"try:\n    check_listening('ray://127.0.0.1:{port}')\nexcept VidemoError as e:\n    print(e)\n"
    )
    alone = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=4 * cluster.CONNECT_S)
    assert alone.returncode == 0 and stated in alone.stdout, alone.stderr

    given, real = [], socket.create_connection

    def watched(address, timeout=None):  # the real connection, refused at once, and the limit it was given
        given.append(timeout)
        return real(address, timeout=timeout)

    monkeypatch.setattr(socket, "create_connection", watched)
    with pytest.raises(VidemoError, match=re.escape(stated)):
        cluster.check_listening(f"ray://127.0.0.1:{port}")
    assert given == [cluster.CONNECT_S] == [30]

    def silent(address, timeout):  # a host that drops the packets: the connection times out
        assert timeout == cluster.CONNECT_S
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", silent)
    with pytest.raises(VidemoError, match="no answer; waited up to 30 s"):
        cluster.check_listening("10.1.2.3:6379")


class FakeRay:
    """What ``cluster.connect`` asks of Ray: whether it runs, and ``init``, which here only records its address."""

    def __init__(self):
        self.joined = []

    def is_initialized(self) -> bool:
        return False

    def init(self, address=None, **_):
        self.joined.append(address)


def closed_port() -> int:
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_ray_auto_checks_the_cluster_ray_would_join_within_the_stated_time(tmp_path, monkeypatch):
    """For 'auto', Ray joins the cluster that RAY_ADDRESS names, else the last one `ray start` ran on this machine (a
    file in its temporary folder that a cluster which died leaves behind), and waits for a dead one without end; so it
    is checked as a given address is."""
    import socket

    from videmo.core.errors import VidemoError
    from videmo.run import cluster

    address = "auto"
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    ray = FakeRay()
    cluster.connect(ray, address)  # no cluster named anywhere: Ray's to start or to find, as before
    assert ray.joined == [address]

    dead = closed_port()
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{dead}")
    with pytest.raises(VidemoError) as raised:
        cluster.connect(ray, address)
    assert str(raised.value).startswith(
        f"--ray: cannot connect to the Ray cluster at 127.0.0.1:{dead} (from RAY_ADDRESS; Connection refused; waited up to 30 s): "
    )
    monkeypatch.delenv("RAY_ADDRESS")
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{dead}\n")
    with pytest.raises(
        VidemoError, match=r"\(the last cluster started on this machine; Connection refused; .*forget it \(ray stop\)$"
    ):
        cluster.connect(ray, address)
    assert ray.joined == [address]  # Ray was never asked to join a dead cluster

    with socket.socket() as listening:  # a cluster that answers is joined
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        (tmp_path / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{listening.getsockname()[1]}")
        cluster.connect(ray, address)
    assert ray.joined == [address, address]

    def silent(where, timeout):  # a host that drops the packets: the connection times out
        assert timeout == cluster.CONNECT_S
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", silent)
    monkeypatch.setenv("RAY_ADDRESS", "ray://10.1.2.3:10001")
    with pytest.raises(VidemoError, match=r"at ray://10.1.2.3:10001 \(from RAY_ADDRESS; no answer; waited up to 30 s\)"):
        cluster.connect(ray, address)


@pytest.mark.parametrize("address", [None, "local"])
def test_ray_alone_or_local_starts_a_local_instance_whatever_cluster_ray_would_join(address, tmp_path, monkeypatch):
    """docs/cluster.md: `--ray` without an address and `--ray local` start a local Ray instance. Ray's own default (no
    address) would join the cluster RAY_ADDRESS names, else the last one `ray start` ran; ``address="local"`` does not."""
    from videmo.run import cluster

    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{closed_port()}\n")
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{closed_port()}")  # dead, and never checked nor joined
    ray = FakeRay()
    assert cluster.connect(ray, address) is True
    assert ray.joined == ["local"]


class UnstartableRay(FakeRay):
    def init(self, address=None, **_):
        super().init(address)
        raise RuntimeError("no local instance here (test)")


@pytest.mark.parametrize("flag", [["--ray"], ["--ray", "local"]])
def test_ray_alone_or_local_from_the_command_asks_ray_for_a_local_instance(
    flag, tmp_path, monkeypatch, tiny_checkpoint, one_face_video
):
    ray = UnstartableRay()
    monkeypatch.setitem(sys.modules, "ray", ray)
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{closed_port()}")
    run = invoke("analyze", one_face_video, "-w", tiny_checkpoint, "-o", tmp_path / "out", *flag)
    assert ray.joined == ["local"]
    assert (
        run.exit_code == 1
        and run.stderr == "videmo: error: --ray: cannot start a local Ray instance (no local instance here (test))\n"
    )


def test_ray_auto_to_a_dead_cluster_is_one_line_from_the_command(tmp_path, monkeypatch, tiny_checkpoint, one_face_video):
    monkeypatch.setitem(sys.modules, "ray", FakeRay())  # whether Ray is installed or not: it is never asked to join
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{closed_port()}")
    run = invoke("analyze", one_face_video, "-w", tiny_checkpoint, "-o", tmp_path / "out", "--ray", "auto")
    assert run.exit_code == 1 and run.stdout == ""
    assert run.stderr.startswith("videmo: error: --ray: cannot connect to the Ray cluster at 127.0.0.1:")
    assert run.stderr.endswith(": start it (ray start --head), or check RAY_ADDRESS\n") and run.stderr.count("\n") == 1


def test_a_summary_cut_at_the_end_of_a_line_is_called_cut_short(results, tmp_path):
    out = shutil.copytree(results, tmp_path / "out")
    target = out / "clip" / "summary.json"
    text = target.read_bytes()
    target.write_bytes(text[: text.index(b"\n", len(text) // 2) + 1])  # every line whole, the JSON unclosed
    with pytest.raises(videmo.VidemoError) as error:
        videmo.read_summary(out / "clip")
    assert str(target) in str(error.value) and "cut short" in str(error.value)
