"""Hard to break: damaged and hostile checkpoints, and file systems that
refuse, each one line ``videmo: error: <file>: <cause>`` with exit status 1, no traceback, and nothing
written outside ``-o``. Cases the project already handled keep a test here that says so."""

import collections
import errno
import io
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from conftest import invoke, make_checkpoint
from media import entries

from videmo.core.options import AnalyzeOptions
from videmo.model import checkpoint
from videmo.results import store as folders
from videmo.run import runner

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def videmo_run(*args, env=None, cwd=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "videmo", *map(str, args)],
        capture_output=True,
        text=True,
        env=env or ENV,
        cwd=cwd,
        timeout=timeout,
    )


# ---------------------------------------------------------------------------------------------
# Checkpoints


class Storage:
    """Stands for a storage in a hand-made data.pkl: pickled as torch.save's persistent id."""

    def __init__(self, numel):
        self.numel = numel


class Tensor:
    def __init__(self, storage, size):
        self.storage, self.size = storage, size

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, (self.storage, 0, self.size, (1,), False, collections.OrderedDict()))


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        return ("storage", torch.FloatStorage, "0", "cpu", obj.numel) if isinstance(obj, Storage) else None


def absurd_checkpoint(good: Path, path: Path, numel: int, size: tuple) -> Path:
    """``good`` with its weights replaced by one tensor whose header declares ``size`` (a storage of
    ``numel`` floats), over a 16-byte storage entry."""
    source = zipfile.ZipFile(good)
    payload = torch.load(good, weights_only=True)
    payload["state_dict"] = {"head.4.weight": Tensor(Storage(numel), size)}
    pickled = io.BytesIO()
    TorchPickler(pickled, protocol=2).dump(payload)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zip_file:
        for name in source.namelist():
            if name.endswith("/data.pkl"):
                zip_file.writestr(name, pickled.getvalue())
            elif name.endswith("/data/0"):
                zip_file.writestr(name, b"\0" * 16)
            elif "/data/" not in name:
                zip_file.writestr(name, source.read(name))
    return path


def rezipped(good: Path, path: Path, keep=lambda name: True, extra=()) -> Path:
    source = zipfile.ZipFile(good)
    with zipfile.ZipFile(path, "w") as zip_file:
        for name in source.namelist():
            if keep(name):
                zip_file.writestr(name, source.read(name))
        for name, data in extra:
            zip_file.writestr(name, data)
    return path


@pytest.fixture(scope="module")
def bad_checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoints")
    good = make_checkpoint(folder / "good.pt")
    payload = torch.load(good, weights_only=True)
    meta = payload["meta"]

    def edited(name, **changes):
        torch.save({**payload, "meta": {**meta, **changes}}, folder / name)
        return folder / name

    (folder / "cut.pt").write_bytes(good.read_bytes()[:-100])
    (folder / "zero.pt").symlink_to("/dev/zero")
    os.mkfifo(folder / "fifo.pt")
    (folder / "folder.pt").mkdir()
    return {
        folder
        / "cut.pt": "not a readable checkpoint, truncated or corrupt (the zip file's directory is missing: the file was cut short)",
        rezipped(
            good, folder / "other_zip.pt", keep=lambda name: False, extra=[("notes/readme.txt", "hello")]
        ): "not a readable checkpoint, truncated or corrupt (the zip file lacks torch.save's entry version)",
        rezipped(
            good, folder / "no_data.pt", keep=lambda name: "/data/" not in name
        ): "not a readable checkpoint, truncated or corrupt (the zip file lacks torch.save's entry data/0)",
        rezipped(
            good, folder / "no_pickle.pt", keep=lambda name: not name.endswith("data.pkl")
        ): "not a readable checkpoint, truncated or corrupt (the zip file lacks torch.save's entry data.pkl)",
        absurd_checkpoint(
            good, folder / "absurd.pt", 10**12, (10**12,)
        ): "not a readable checkpoint, truncated or corrupt (a tensor's declared size does not match its stored data)",
        absurd_checkpoint(
            good, folder / "absurd_view.pt", 4, (10**12,)
        ): "not a readable checkpoint, truncated or corrupt (a tensor's declared size does not match its stored data)",
        edited(
            "five_classes.pt", classes=meta["classes"][:5]
        ): "checkpoint metadata describes no valid model (classes ['surprise', 'fear', 'disgust', 'happiness', 'sadness']: "
        "videmo's seven in RAF-DB's order, surprise, fear, disgust, happiness, sadness, anger, neutral, are needed)",
        edited("reversed_classes.pt", classes=meta["classes"][::-1]):  # the outputs are read in videmo's order whatever it names
        "checkpoint metadata describes no valid model (classes ['neutral', 'anger', 'sadness', 'happiness', 'disgust', 'fear', "
        "'surprise']: videmo's seven in RAF-DB's order, surprise, fear, disgust, happiness, sadness, anger, neutral, are needed)",
        edited(
            "text_shift.pt", crop={"margin": 0.1, "shift": "x"}
        ): "checkpoint metadata describes no valid model (crop {'margin': 0.1, 'shift': 'x'}: a margin from -0.5 to 3 and a shift "
        "from -1 to 1 are needed, and align, where given, true or false)",
        edited(
            "nan_margin.pt", crop={"margin": float("nan"), "shift": 0.0}
        ): "checkpoint metadata describes no valid model (crop {'margin': nan, 'shift': 0.0}: a margin from -0.5 to 3 and a shift "
        "from -1 to 1 are needed, and align, where given, true or false)",
        edited(
            "text_align.pt", crop={"margin": 0.1, "shift": 0.0, "align": "yes"}
        ): "checkpoint metadata describes no valid model (crop {'margin': 0.1, 'shift': 0.0, 'align': 'yes'}: a margin from -0.5 to 3 "
        "and a shift from -1 to 1 are needed, and align, where given, true or false)",
        edited(
            "text_crop.pt", crop="big"
        ): "checkpoint metadata describes no valid model (crop 'big': a margin from -0.5 to 3 and a shift from -1 to 1 are needed, and align, where given, true or false)",
        edited(
            "other_size.pt", image_size=64
        ): "weights do not match the architecture in its metadata (its image size of 64 px gives 2048 features, "
        "the weights take 512: they were trained at another input size)",
        edited(
            "huge_size.pt", image_size=10**9
        ): "checkpoint metadata describes no valid model (image size 1000000000: a whole number of pixels from 32 to 4096 is needed)",
        edited(
            "text_size.pt", image_size="32"
        ): "checkpoint metadata describes no valid model (image size '32': a whole number of pixels from 32 to 4096 is needed)",
        edited("no_size.pt", image_size=None):  # in words, not Python's None
        "checkpoint metadata describes no valid model (image size not set: a whole number of pixels from 32 to 4096 is needed)",
        edited(
            "class_count.pt", classes=7
        ): "checkpoint metadata describes no valid model (classes 7: videmo's seven in RAF-DB's order, surprise, fear, disgust, happiness, sadness, anger, neutral, are needed)",
        edited(
            "three_means.pt", mean=[0.5, 0.5, 0.5]
        ): "checkpoint metadata describes no valid model (mean [0.5, 0.5, 0.5]: one finite number for its 1 channel is needed)",
        edited(
            "zero_std.pt", std=[0.0]
        ): "checkpoint metadata describes no valid model (std [0.0]: one finite number, above 0, for its 1 channel is needed)",
        edited(
            "text_mean.pt", mean="x"
        ): "checkpoint metadata describes no valid model (mean 'x': one finite number for its 1 channel is needed)",
        folder / "zero.pt": "not a regular file (a character device), not a checkpoint; videmo never reads it",
        folder / "fifo.pt": "not a regular file (a FIFO, a named pipe), not a checkpoint; videmo never reads it",
        folder / "folder.pt": "a folder, not a checkpoint file",
    }


def test_info_says_each_bad_checkpoint_in_one_line(bad_checkpoints):
    for path, cause in bad_checkpoints.items():
        run = invoke("info", path)
        assert run.exit_code == 1 and run.stderr == f"videmo: error: {path}: {cause}\n", (path, run.stderr)


def test_analyze_says_each_bad_checkpoint_in_one_line_and_writes_nothing(bad_checkpoints, one_face_video, tmp_path):
    for path, cause in bad_checkpoints.items():
        run = invoke("analyze", one_face_video, "-w", path, "-o", tmp_path / "out", "-q")
        assert run.exit_code == 1 and run.stderr == f"videmo: error: {path}: {cause}\n", (path, run.stderr)
    assert not (tmp_path / "out").exists()


def test_an_absurd_tensor_size_is_refused_without_allocating_it(bad_checkpoints):
    """Under a 6 GiB address-space limit: the declared tensor (4 TB) could never be allocated there."""
    absurd = [path for path in bad_checkpoints if path.name.startswith("absurd")]
    script = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30)); "
        "from videmo.cli import main; sys.argv = ['videmo', 'info', sys.argv[1]]; main()"
    )
    for path in absurd:
        run = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, env=ENV, timeout=120)
        assert run.returncode == 1 and run.stderr == f"videmo: error: {path}: {bad_checkpoints[path]}\n", run.stderr


def test_a_link_to_dev_zero_is_never_read(bad_checkpoints, monkeypatch):
    zero = next(path for path in bad_checkpoints if path.name == "zero.pt")
    opened = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda file, *a, **k: opened.append(file) or real_open(file, *a, **k))
    with pytest.raises(checkpoint.CheckpointError, match="not a regular file"):
        checkpoint.load_checkpoint(zero)
    assert Path(zero) not in map(Path, [f for f in opened if isinstance(f, (str, os.PathLike))])


def test_an_unreadable_checkpoint_is_one_line(tiny_checkpoint, monkeypatch):
    real_access = os.access
    monkeypatch.setattr(checkpoint.os, "access", lambda path, mode: Path(path) != tiny_checkpoint and real_access(path, mode))
    with pytest.raises(checkpoint.CheckpointError) as error:  # `info` has click say it (exit 2); analyze's -w reaches this
        checkpoint.load_checkpoint(tiny_checkpoint)
    assert str(error.value) == f"{tiny_checkpoint}: cannot read the checkpoint (permission denied)"


def test_a_deflated_zip_of_a_good_checkpoint_still_loads(tiny_checkpoint, tmp_path):
    """Already fine: torch reads a re-zipped (compressed) checkpoint."""
    source = zipfile.ZipFile(tiny_checkpoint)
    with zipfile.ZipFile(tmp_path / "deflated.pt", "w", zipfile.ZIP_DEFLATED) as zip_file:
        for name in source.namelist():
            zip_file.writestr(name, source.read(name))
    assert invoke("info", tmp_path / "deflated.pt").exit_code == 0


# ---------------------------------------------------------------------------------------------
# File systems


def test_a_read_only_output_folder_fails_before_the_analysis(one_face_video, tiny_checkpoint, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    real_access = os.access
    monkeypatch.setattr(runner.os, "access", lambda path, mode: Path(path) != out and real_access(path, mode))
    monkeypatch.setattr(runner, "Analyzer", lambda options: pytest.fail("the models loaded for a run that cannot save"))
    run = invoke("analyze", one_face_video, "-w", tiny_checkpoint, "-o", out, "-q")
    assert run.exit_code == 1
    assert (
        run.stderr
        == f"videmo: error: {out}: cannot write results there: {out} is not writable (permission denied or a read-only file system)\n"
    )
    assert entries(out) == []


def test_an_output_below_a_file_fails_before_the_analysis(one_face_video, tiny_checkpoint, tmp_path):
    (tmp_path / "file").write_text("mine")
    out = tmp_path / "file" / "out"
    run = invoke("analyze", one_face_video, "-w", tiny_checkpoint, "-o", out, "-q")
    assert (
        run.exit_code == 1
        and run.stderr == f"videmo: error: {out}: cannot write results there: {tmp_path / 'file'} is a file, not a folder\n"
    )
    assert (tmp_path / "file").read_text() == "mine"


def test_a_read_only_file_system_met_mid_write_fails_that_video_in_one_line(
    one_face_video, tiny_checkpoint, tmp_path, monkeypatch
):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(folders, "write_frames_csv", read_only)
    out = tmp_path / "out"
    run = invoke("analyze", one_face_video, "-w", tiny_checkpoint, "-o", out, "-q", "--no-report")
    assert run.exit_code == 1
    assert run.stderr.splitlines() == [
        f"videmo: error: {out / one_face_video.stem}: cannot write results (Read-only file system)",
        "videmo: 1 input failed",
    ]
    assert not (out / one_face_video.stem).exists() and not [p for p in entries(out) if p.startswith(".")]


def test_a_disk_that_fills_while_the_batch_tables_are_written_fails_in_one_line(
    one_face_video, tiny_checkpoint, tmp_path, monkeypatch
):
    from videmo.batch import index as batch

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(batch, "write_atomically", full)
    out = tmp_path / "out"
    run = invoke("analyze", one_face_video, "-w", tiny_checkpoint, "-o", out, "-q")
    assert run.exit_code == 1
    assert run.stderr.splitlines() == [f"videmo: error: {out}: cannot write the batch tables (No space left on device)"]
    assert (out / one_face_video.stem / "summary.json").is_file()  # the video's own results were written before


ODD_NAMES = ["-dash.mp4", "caf\u00e9 \u00e0 l'\u00e9t\u00e9.mp4", 'it\'s "quoted" name.mp4']


@pytest.fixture(scope="module")
def hostile_run(one_face_video, tiny_checkpoint, tmp_path_factory):
    """One run under LC_ALL=C with HOME and TMPDIR unwritable, on names with a leading dash,
    non-ASCII letters, spaces and quotes, one of them given twice, into an -o with a space."""
    root = tmp_path_factory.mktemp("hostile")
    inputs = root / "in"
    inputs.mkdir()
    for name in ODD_NAMES:
        (inputs / name).write_bytes(one_face_video.read_bytes())
    checkpoint_copy = root / "tiny.pt"
    checkpoint_copy.write_bytes(tiny_checkpoint.read_bytes())
    (root / "a-file").write_text("HOME and TMPDIR below a file can never be made or written, even by root")
    env = {**ENV, "LC_ALL": "C", "LANG": "C", "HOME": str(root / "a-file" / "home"), "TMPDIR": str(root / "a-file" / "tmp")}
    env.pop("MPLCONFIGDIR", None)
    given = [f"./{ODD_NAMES[0]}", *ODD_NAMES[1:], ODD_NAMES[1]]
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    run = videmo_run(
        "analyze", "-w", checkpoint_copy, "-o", "out dir", "-q", "--every", "2", "--", *given, env=env, cwd=inputs
    )  # 0.2 s apart: no warning
    return root, inputs, before, run


def test_odd_names_under_lc_all_c_are_analysed_once_each(hostile_run):
    root, inputs, _, run = hostile_run
    assert run.returncode == 0, run.stderr
    assert run.stderr == "", run.stderr  # no warning from matplotlib or torch about HOME or TMPDIR either
    out = inputs / "out dir"
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(Path(n).stem for n in ODD_NAMES)
    assert len([line for line in run.stdout.splitlines() if "frames analysed" in line]) == len(
        ODD_NAMES
    )  # the name given twice: once


def test_nothing_is_written_outside_the_output_folder(hostile_run):
    root, inputs, before, run = hostile_run
    assert run.returncode == 0, run.stderr
    after = sorted(
        p.relative_to(root)
        for p in root.rglob("*")
        if Path("in", "out dir") not in [p.relative_to(root), *p.relative_to(root).parents]
    )
    assert after == before  # no cache beside the inputs or anywhere under the root


def test_a_full_output_folder_says_so_in_one_line(one_face_video, tiny_checkpoint, tmp_path, monkeypatch):
    """Already fine (see also test_robustness's full-disk test): ENOSPC on the first write."""

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(folders, "write_timeline_csv", full)
    lines = []
    failed = runner.analyze_many(
        [str(one_face_video)],
        tmp_path / "out",
        AnalyzeOptions(weights=str(tiny_checkpoint), every=5),
        quiet=True,
        report=lines.append,
        html_report=False,
    )
    assert failed == 1 and lines == [
        f"videmo: error: {tmp_path / 'out' / one_face_video.stem}: cannot write results (No space left on device)"
    ]
