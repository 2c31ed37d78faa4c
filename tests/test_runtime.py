"""ONNX Runtime, the CPU's classifier: torch's fp32 logits on real faces, every architecture, and torch
when its graph cannot be built."""

import tarfile

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from videmo.cli import main
from videmo.faces.classify import EmotionClassifier
from videmo.model.awei import Awei
from videmo.model.checkpoint import default_weights, load_checkpoint
from videmo.model.device import cpu_has_fast_bf16
from videmo.model.export import sequential
from videmo.model.inference import predict
from videmo.model.onnx import Graph
from videmo.model.runtime import build_runtime, resolve_runtime
from videmo.model.winograd import WINOGRAD_POINTS, winograd_matrices
from videmo.training.datasets import load_dataset
from videmo.training.images import decode_samples

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


@pytest.mark.parametrize(
    "arch, channels, size, vgg, residual",
    [
        ("cnn", 1, 32, "vgg11", "one-stage"),
        ("awei", 3, 40, "vgg11", "one-stage"),
        ("awei-vgg", 1, 48, "vgg11_bn", "one-stage"),
        ("awei-vgg", 3, 64, "vgg13", "two-stage"),
        ("awei", 1, 100, "vgg11", "one-stage"),
    ],
)
def test_every_architecture_and_size_gets_torchs_logits(arch, channels, size, vgg, residual):
    torch.manual_seed(0)
    model = Awei(arch, channels, size, vgg=vgg, residual=residual).eval()
    for norm in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):  # statistics that folding must carry
        norm.running_mean.uniform_(-0.5, 0.5), norm.running_var.uniform_(0.5, 2.0), norm.weight.data.uniform_(0.5, 1.5)
    fast, why = build_runtime(model)
    assert why is None
    x = torch.rand(5, channels, size, size)
    with torch.inference_mode():
        expected = model(x)
        assert (fast(x) - expected).abs().max() < 1e-5 * expected.abs().max()  # measured: 1e-7 to 2e-6


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
        result = CliRunner().invoke(
            main,
            [
                "analyze",
                str(one_face_video),
                "-w",
                str(tiny_checkpoint),
                "-o",
                str(tmp_path / runtime),
                "-q",
                "--every",
                "3",
                "--runtime",
                runtime,
                "--precision",
                "fp32",
            ],
        )
        assert result.exit_code == 0, result.output
    import json

    import videmo

    summaries = {r: json.loads((tmp_path / r / "one_face" / "summary.json").read_text()) for r in ("onnx", "torch")}
    assert summaries["onnx"]["settings"]["runtime"] == "onnx" and summaries["torch"]["settings"]["runtime"] == "torch"
    frames = {r: videmo.read_results(tmp_path / r / "one_face") for r in ("onnx", "torch")}
    assert frames["onnx"]["emotion"].equals(frames["torch"]["emotion"])


@pytest.mark.parametrize("m", sorted(WINOGRAD_POINTS))
def test_winograd_transforms_compute_the_correlation(m):
    bt, g, at = winograd_matrices(m)
    assert np.array_equal(bt.astype(np.float32), bt) and np.array_equal(at.astype(np.float32), at)  # exact in the graph
    rng = np.random.default_rng(m)
    d, f = rng.normal(size=m + 2), rng.normal(size=3)
    assert np.allclose(at @ ((g @ f) * (bt @ d)), [d[i : i + 3] @ f for i in range(m)], atol=1e-12)


# A layer's largest error against float64, over its outputs' largest value: measured 4e-7 (m = 2) to
# 1e-5 (m = 6) at 256 channels, against 1.6e-6 for a direct fp32 conv; bounds about 3x those.
WINOGRAD_ERROR = {2: 3e-6, 3: 1e-5, 4: 2e-5, 6: 4e-5}


@pytest.mark.parametrize("m", sorted(WINOGRAD_POINTS))
@pytest.mark.parametrize(
    "side, pool", [(12, True), (12, False), (14, True), (10, True), (7, True), (5, False), (3, True), (1, False)]
)
def test_winograd_conv_is_relu_conv_and_pool(m, side, pool, monkeypatch):
    """Every tile size at sides that fill whole tiles and sides that leave padding (cropped), pooled or not."""
    from onnx import TensorProto, helper

    monkeypatch.setattr("videmo.model.onnx.winograd_tile", lambda side, out_channels: m)
    torch.manual_seed(side)
    conv = torch.nn.Conv2d(256, 64, 3, padding=1)
    x = torch.randn(2, 256, side, side)
    graph = Graph()
    y, out_side = graph.winograd_conv(graph.transpose("x"), conv.weight.detach(), conv.bias.detach(), side, pool)
    graph.nodes.append(helper.make_node("Identity", [graph.transpose(y)], ["y"]))
    run = graph.session(
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    with torch.inference_mode():
        expected = torch.relu(conv.double()(x.double()))
        expected = torch.nn.functional.max_pool2d(expected, 2) if pool else expected
    got = torch.from_numpy(run.run(["y"], {"x": x.numpy()})[0]).double()
    assert got.shape == expected.shape and out_side == expected.shape[-1]
    assert (got - expected).abs().max() < WINOGRAD_ERROR[m] * expected.abs().max()


@pytest.mark.parametrize(
    "layer",
    [
        torch.nn.Conv2d(16, 16, 3, stride=2, padding=1),
        torch.nn.Conv2d(16, 16, 3, padding=2, dilation=2),
        torch.nn.Conv2d(16, 16, 5, padding=2),
        torch.nn.Conv2d(16, 16, 3, padding=1, groups=2),
        torch.nn.MaxPool2d(3, 2),
    ],
)
def test_layers_the_graph_cannot_write_are_refused_not_miswritten(layer):
    """Refused, the model stays on torch (build_runtime says why); written as a plain layer, it would be wrong."""
    with pytest.raises(ValueError, match="no ONNX form"):
        sequential(Graph(), "x", torch.nn.Sequential(layer, torch.nn.ReLU()), 16, 12)
