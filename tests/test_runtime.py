"""ONNX Runtime, the CPU's classifier: torch's fp32 logits on real faces, every architecture, and torch
when its graph cannot be built."""

import tarfile

import pytest
import torch
from click.testing import CliRunner

from videmo.checkpoint import default_weights, load_checkpoint
from videmo.classify import EmotionClassifier
from videmo.cli import main
from videmo.images import decode_samples
from videmo.data import load_dataset
from videmo.device import cpu_has_fast_bf16
from videmo.inference import predict
from videmo.models import Awei
from videmo.runtime import build_runtime, resolve_runtime

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def real_faces(shared_data, tmp_path_factory):
    """256 FER+ Valid faces, as the shipped model's evaluation decodes them."""
    root = tmp_path_factory.mktemp("ferplus")
    with tarfile.open(shared_data / "ferplus-48px.tar.gz") as archive:
        archive.extractall(root, members=[m for m in archive.getmembers() if "/FER2013Valid/" in m.name], filter="data")
    dataset = load_dataset(next(root.rglob("FER2013Valid")).parent)
    images, _, _, _ = decode_samples(dataset.split("val")[:256], 48, 1, progress=False)
    return images


def test_onnx_logits_match_torch_fp32_on_real_faces(real_faces):
    checkpoint = load_checkpoint(default_weights())
    meta = checkpoint.meta
    mean, std = (torch.tensor(meta[k]).view(1, -1, 1, 1) for k in ("mean", "std"))
    fast, _ = build_runtime(checkpoint.model)
    reference = predict(checkpoint.model, real_faces, mean, std, CPU, "fp32", 64, mirror=True)
    logits = predict(fast, real_faces, mean, std, CPU, "fp32", 64, mirror=True)
    # fp32 both ways, the same arithmetic in another order: rounding only (logits are of order 1-10)
    assert (logits - reference).abs().max() < 1e-3
    assert torch.equal(logits.argmax(1), reference.argmax(1))


@pytest.mark.parametrize("arch, channels, size, vgg, residual", [
    ("cnn", 1, 32, "vgg11", "one-stage"), ("awei", 3, 40, "vgg11", "one-stage"), ("awei-vgg", 1, 48, "vgg11_bn", "one-stage"),
    ("awei-vgg", 3, 64, "vgg13", "two-stage"), ("awei", 1, 100, "vgg11", "one-stage")])
def test_every_architecture_and_size_gets_torchs_logits(arch, channels, size, vgg, residual):
    torch.manual_seed(0)
    model = Awei(arch, channels, size, vgg=vgg, residual=residual).eval()
    for norm in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):  # statistics that folding must carry
        norm.running_mean.uniform_(-0.5, 0.5), norm.running_var.uniform_(0.5, 2.0), norm.weight.data.uniform_(0.5, 1.5)
    fast, why = build_runtime(model)
    assert why is None
    x = torch.rand(5, channels, size, size)
    with torch.inference_mode():
        assert (fast(x) - model(x)).abs().max() < 1e-4


class Unwritable(Awei):
    """A model this module has no ONNX form for (another architecture, say)."""


def test_a_model_without_an_onnx_form_runs_on_torch_with_one_note(tiny_checkpoint):
    checkpoint = load_checkpoint(tiny_checkpoint)
    checkpoint.model.__class__ = Unwritable
    classifier = EmotionClassifier(checkpoint, CPU, "fp32")
    assert classifier.runtime == "torch" and classifier.precision == "fp32"
    assert classifier.note.startswith("the classifier runs on torch: its ONNX Runtime graph could not be built (ValueError: ")
    assert "\n" not in classifier.note


def test_runtime_choice():
    assert resolve_runtime("auto", CPU, "auto") == ("torch" if cpu_has_fast_bf16() else "onnx")
    assert resolve_runtime("auto", CPU, "fp32") == "onnx" and resolve_runtime("onnx", CPU, "auto") == "onnx"
    assert resolve_runtime("auto", CPU, "bf16") == "torch" and resolve_runtime("torch", CPU, "auto") == "torch"
    with pytest.raises(Exception, match="--runtime onnx runs fp32 on the CPU, not bf16"):
        resolve_runtime("onnx", CPU, "bf16")


def test_analyze_records_the_runtime_and_torch_gives_the_same_labels(one_face_video, tiny_checkpoint, tmp_path):
    for runtime in ("onnx", "torch"):
        result = CliRunner().invoke(main, ["analyze", str(one_face_video), "-w", str(tiny_checkpoint), "-o", str(tmp_path / runtime),
                                           "-q", "--every", "3", "--runtime", runtime, "--precision", "fp32"])
        assert result.exit_code == 0, result.output
    import json

    import videmo

    summaries = {r: json.loads((tmp_path / r / "one_face" / "summary.json").read_text()) for r in ("onnx", "torch")}
    assert summaries["onnx"]["settings"]["runtime"] == "onnx" and summaries["torch"]["settings"]["runtime"] == "torch"
    frames = {r: videmo.read_results(tmp_path / r / "one_face") for r in ("onnx", "torch")}
    assert frames["onnx"]["emotion"].equals(frames["torch"]["emotion"])
