"""How FER2013's own face finder framed its faces, in terms of videmo's MTCNN boxes.

FER2013's 48x48 faces were cropped by another face finder than videmo's MTCNN. To crop video faces
the way the model's training faces look, this runs videmo's detector on FER2013 val faces (each
upscaled 4x and set in the middle of a canvas twice its size, edge pixels repeated, so that MTCNN
sees the whole face with some surroundings), maps the best box back to 48 px coordinates and prints
the (margin, shift) of ``classify.square_crop_boxes`` that turns such a box back into the 48x48
image (``classify.framing``: medians over the faces), with the spread.

    python benchmarks/crop_framing.py ../shared/data/fer2013   # a folder with val/<class>/*.jpg
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from videmo.faces.classify import framing
from videmo.faces.detect import FaceDetector

UPSCALE = 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fer2013", type=Path, help="FER2013 image folder (with val/<class>/) or FER+ (FER2013Valid/)")
    parser.add_argument("--faces", type=int, default=1000, help="val faces to sample")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    files = sorted((args.fer2013 / "val").rglob("*.jpg")) or sorted((args.fer2013 / "FER2013Valid").glob("*.png"))
    files = random.Random(args.seed).sample(files, min(args.faces, len(files)))
    torch.set_num_threads(2)
    detector = FaceDetector(torch.device("cpu"), detect_width=None, min_face=60, threshold=0.9)
    side = 48 * UPSCALE
    boxes = []
    for start in range(0, len(files), 32):
        frames = []
        for path in files[start : start + 32]:
            face = np.asarray(Image.open(path).convert("RGB").resize((side, side), Image.BICUBIC))
            frames.append(np.pad(face, ((side // 2, side // 2), (side // 2, side // 2), (0, 0)), mode="edge"))
        for found in detector.detect(np.stack(frames)):
            if found:
                best = max(found, key=lambda d: d.score)
                boxes.append((np.array(best.box) - side // 2) / UPSCALE)
    boxes = np.array(boxes)
    margin, shift = framing(boxes, 48)
    per_face = np.array([framing(b[None], 48) for b in boxes])
    q = lambda column: " ".join(f"{v:.3f}" for v in np.percentile(per_face[:, column], [10, 25, 50, 75, 90]))  # noqa: E731
    width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    print(f"faces found: {len(boxes)} of {len(files)}")
    print(
        f"box in 48 px: width median {np.median(width):.1f}, height median {np.median(height):.1f}, "
        f"centre x median {np.median(cx):.1f}, centre y median {np.median((boxes[:, 1] + boxes[:, 3]) / 2):.1f}"
    )
    print(f"margin percentiles 10/25/50/75/90: {q(0)}")
    print(f"shift  percentiles 10/25/50/75/90: {q(1)}")
    print(f"framing: --crop-margin {margin:.2f} --crop-shift {shift:.2f}")


if __name__ == "__main__":
    main()
