"""videmo analyze --ray against a local Ray instance: the same files as without Ray, bad videos,
a worker killed mid-run, and a rerun that does only what is missing."""

import os
import shutil
import socket
import subprocess
import sys

import pytest
from click.testing import CliRunner
from media import entries, face_frames, write_video

import videmo
from videmo.cli import main
from videmo.core.options import AnalyzeOptions
from videmo.run import cluster

ray = pytest.importorskip("ray")

CLIPS = ["clip0", "clip1", "clip2"]


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance for the module; videmo uses it as it finds it (and leaves it running)."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Three short videos: one moving face, two faces, one still face."""
    folder = tmp_path_factory.mktemp("ray_videos")
    for i, (faces, moving) in enumerate([(1, True), (2, False), (1, False)]):
        write_video(folder / f"{CLIPS[i]}.mp4", face_frames(16, faces=faces, moving=moving, seed=i), fps=10)
    return folder


def invoke(*args):
    return CliRunner().invoke(main, ["analyze", *map(str, args)])


def closing_lines(output: str, name: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(f"{name}.mp4: ") and "frames analysed" in line]


def test_same_csvs_byte_for_byte_as_without_ray(local_ray, videos, tiny_checkpoint, tmp_path):
    common = [videos, "-w", tiny_checkpoint, "-q", "--every", "2"]
    # as many threads as each worker (--cpus-per-worker 1): the thread count moves the last digits, Ray or not
    plain = invoke(*common, "-o", tmp_path / "plain", "--threads", "1")
    on_ray = invoke(*common, "-o", tmp_path / "ray", "--ray", "--workers", "2")
    assert plain.exit_code == 0, plain.output
    assert on_ray.exit_code == 0, on_ray.output
    assert entries(tmp_path / "ray") == CLIPS  # nothing hidden left behind
    for clip in CLIPS:
        assert sorted(os.listdir(tmp_path / "ray" / clip)) == sorted(os.listdir(tmp_path / "plain" / clip))
        for name in ("frames.csv", "timeline.csv"):
            assert (tmp_path / "ray" / clip / name).read_bytes() == (tmp_path / "plain" / clip / name).read_bytes(), (clip, name)
        [line] = closing_lines(on_ray.output, clip)
        assert line.endswith(f"-> {tmp_path / 'ray' / clip}")
        [plain_line] = closing_lines(plain.output, clip)
        assert line.rsplit(", ", 1)[0] == plain_line.rsplit(", ", 1)[0]  # the same counts; the speed differs


def test_a_bad_video_is_reported_once_and_the_others_finish(local_ray, videos, tiny_checkpoint, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for clip in CLIPS[:2]:
        shutil.copy(videos / f"{clip}.mp4", inputs)
    (inputs / "notes.mp4").write_text("this is not a video\n" * 50)
    result = invoke(inputs, "-w", tiny_checkpoint, "-o", tmp_path / "out", "-q", "--every", "4", "--ray")
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("videmo: error:")]
    assert len(errors) == 1 and "notes.mp4" in errors[0] and "not a video" in errors[0], result.output
    assert "videmo: 1 input failed" in result.output and "Traceback" not in result.output
    assert entries(tmp_path / "out") == CLIPS[:2]
    assert all(len(closing_lines(result.output, clip)) == 1 for clip in CLIPS[:2])


def test_a_killed_worker_costs_only_its_video_which_is_retried(local_ray, videos, tiny_checkpoint, tmp_path):
    marker = tmp_path / "killed-once"

    class DiesOnce(cluster.VideoWorker):
        """The actor's process exits at its first attempt at clip1, as a machine lost mid-video would."""

        def analyze(self, video, folder, shown, overwrite):
            if video.name == "clip1.mp4" and not marker.exists():
                marker.write_text(str(os.getpid()))
                folder.with_name(f".{folder.name}.partial-{cluster.writer_tag()}").mkdir()  # killed while writing
                os._exit(1)
            return cluster.VideoWorker.analyze(self, video, folder, shown, overwrite)

    out = tmp_path / "out"
    out.mkdir()
    another_run = out / ".clip1.partial-another-host-4242"  # a second run writing the same video into the same folder
    another_run.mkdir()
    lines = []
    failed = cluster.analyze_on_ray(
        [str(videos)],
        out,
        AnalyzeOptions(weights=str(tiny_checkpoint), every=4),
        cluster.RayOptions(workers=2),
        quiet=True,
        report=lines.append,
        worker_class=DiesOnce,
    )
    assert marker.exists()  # the worker did die
    assert failed == 0, lines
    assert not [line for line in lines if line.startswith("videmo: error")]
    assert all(len(closing_lines("\n".join(lines), clip)) == 1 for clip in CLIPS), lines
    assert entries(out) == sorted([*CLIPS, another_run.name])  # the dead actor's partial removed, the other run's kept
    assert all((tmp_path / "out" / clip / "summary.json").is_file() for clip in CLIPS)


def test_a_rerun_after_an_interruption_does_only_what_is_missing(local_ray, videos, tiny_checkpoint, tmp_path):
    out = tmp_path / "out"
    first = invoke(videos / "clip0.mp4", "-w", tiny_checkpoint, "-o", out, "-q", "--every", "4", "--ray")
    assert first.exit_code == 0, first.output
    done = out / "clip0" / "frames.csv"
    before = done.stat().st_mtime_ns
    dead = subprocess.Popen([sys.executable, "-c", ""])
    dead.wait()
    leftover = out / f".clip2.partial-{socket.gethostname()}-{dead.pid}"  # what a worker killed while writing leaves behind
    leftover.mkdir()
    (leftover / "frames.csv").write_text("half")
    again = invoke(videos, "-w", tiny_checkpoint, "-o", out, "-q", "--every", "4", "--ray")
    assert again.exit_code == 0, again.output
    assert f"clip0.mp4: already done in {out / 'clip0'}" in again.output
    assert done.stat().st_mtime_ns == before
    assert not closing_lines(again.output, "clip0")
    assert all(len(closing_lines(again.output, clip)) == 1 for clip in CLIPS[1:])
    assert entries(out) == CLIPS
    index = videmo.read_index(out)  # the batch table, written by the driver: every folder, the earlier run's too
    assert sorted(set(index["folder"])) == CLIPS and index["face_id"].notna().all()
    assert (out / "failed.csv").read_text().strip() == "video,error"


def test_weights_that_no_worker_can_load_give_one_line(local_ray, videos, tiny_checkpoint, tmp_path):
    result = invoke(videos, "-w", tmp_path / "missing.pt", "-o", tmp_path / "out", "-q", "--ray", "--workers", "2")
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("videmo: error:")]
    assert len(errors) == 1 and "missing.pt" in errors[0], result.output
    assert not (tmp_path / "out").exists()


def test_without_ray_installed_the_error_says_how_to_get_it(videos, tiny_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    result = invoke(videos, "-w", tiny_checkpoint, "-o", tmp_path, "--ray")
    assert result.exit_code == 1
    assert result.output.strip() == "videmo: error: --ray needs Ray: pip install 'videmo[ray]'"


def test_threads_are_for_runs_without_ray(videos, tiny_checkpoint, tmp_path):
    result = invoke(videos, "-w", tiny_checkpoint, "-o", tmp_path, "--ray", "--threads", "2")
    assert result.exit_code == 1 and result.output.strip().endswith("a worker has --cpus-per-worker threads")


def test_a_path_after_ray_is_not_taken_for_an_address(videos, tmp_path):
    result = invoke("--ray", videos, videos / "clip0.mp4", "-o", tmp_path)
    assert result.exit_code == 1 and "not a Ray address" in result.output
