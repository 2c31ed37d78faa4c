"""How turned are FER+'s training faces, and a ``--sample-weights`` file that draws the turned ones more often.

    python benchmarks/turned_faces.py --data /path/to/ferplus --min-yaw 40 --weight 5 --out turned.csv
    videmo train --data /path/to/ferplus --sample-weights turned.csv ...

Video's audience faces are often in three-quarter view or profile; FER's faces seldom are. Each face of
the split is set into a frame (scaled to 96 px, with a black border), found by videmo's detector, and its
head pose estimated from its five points as ``analyze`` estimates it. Printed: how many faces are turned
by at least 20, 30, 40, 50 and 60 degrees of yaw, and their classes (the majority of FER+'s votes). The
CSV lists each face turned at least ``--min-yaw`` degrees with ``--weight``; the faces the detector
misses are not listed (weight 1).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import torch

from videmo.core.emotions import CLASSES
from videmo.faces.detect import FaceDetector
from videmo.faces.pose import head_pose
from videmo.training.datasets import load_dataset
from videmo.training.images import decode_samples

BANDS = (20, 30, 40, 50, 60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="a FER+ folder (or any layout train reads, of image files)")
    ap.add_argument("--split", default="train")
    ap.add_argument("--min-yaw", type=float, default=40.0, help="degrees of yaw from which a face is listed")
    ap.add_argument("--weight", type=float, default=5.0, help="the listed faces' drawing weight")
    ap.add_argument("--out", type=Path, help="the --sample-weights CSV to write")
    args = ap.parse_args()
    torch.set_num_threads(1)
    dataset = load_dataset(args.data)
    samples = dataset.split(args.split)
    images, _, votes, skipped = decode_samples(samples, 96, 3, progress=False)
    if skipped:
        raise SystemExit(f"{skipped} unreadable images in {args.data}: this table needs every face")
    labels = votes.argmax(1).numpy()
    frames = torch.nn.functional.pad(images, (32, 32, 32, 32)).permute(0, 2, 3, 1).contiguous().numpy()
    found = FaceDetector(torch.device("cpu"), None, 20, 0.9, 1)
    yaw = np.full(len(frames), np.nan)
    for start in range(0, len(frames), 64):
        for k, detections in enumerate(found.detect(frames[start : start + 64])):
            best = max(detections, key=lambda d: d.score, default=None)
            if best is not None and best.landmarks is not None:
                yaw[start + k] = head_pose(np.array(best.landmarks)[None])[0, 0]
    print(f"{dataset.root} [{args.split}]: {len(frames)} faces, {np.isfinite(yaw).sum()} found by the detector")
    print(f"{'|yaw| >=':>9s} {'faces':>6s}  " + " ".join(f"{c[:8]:>8s}" for c in CLASSES))
    turned = np.abs(np.nan_to_num(yaw, nan=0.0))
    for band in BANDS:
        mine = turned >= band
        print(f"{band:>9d} {mine.sum():>6d}  " + " ".join(f"{(labels[mine] == c).sum():>8d}" for c in range(len(CLASSES))))
    if args.out:
        listed = np.flatnonzero(turned >= args.min_yaw)
        with open(args.out, "w", newline="") as f:
            out = csv.writer(f)
            out.writerow(["image", "weight"])
            out.writerows([Path(samples[i].source).relative_to(dataset.root).as_posix(), f"{args.weight:g}"] for i in listed)
        print(f"wrote {args.out}: {len(listed)} faces turned {args.min_yaw:g} degrees or more, weight {args.weight:g}")


if __name__ == "__main__":
    main()
