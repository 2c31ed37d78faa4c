import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner
from conftest import invoke, make_checkpoint
from media import EXAMPLE

from videmo.cli import main
from videmo.model.awei import Awei
from videmo.model.checkpoint import load_checkpoint, model_meta, save_checkpoint
from videmo.model.checks import CheckpointError


def test_round_trip_gives_identical_outputs(tmp_path):
    torch.manual_seed(1)
    model = Awei("awei-vgg", 3, 64, vgg="vgg11_bn").eval()
    save_checkpoint(tmp_path / "m.pt", model, model_meta(model, [0, 0, 0], [1, 1, 1], metrics={"accuracy": 0.5}))
    loaded = load_checkpoint(tmp_path / "m.pt")
    x = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), loaded.model(x))
    meta = loaded.meta
    assert meta["arch"] == "awei-vgg" and meta["vgg"] == "vgg11_bn" and meta["image_size"] == 64 and meta["channels"] == 3
    assert meta["classes"] == ["surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral"]
    assert meta["videmo_version"] and meta["created"] and meta["metrics"] == {"accuracy": 0.5}
    assert len(loaded.sha256) == 64


def test_half_precision_storage_is_widened_on_load(tmp_path):
    model = Awei("cnn", 1, 32).eval()
    save_checkpoint(tmp_path / "h.pt", model, model_meta(model, [0], [1]), half=True)
    loaded = load_checkpoint(tmp_path / "h.pt")
    assert all(p.dtype == torch.float32 for p in loaded.model.parameters())
    assert (tmp_path / "h.pt").stat().st_size < 0.6 * sum(p.numel() * 4 for p in model.parameters())


class Boom:
    """Unpickling it would create ``marker``: the proof that a checkpoint ran code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (subprocess.call, (["touch", str(self.marker)],))


def bad_files(tmp_path, good):
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    random = tmp_path / "random.pt"
    random.write_bytes(bytes(range(256)) * 64)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    malicious = tmp_path / "malicious.pt"
    torch.save({"format": "videmo-checkpoint", "payload": Boom(tmp_path / "pwned")}, malicious, pickle_protocol=2)
    plain = tmp_path / "plain_state_dict.pt"
    torch.save(Awei("cnn", 1, 32).state_dict(), plain)
    newer = tmp_path / "newer.pt"
    payload = torch.load(good, weights_only=True)
    torch.save({**payload, "format_version": 99}, newer)
    text_version = tmp_path / "text_version.pt"
    torch.save({**payload, "format_version": "x"}, text_version)
    other_arch = tmp_path / "other_arch.pt"
    torch.save({**payload, "meta": {**payload["meta"], "arch": "awei-vgg"}}, other_arch)
    other_size = tmp_path / "other_size.pt"
    torch.save({**payload, "meta": {**payload["meta"], "image_size": 64}}, other_size)
    return {
        truncated: "truncated or corrupt",
        random: "truncated or corrupt",
        empty: "empty",
        malicious: "refused",
        plain: "not a videmo checkpoint",
        newer: "newer",
        text_version: "format version 'x': a whole number is needed",
        other_arch: "do not match",
        other_size: "do not match",
        tmp_path / "missing.pt": "not found",
    }


def test_bad_checkpoints_get_one_clear_error_and_never_run_code(tmp_path):
    good = make_checkpoint(tmp_path / "good.pt", arch="awei", image_size=32)
    for path, cause in bad_files(tmp_path, good).items():
        with pytest.raises(CheckpointError) as error:
            load_checkpoint(path)
        message = str(error.value)
        assert str(path) in message and cause in message and "\n" not in message
    assert not (tmp_path / "pwned").exists()


def test_info_prints_metadata_and_parameter_count(tiny_checkpoint):
    result = CliRunner().invoke(main, ["info", str(tiny_checkpoint)])
    assert result.exit_code == 0, result.output
    assert "parameters" in result.output and "awei" in result.output and "surprise" in result.output


def test_info_on_a_bad_file_is_one_line_without_traceback(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_text("not a checkpoint")
    run = subprocess.run([sys.executable, "-m", "videmo.cli", "info", str(bad)], capture_output=True, text=True)
    assert run.returncode == 1
    assert run.stderr.strip().count("\n") == 0 and "Traceback" not in run.stderr and str(bad) in run.stderr


@pytest.mark.parametrize("command", [["info"], ["analyze", str(EXAMPLE), "-w"], ["train", "--data", ".", "--resume"]])
def test_a_text_file_as_a_checkpoint_is_one_line(tmp_path, command):
    text = tmp_path / "notes.pt"
    text.write_text("hello world\n")
    run = subprocess.run([sys.executable, "-m", "videmo.cli", *command, str(text)], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1] == (
        f"videmo: error: {text}: not a checkpoint: the file is not one that torch.save writes (text, or another format?)"
    )
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) <= 2  # and at most the loading notice


def test_weights_that_are_not_finite_are_refused(tmp_path):
    model = Awei("cnn", 1, 32)
    with torch.no_grad():
        model.head[2].weight[0, 0] = float("nan")
    path = tmp_path / "nan.pt"
    save_checkpoint(path, model, model_meta(model, [0.0], [1.0]))
    with pytest.raises(CheckpointError, match=r"nan\.pt: weights are not finite \(NaN or infinite values in head\.2\.weight\)"):
        load_checkpoint(path)


class RunsCode:
    def __reduce__(self):
        return (print, ("loaded and ran",))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_a_plain_pickle_that_would_run_code_is_refused_in_one_line(tmp_path, protocol):
    import pickle

    path = tmp_path / f"pickle{protocol}.pt"
    path.write_bytes(pickle.dumps({"state_dict": RunsCode()}, protocol=protocol))
    run = invoke("info", path)  # in this process: what ran would print to its captured stdout
    assert run.exit_code == 1 and "loaded and ran" not in run.stdout
    module = "__builtin__" if protocol < 3 else "builtins"  # what the file names: protocol 2 uses Python 2's module name
    assert (
        run.stderr
        == f"videmo: error: {path}: refused to load: the file would import and run code ({module}.print), not just hold weights\n"
    )
