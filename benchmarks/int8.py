"""int8 for the classifier, measured on this CPU: ONNX Runtime's static quantization (QDQ, weights per
channel, activations calibrated by min/max on FER+ Train faces) against the runtimes ``analyze`` uses.

    python benchmarks/int8.py --data /tmp/data/ferplus               # 1024 calibration faces
    python benchmarks/int8.py --data /tmp/data/ferplus --calibration 256 --only-convs

Printed: one thread, batches of 64, images per second of the shipped model as torch fp32 and, where
the CPU has native bf16, torch bf16 (channels-last, as ``analyze`` runs them), ONNX Runtime fp32 with
direct convolutions and with the Winograd layers ``analyze`` runs, and the int8 graph; then FER+
Valid accuracy (majority labels) of the fp32 direct graph and the int8 one, each face as it is and
with the mirror (``analyze``'s default), and the share of faces both label alike. int8 pays only on
CPUs with VNNI (vpdpbusd); on AVX2 without it ONNX Runtime's u8s8 products can saturate.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def faces(dataset, meta: dict, split: str, count: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Model inputs (uint8, equalised where the model is) and majority labels of ``split``; ``count`` drawn at random (seed 0)."""
    from videmo.model.inference import equalize
    from videmo.training.datasets import NO_LABEL
    from videmo.training.images import decode_samples

    samples = [s for s in dataset.split(split) if s.label != NO_LABEL]
    if count is not None:
        samples = [samples[i] for i in np.random.default_rng(0).choice(len(samples), min(count, len(samples)), replace=False)]
    images, labels, _, _ = decode_samples(samples, meta["image_size"], meta["channels"], 2, False, report=lambda line: None)
    return (equalize(images) if meta.get("equalize") else images), labels


def plain_graph(model, path: Path) -> None:
    """The fp32 ONNX graph with direct convolutions only, weights inside, written to ``path``."""
    from onnx import TensorProto, helper, numpy_helper, save

    from videmo.model import onnx as runtime

    winograd_from = runtime.WINOGRAD_MIN_CHANNELS
    runtime.WINOGRAD_MIN_CHANNELS = 1 << 30  # no layer has that many channels: every conv stays direct
    try:
        graph = runtime.onnx_model(model)
    finally:
        runtime.WINOGRAD_MIN_CHANNELS = winograd_from
    weights = [
        numpy_helper.from_array(graph.external[t.name], t.name) if t.data_location == TensorProto.EXTERNAL else t
        for t in graph.weights
    ]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", model.in_channels, model.image_size, model.image_size])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", model.head[-1].out_features])]
    save(
        helper.make_model(
            helper.make_graph(graph.nodes, "videmo", inputs, outputs, weights),
            opset_imports=[helper.make_opsetid("", runtime.OPSET)],
        ),
        str(path),
    )


class Session:
    """An ONNX Runtime session called like the torch model (for ``predict``)."""

    def __init__(self, path: Path, threads: int):
        from videmo.model.onnx import import_onnxruntime

        onnxruntime = import_onnxruntime()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads, options.log_severity_level = threads, 1, 3
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def eval(self) -> Session:
        return self

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.session.run(None, {"x": batch.float().contiguous().numpy()})[0])


def images_per_second(run, batch: torch.Tensor, repeats: int = 8) -> float:
    with torch.inference_mode():
        run(batch), run(batch)
        started = time.perf_counter()
        for _ in range(repeats):
            run(batch)
    return repeats * len(batch) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="FER+ (ferplus layout): Train calibrates, Valid scores")
    parser.add_argument("--calibration", type=int, default=1024, help="FER+ Train faces the activation ranges are measured on")
    parser.add_argument(
        "--only-convs", action="store_true", help="quantize the convolutions only (pools, sums and the head stay fp32)"
    )
    args = parser.parse_args()
    from videmo.model.onnx import import_onnxruntime

    import_onnxruntime()  # its telemetry off before the quantization tools import it
    from onnxruntime.quantization import CalibrationDataReader

    from videmo.model.checkpoint import default_weights, load_checkpoint
    from videmo.training.datasets import load_dataset

    checkpoint = load_checkpoint(default_weights())
    model, meta = checkpoint.model.eval(), checkpoint.meta
    mean, std = (torch.tensor(meta[key]).view(1, -1, 1, 1) for key in ("mean", "std"))
    dataset = load_dataset(args.data, "ferplus")
    calibration, _ = faces(dataset, meta, "train", args.calibration)
    inputs = ((calibration.float() / 255 - mean) / std).numpy()

    class Calibration(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"x": inputs[i : i + 64]} for i in range(0, len(inputs), 64)])

        def get_next(self):
            return next(self.batches, None)

    with tempfile.TemporaryDirectory(prefix="videmo-int8-") as folder:
        measure(Path(folder), model, meta, dataset, inputs, args.only_convs, Calibration)


def measure(folder: Path, model, meta: dict, dataset, inputs: np.ndarray, only_convs: bool, calibration_reader) -> None:
    """Write the fp32 and int8 graphs into ``folder`` (int8 calibrated on ``inputs``, read by
    ``calibration_reader``), then print their speeds and FER+ Valid figures."""
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from videmo.model.device import autocast, cpu_has_fast_bf16
    from videmo.model.inference import predict
    from videmo.model.runtime import OnnxRuntimeModel
    from videmo.training.metrics import scores

    mean, std = (torch.tensor(meta[key]).view(1, -1, 1, 1) for key in ("mean", "std"))
    plain_graph(model, folder / "fp32.onnx")
    quant_pre_process(str(folder / "fp32.onnx"), str(folder / "prepared.onnx"))
    quantize_static(
        str(folder / "prepared.onnx"),
        str(folder / "int8.onnx"),
        calibration_reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
        op_types_to_quantize=["Conv"] if only_convs else None,
    )

    torch.set_num_threads(1)
    batch = torch.from_numpy(inputs[:64])
    channels_last = model.to(memory_format=torch.channels_last)
    rates = {"torch fp32 (channels-last)": lambda x: channels_last(x.contiguous(memory_format=torch.channels_last))}
    if cpu_has_fast_bf16():

        def bf16(x):
            with autocast(torch.device("cpu"), "bf16"):
                return channels_last(x.contiguous(memory_format=torch.channels_last))

        rates["torch bf16 (channels-last)"] = bf16
    rates["ONNX Runtime fp32, direct"] = Session(folder / "fp32.onnx", 1)
    rates["ONNX Runtime fp32, Winograd (analyze's)"] = OnnxRuntimeModel(model, 1)
    rates[f"ONNX Runtime int8 ({'convs' if only_convs else 'whole graph'})"] = Session(folder / "int8.onnx", 1)
    print(f"one thread, batches of 64 ({'native bf16' if cpu_has_fast_bf16() else 'no native bf16'}):")
    for name, run in rates.items():
        print(f"  {name:42s} {images_per_second(run, batch):7.1f} images/s", flush=True)

    torch.set_num_threads(2)
    images, labels = faces(dataset, meta, "val")
    print(f"FER+ Valid ({len(labels)} faces), int8 calibrated on {len(inputs)} FER+ Train faces:")
    predictions = {}
    for name in ("fp32", "int8"):
        session = Session(folder / f"{name}.onnx", 2)
        for mirror in (False, True):
            logits = predict(session, images, mean, std, torch.device("cpu"), "fp32", 256, mirror)
            predictions[name, mirror] = logits.argmax(1)
            print(
                f"  {name} {'with the mirror' if mirror else 'as it is':16s} accuracy {scores(labels, logits.argmax(1), len(meta['classes'])).accuracy:.4f}"
            )
    for mirror in (False, True):
        same = (predictions["fp32", mirror] == predictions["int8", mirror]).float().mean().item()
        print(f"  same label, int8 and fp32, {'with the mirror' if mirror else 'as it is'}: {same:.2%}")


if __name__ == "__main__":
    main()
