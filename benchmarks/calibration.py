"""Whether the probabilities keep their promises, measured on faces the temperature was not fitted on.

    python benchmarks/calibration.py [--weights CHECKPOINT] [--ferplus ...tar.gz] [--fer2013 ...tar.gz]

FER+ Valid is split in two halves by a fixed seed: a temperature is fitted on each half and scored on
the other (two-fold), beside temperature 1 and the checkpoint's own. FER2013 val (other faces' labels:
one annotator each) is scored with the temperature fitted on all of FER+ Valid. Each line gives the
expected calibration error of the top probability (15 bins) and, on FER+, the mean total variation
between the seven probabilities and the annotators' vote shares. Faces are scored as ``videmo
evaluate`` scores them (fp32, mirrored). Writes ``benchmarks/results/calibration.txt``.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from datetime import date
from pathlib import Path

import torch
from card_figures import SHARED, dataset

from videmo.model.checkpoint import default_weights, load_checkpoint
from videmo.model.inference import equalize, predict
from videmo.training.calibration import calibration_of, fit_temperature
from videmo.training.datasets import NO_LABEL, load_dataset
from videmo.training.images import decode_samples


def logits_of(checkpoint, root: Path, split: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    meta = checkpoint.meta
    samples = [s for s in load_dataset(str(root)).split(split) if s.label != NO_LABEL]
    images, labels, votes, _ = decode_samples(samples, meta["image_size"], meta["channels"], progress=False)
    if meta.get("equalize"):
        images = equalize(images)
    mean, std = (torch.tensor(meta[k]).view(1, -1, 1, 1) for k in ("mean", "std"))
    return predict(checkpoint.model, images, mean, std, torch.device("cpu"), "fp32", 256, mirror=True), labels, votes


def line(name: str, logits, labels, votes, temperature: float) -> str:
    c = calibration_of(logits, labels, temperature, votes)
    distance = f"  vote distance {c.vote_distance_calibrated:.4f}" if votes is not None else ""
    return f"{name:<44} T {temperature:<7g} ECE {c.ece:.4f}  mean confidence {c.mean_confidence:.4f}  accuracy {c.accuracy:.4f}{distance}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ferplus", type=Path, default=SHARED / "ferplus-48px.tar.gz")
    parser.add_argument("--fer2013", type=Path, default=SHARED / "fer2013-48px.tar.gz")
    parser.add_argument("--weights", type=Path, default=default_weights())
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "calibration.txt")
    args = parser.parse_args()

    checkpoint = load_checkpoint(args.weights)
    own = float((checkpoint.meta.get("calibration") or {}).get("temperature", 1.0))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    cpu = next((row.split(":", 1)[1].strip() for row in open("/proc/cpuinfo") if row.startswith("model name")), "unknown CPU")
    lines = [
        f"# measured {date.today()} at commit {commit} on {cpu}",
        f"{checkpoint.path.name} (sha256 {checkpoint.sha256[:12]})",
        "",
    ]
    with tempfile.TemporaryDirectory() as scratch:
        logits, labels, votes = logits_of(checkpoint, dataset(args.ferplus, "FER2013Valid", Path(scratch) / "ferplus"), "val")
        fer_logits, fer_labels, _ = logits_of(checkpoint, dataset(args.fer2013, "val", Path(scratch) / "fer2013"), "val")
    halves = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0)).chunk(2)
    for k, (fit, score) in enumerate(((halves[0], halves[1]), (halves[1], halves[0]))):
        t = fit_temperature(logits[fit], labels[fit])
        lines.append(line(f"FER+ Valid half {k + 1}, temperature 1", logits[score], labels[score], votes[score], 1.0))
        lines.append(line(f"FER+ Valid half {k + 1}, fitted on the other half", logits[score], labels[score], votes[score], t))
    whole = fit_temperature(logits, labels)
    lines.append(line("FER+ Valid, the checkpoint's own", logits, labels, votes, own))
    lines.append(line("FER2013 val, temperature 1", fer_logits, fer_labels, None, 1.0))
    lines.append(line("FER2013 val, fitted on FER+ Valid", fer_logits, fer_labels, None, whole))
    print("\n".join(lines))
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
