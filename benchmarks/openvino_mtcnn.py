"""MTCNN's three networks on OpenVINO instead of torch, on the CPU: the networks alone, then the whole
pipeline, alternating in one process, with both sides' frames tables compared.

    pip install openvino        # not one of videmo's dependencies: this script's alone
    python benchmarks/openvino_mtcnn.py [VIDEO...] [--rounds 4]

OpenVINO compiles each network into one plan with its PReLUs fused into the convolutions, where
torch runs every convolution, PReLU and max-pool as a kernel of its own. The graphs are written here
from facenet-pytorch's modules, as their ``forward`` computes them, over NHWC input (the channels-last
batches ``videmo.faces.detect`` makes), in fp32 (OpenVINO would pick bf16 on CPUs that have it, which moves
MTCNN's boxes enough to change labels). Each lane takes an idle compiled copy of its own: one
compiled model runs one call at a time. In the pipeline, ``detect.pnet_forward`` and the detector's
R-Net and O-Net are swapped for the OpenVINO ones between runs (``analyze``'s defaults otherwise).
Default videos: the example clip and ../shared/data's crowd video. Output of 2026-12-05 on the Zen 4
EPYC (native bf16) in ``results/tried_bf16.txt``, section 8.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import openvino
import torch
from torch import nn

from videmo.core.options import AnalyzeOptions
from videmo.faces import detect
from videmo.run.pipeline import Analyzer

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = [ROOT / "examples" / "hamilton_clip.mp4", ROOT.parent / "shared" / "data" / "videos" / "crowd_walking_1080p.mp4"]
HEADS = {"PNet": (["conv4_2"], "conv4_1"), "RNet": (["dense5_2"], "dense5_1"), "ONet": (["dense6_2", "dense6_3"], "dense6_1")}
SIDES = {"PNet": -1, "RNet": 24, "ONet": 48}


def graph(net: nn.Module) -> openvino.Model:
    """``net``'s forward pass over NHWC input: its trunk (convolutions, PReLUs, max-pools, then for R- and
    O-Net the (N, W, H, C) flattening and dense layers), then its heads in ``forward``'s order."""
    ops = openvino.opset13
    layers = dict(net.named_children())
    plain, softmax = HEADS[type(net).__name__]
    side = SIDES[type(net).__name__]
    image = ops.parameter([-1, side, side, 3], openvino.Type.f32, name="images")

    def const(t: torch.Tensor):
        return ops.constant(t.detach().float().numpy())

    def apply(x, layer: nn.Module):
        if isinstance(layer, nn.Conv2d):
            return ops.add(
                ops.convolution(x, const(layer.weight), [1, 1], [0, 0], [0, 0], [1, 1]), const(layer.bias.reshape(1, -1, 1, 1))
            )
        if isinstance(layer, nn.Linear):
            if len(x.get_output_partial_shape(0)) == 4:  # facenet-pytorch flattens (N, W, H, C)
                x = ops.reshape(ops.transpose(x, ops.constant(np.array([0, 3, 2, 1]))), ops.constant(np.array([0, -1])), True)
            return ops.add(ops.matmul(x, const(layer.weight), False, True), const(layer.bias))
        if isinstance(layer, nn.PReLU):
            return ops.prelu(x, const(layer.weight))
        if isinstance(layer, nn.MaxPool2d):
            return ops.max_pool(
                x, [layer.stride] * 2, [1, 1], [0, 0], [0, 0], [layer.kernel_size] * 2, "ceil" if layer.ceil_mode else "floor"
            ).output(0)
        raise TypeError(f"no OpenVINO layer for {type(layer).__name__}")

    x = ops.transpose(image, ops.constant(np.array([0, 3, 1, 2])))
    for name, layer in layers.items():
        if name not in plain and name != softmax and not isinstance(layer, nn.Softmax):
            x = apply(x, layer)
    outputs = [apply(x, layers[name]) for name in plain] + [ops.softmax(apply(x, layers[softmax]), 1)]
    return openvino.Model(outputs, [image], type(net).__name__)


class OpenVinoNet:
    """One network, called as its torch module is (channels-last float32 in, a tuple of tensors out);
    each concurrent call on an idle compiled copy of its own."""

    def __init__(self, net: nn.Module, threads: int = 1):
        self.model, self.threads, self.idle, self.lock = graph(net), threads, [], threading.Lock()

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        with self.lock:
            request = self.idle.pop() if self.idle else None
        if request is None:
            properties = {
                "INFERENCE_NUM_THREADS": self.threads,
                "NUM_STREAMS": 1,
                "INFERENCE_PRECISION_HINT": "f32",
                "ENABLE_CPU_PINNING": False,
            }
            request = openvino.Core().compile_model(self.model, "CPU", properties).create_infer_request()
        try:
            request.infer([np.ascontiguousarray(x.permute(0, 2, 3, 1).numpy())])
            return tuple(torch.from_numpy(np.array(output.data)) for output in request.output_tensors)
        finally:
            with self.lock:
                self.idle.append(request)


def per_call_ms(call, x: torch.Tensor, repeat: int = 50) -> float:
    for _ in range(5):
        call(x)
    started = time.perf_counter()
    for _ in range(repeat):
        call(x)
    return (time.perf_counter() - started) / repeat * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("videos", nargs="*", type=Path, default=VIDEOS)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    analyzer = Analyzer(AnalyzeOptions())
    detector = analyzer.detector
    torch_nets = (detector.pnet, detector.rnet, detector.onet)
    started = time.perf_counter()
    fast = tuple(OpenVinoNet(net) for net in torch_nets)
    print(
        f"# openvino {openvino.__version__}; graphs written in {time.perf_counter() - started:.3f} s (each compiled at its first call)"
    )

    torch.set_num_threads(1)
    print("# the networks alone, one thread, random inputs in -1..1: ms a call, torch / OpenVINO, largest output difference")
    with torch.inference_mode():
        for i, shape in (
            (0, (4, 3, 216, 384)),
            (0, (1, 3, 31, 45)),
            (1, (32, 3, 24, 24)),
            (1, (16, 3, 24, 24)),
            (2, (16, 3, 48, 48)),
            (2, (4, 3, 48, 48)),
        ):
            x = (torch.rand(shape) * 2 - 1).contiguous(memory_format=torch.channels_last)
            reference = detect.pnet_forward(torch_nets[0], x) if i == 0 else torch_nets[i](x)
            difference = max(float((a - b).abs().max()) for a, b in zip(reference, fast[i](x)))
            torch_call = (lambda v: detect.pnet_forward(torch_nets[0], v)) if i == 0 else torch_nets[i]
            print(
                f"{type(torch_nets[i]).__name__} {tuple(shape)}: {per_call_ms(torch_call, x):.2f} / {per_call_ms(fast[i], x):.2f} ms, {difference:.1e}"
            )
    torch.set_num_threads(analyzer.threads)

    pnet_forward = detect.pnet_forward

    def use(openvino_side: bool) -> None:
        detect.pnet_forward = (lambda pnet, x: fast[0](x)) if openvino_side else pnet_forward
        detector.rnet, detector.onet = fast[1:] if openvino_side else torch_nets[1:]

    print(f"# the pipeline (analyze's defaults, {analyzer.lanes} lanes), frames a second in the process, alternating")
    for video in args.videos:
        rates, tables = {False: [], True: []}, {}
        for side in (False, True):  # warm-up
            use(side)
            analyzer.analyze_video(video)
        for _ in range(args.rounds):
            for side in (False, True):
                use(side)
                started = time.perf_counter()
                result = analyzer.analyze_video(video)
                rates[side].append(result.summary.counts["frames_analysed"] / (time.perf_counter() - started))
                tables[side] = result.frames
        before, after = tables[False], tables[True]
        faces = before["face_id"].notna()
        same_rows = len(before) == len(after) and bool((before["face_id"].isna() == after["face_id"].isna()).all())
        compared = (
            f"same emotion on {(before['emotion'] == after['emotion'])[faces].mean():.2%} of {int(faces.sum())} face-frames, "
            f"boxes within {np.nanmax(np.abs(before[['x1', 'y1', 'x2', 'y2']].values - after[['x1', 'y1', 'x2', 'y2']].values)):.1e} px"
            if same_rows
            else "different face-frames"
        )
        print(
            f"{video.name}: torch {' '.join(f'{r:.2f}' for r in rates[False])}, OpenVINO {' '.join(f'{r:.2f}' for r in rates[True])}; "
            f"medians {statistics.median(rates[False]):.2f} -> {statistics.median(rates[True]):.2f} "
            f"({statistics.median(rates[True]) / statistics.median(rates[False]):.3f}x); {compared}"
        )
    use(False)


if __name__ == "__main__":
    main()
