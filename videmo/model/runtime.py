"""What runs the classifier: ONNX Runtime on the graph onnx writes where it runs fp32 on the CPU, torch elsewhere, behind one callable."""

from __future__ import annotations

import torch

from videmo.core.errors import VidemoError
from videmo.core.options import RUNTIMES
from videmo.model.awei import Awei
from videmo.model.device import cpu_has_fast_bf16, prepare_model, resolve_precision
from videmo.model.export import onnx_model
from videmo.model.onnx import import_onnxruntime


class OnnxRuntimeModel:
    """Called like the torch model (a float32 CPU batch in, logits out), run by ONNX Runtime.

    One session serves every lane: each call runs in its caller's thread (``threads`` intra-op
    threads, 1 in the lanes), so two lanes use two cores."""

    def __init__(self, model: Awei, threads: int = 1):
        from onnx import TensorProto, helper

        self.graph = onnx_model(model)  # its weights, which the session reads in place
        self.session = self.graph.session(
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", model.in_channels, model.image_size, model.image_size])],
            [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", model.head[-1].out_features])],
            threads,
        )

    def eval(self) -> OnnxRuntimeModel:  # an inference graph already: as torch's model.eval() for predict
        return self

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        x = batch.detach().float().contiguous().numpy()
        return torch.from_numpy(self.session.run(["logits"], {"x": x})[0])


def resolve_runtime(runtime: str, device: torch.device, precision: str) -> str:
    """``auto``: ONNX Runtime where the classifier runs fp32 on the CPU (``--precision fp32``, or auto on
    a CPU without native bf16), torch elsewhere. On a CPU with native bf16, torch's bf16 classifies
    faces faster than the Winograd graph in fp32, and the whole ``analyze`` command takes less wall
    time (the graph's build is start-up) and less peak memory, for the same frames per second in the
    pipeline and nearly always the same ``emotion`` (measured by ``benchmarks/bench.py`` and
    ``benchmarks/runtimes.py``, see ``benchmarks/results/bench_bf16.txt``, ``pairs_bf16.txt`` and
    ``runtimes_bf16.txt``). ``onnx`` only runs fp32 on the CPU."""
    if runtime not in RUNTIMES:
        raise VidemoError(f"--runtime {runtime}: choose one of {', '.join(RUNTIMES)}")
    fits = device.type == "cpu" and precision in ("auto", "fp32")
    if runtime == "onnx" and not fits:
        raise VidemoError(f"--runtime onnx runs fp32 on the CPU, not {precision} on {device}; use --runtime torch")
    fp32 = precision == "fp32" or (precision == "auto" and not cpu_has_fast_bf16())
    return "onnx" if runtime == "onnx" or (runtime == "auto" and fits and fp32) else "torch"


def inference_model(model: Awei, device: torch.device, precision: str, runtime: str, threads: int = 1):
    """What runs ``model`` for analysis or evaluation: (callable, precision, runtime, note or None).
    The note says why ONNX Runtime was asked for but torch runs instead."""
    if resolve_runtime(runtime, device, precision) == "onnx":
        fast, note = build_runtime(model, threads)
        if fast is not None:
            return fast, "fp32", "onnx", None
        precision = "fp32"  # as asked: the same arithmetic on torch
    else:
        note = None
    precision = resolve_precision(precision, device)
    return prepare_model(model, device, precision), precision, "torch", note


def build_runtime(model: Awei, threads: int = 1) -> tuple[OnnxRuntimeModel | None, str | None]:
    """ONNX Runtime's form of ``model``, or None and the reason it stays on torch."""
    try:
        import_onnxruntime()
    except ImportError:
        return None, "ONNX Runtime is not installed: the classifier runs on torch (pip install onnxruntime)"
    try:
        return OnnxRuntimeModel(model, threads), None
    except Exception as e:  # noqa: BLE001 -- any failure to write or load the graph leaves torch, which always works
        cause = str(e).strip().splitlines()[0] if str(e).strip() else ""
        return (
            None,
            f"the classifier runs on torch: its ONNX Runtime graph could not be built ({type(e).__name__}: {cause[:200]})",
        )
