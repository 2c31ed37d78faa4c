"""Where detection's time goes: milliseconds a frame in each of MTCNN's networks and in the area
resizing around them, on one thread, and the crops R-Net and O-Net score a frame (their batches
padded to powers of two, as ``detect.run_in_buckets`` runs them).

    python benchmarks/detect_profile.py VIDEO [--every K] [--pnet-pixels N]

The video's frames are decoded once, then ``FaceDetector.detect`` (``analyze``'s defaults; ``--every``
as ``--detect-every``) runs over them in chunks of 16 frames, as a lane runs it, after one warm-up
chunk. The parts are timed by wrapping the networks' forward passes (P-Net's: ``detect.pnet_forward``)
and ``detect``'s module-level helpers; what is left of the total is NMS, box arithmetic and Python.
P-Net's time is also given per pixel it saw, for its calls on whole pyramid levels (keyframes) and on
parts of them (between keyframes); ``--pnet-pixels`` sets ``detect.PNET_PIXELS``, the most pixels of
a level P-Net sees in one call.
"""

from __future__ import annotations

import argparse
import collections
import functools
import time

import av
import numpy as np
import torch

from videmo.core.options import AnalyzeOptions
from videmo.faces import detect

HELPERS = [
    "crop_boxes",
    "summed_area_tables",
    "table_level",
    "table_parts",
    "shrunk",
    "level_parts",
    "cell_boxes",
    "cuts_in",
    "surroundings",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video")
    parser.add_argument("--every", type=int, default=AnalyzeOptions().detect_every)
    parser.add_argument("--pnet-pixels", type=int, default=detect.PNET_PIXELS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    detect.PNET_PIXELS = args.pnet_pixels
    with av.open(args.video) as container:
        frames = np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])
    defaults = AnalyzeOptions()
    detector = detect.FaceDetector(
        torch.device("cpu"), defaults.detect_width, defaults.min_face, defaults.det_threshold, args.every
    )

    seconds, boxes = collections.Counter(), collections.Counter()

    def timed(name, function, count=False):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            result = function(*args, **kwargs)
            seconds[name] += time.perf_counter() - started
            if count:
                boxes[name] += len(args[0])
            return result

        return wrapper

    for name in ("rnet", "onet"):
        net = getattr(detector, name)
        net.forward = timed(name, net.forward, count=True)
    pnet_calls = collections.defaultdict(lambda: [0.0, 0])  # whole levels or parts: seconds, pixels

    def pnet_forward(net, x):
        started = time.perf_counter()
        result = forward(net, x)
        kind = pnet_calls["parts" if searching_parts else "levels"]
        kind[0] += time.perf_counter() - started
        kind[1] += x.shape[0] * x.shape[2] * x.shape[3]
        return result

    forward, searching_parts = detect.pnet_forward, False
    detect.pnet_forward = timed("pnet", pnet_forward)
    propose = detect.FaceDetector.propose

    def propose_noting_parts(self, images, tables, min_face, windows=None):
        nonlocal searching_parts
        searching_parts = windows is not None
        return propose(self, images, tables, min_face, windows)

    detect.FaceDetector.propose = propose_noting_parts
    for name in HELPERS:
        setattr(detect, name, timed(name, getattr(detect, name)))

    detector.detect(frames[:16])
    seconds.clear(), boxes.clear(), pnet_calls.clear()
    started = time.perf_counter()
    for start in range(0, len(frames), 16):
        detector.detect(frames[start : start + 16])
    total, count = time.perf_counter() - started, len(frames)
    parts = ", ".join(f"{name} {value / count * 1000:.1f}" for name, value in seconds.most_common())
    print(
        f"{args.video} (--detect-every {args.every}, one thread): {total / count * 1000:.1f} ms a frame; {parts}; "
        f"crops scored a frame: R-Net {boxes['rnet'] / count:.1f}, O-Net {boxes['onet'] / count:.1f}; P-Net (calls of at most "
        f"{detect.PNET_PIXELS} pixels): "
        + ", ".join(
            f"{kind} {1e9 * spent / max(pixels, 1):.0f} ns a pixel ({pixels / count / 1e6:.2f} million a frame)"
            for kind, (spent, pixels) in sorted(pnet_calls.items())
        )
    )


if __name__ == "__main__":
    main()
