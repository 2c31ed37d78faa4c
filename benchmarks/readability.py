"""Which faces can be read: a model's accuracy on FER+ Valid as its faces are made small, dim, blurred
or turned, one degradation at a time, beside the sharpness and brightness that analyze would measure
on them (frames.csv's columns, ``faces.classify.seen_measures``).

    python benchmarks/readability.py [--weights CHECKPOINT] [--ferplus ../shared/data/ferplus-48px.tar.gz]

Each face is scored as ``videmo evaluate`` scores it (fp32, mirrored, the checkpoint's equalisation),
after the degradation. Pose is imitated by ``training.degrade.turn``'s perspective warp of the face
plane (a turned face's other side is not revealed, so this flatters turned faces). Writes
``benchmarks/results/readability.txt``.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import tempfile
from datetime import date
from pathlib import Path

import torch
import torch.nn.functional as F
from card_figures import SHARED, dataset

from videmo.faces.classify import seen_measures
from videmo.model.checkpoint import default_weights, load_checkpoint
from videmo.model.inference import equalize, predict
from videmo.training.datasets import NO_LABEL, load_dataset
from videmo.training.degrade import turn
from videmo.training.images import decode_samples


def smaller(x: torch.Tensor, side: int) -> torch.Tensor:
    """Faces seen at ``side`` pixels, enlarged back to the model's size as analyze's crop would be."""
    size = x.shape[-1]
    return F.interpolate(F.interpolate(x, size=side, mode="area"), size=size, mode="bilinear", align_corners=False)


def dimmer(x: torch.Tensor, level: float) -> torch.Tensor:
    """Light at ``level`` of the original, with the gamma of a camera's dark tones, and a little sensor noise."""
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(0)) * 2.0
    return (255 * (x / 255).pow(1.3) * level + noise).clamp(0, 255)


def blurred(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.exp(-(torch.arange(-radius, radius + 1, dtype=torch.float32) ** 2) / (2 * sigma**2))
    taps = taps / taps.sum()
    x = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, taps.view(1, 1, 1, -1).repeat(x.shape[1], 1, 1, 1), groups=x.shape[1])
    return F.conv2d(x, taps.view(1, 1, -1, 1).repeat(x.shape[1], 1, 1, 1), groups=x.shape[1])


def turned(x: torch.Tensor, degrees: float) -> torch.Tensor:
    base = F.affine_grid(torch.eye(2, 3).expand(len(x), 2, 3), list(x.shape), align_corners=False)
    yaw = torch.full((len(x),), math.radians(degrees))
    grid = turn(base, yaw, torch.zeros(len(x)))
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


CASES = [("as is", lambda x: x)]
CASES += [(f"{side} px face", lambda x, s=side: smaller(x, s)) for side in (24, 16, 12)]
CASES += [(f"light x{level}", lambda x, v=level: dimmer(x, v)) for level in (0.25, 0.12)]
CASES += [(f"blur sigma {sigma}", lambda x, s=sigma: blurred(x, s)) for sigma in (1.0, 2.0)]
CASES += [(f"turned {deg} deg", lambda x, d=deg: turned(x, d)) for deg in (30, 50)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ferplus", type=Path, default=SHARED / "ferplus-48px.tar.gz")
    parser.add_argument("--weights", type=Path, default=default_weights())
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "readability.txt")
    args = parser.parse_args()

    checkpoint = load_checkpoint(args.weights)
    meta = checkpoint.meta
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "unknown CPU")
    lines = [
        f"# measured {date.today()} at commit {commit} on {cpu}",
        f"{checkpoint.path.name} (sha256 {checkpoint.sha256[:12]}) on FER+ Valid, majority labels, fp32, mirrored",
        "",
        f"{'case':<16}{'accuracy':>10}{'sharpness':>11}{'brightness':>12}{'confidence':>12}",
    ]
    with tempfile.TemporaryDirectory() as scratch:
        data = load_dataset(str(dataset(args.ferplus, "FER2013Valid", Path(scratch))))
        samples = [s for s in data.split("val") if s.label != NO_LABEL]
        images, labels, _, _ = decode_samples(samples, meta["image_size"], meta["channels"], progress=False)
    mean = torch.tensor(meta["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(meta["std"]).view(1, -1, 1, 1)
    temperature = float((meta.get("calibration") or {}).get("temperature", 1.0))
    for name, degrade in CASES:
        seen = degrade(images.float()).round().clamp(0, 255)
        brightness, sharpness = seen_measures(seen.mean(dim=1, keepdim=True))
        faces = seen.to(torch.uint8)
        if meta.get("equalize"):
            faces = equalize(faces)
        logits = predict(checkpoint.model, faces, mean, std, torch.device("cpu"), "fp32", 256, mirror=True)
        confidence = torch.softmax(logits / temperature, dim=1).max(dim=1).values
        accuracy = float((logits.argmax(1) == labels).float().mean())
        lines.append(
            f"{name:<16}{accuracy:>10.4f}{float(sharpness.mean()):>11.4f}{float(brightness.mean()):>12.4f}"
            f"{float(confidence.mean()):>12.4f}"
        )
        print(lines[-1], flush=True)
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
