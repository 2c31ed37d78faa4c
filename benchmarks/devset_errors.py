"""The model card's picture of dev-set faces the model reads wrong: a grid of crops, each captioned with
the person's label and the model's.

    python benchmarks/devset.py --json /tmp/devset.json
    python benchmarks/devset_errors.py /tmp/devset.json --out docs/images/devset_errors.png

The faces are drawn from every kind of mistake, the commonest first (one face of each label-to-answer
pair in turn, spread over the pair's faces), so that the grid shows what the model gets wrong, not one
mistake sixteen times. The crops are ``benchmarks/devset/crops``'s; ``--model 1`` shows ``--paired``'s model.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
CROPS = ROOT / "benchmarks" / "devset" / "crops"
TILE, CAPTION, GAP = 140, 36, 8
PERSON, MODEL = (0, 0, 0), (204, 85, 0)


def mistakes(results: dict, count: int, model: int = 0) -> list[tuple[str, str, str]]:
    """Up to ``count`` (crop id, label, answer) of the ``model``-th model's wrong faces, every pair in turn."""
    with open(results["labels"], newline="") as f:
        ids = [r["id"] for r in csv.DictReader(f) if r["label"] != "unsure"]
    faces = results["models"][model]["faces"]
    if len(faces) != len(ids):
        raise SystemExit(f"{results['labels']} has {len(ids)} labelled faces, the results {len(faces)}: not the same labels")
    pairs: dict[tuple[str, str], list[str]] = defaultdict(list)
    for face_id, face in zip(ids, faces):
        if face["emotion"] and face["emotion"] != face["label"]:
            pairs[(face["label"], face["emotion"])].append(face_id)
    ordered = sorted(pairs.items(), key=lambda item: (-len(item[1]), item[0]))
    chosen: list[tuple[str, str, str]] = []
    for turn in range(max((len(v) for _, v in ordered), default=0)):
        for (label, answer), members in ordered:
            step = max(1, len(members) // 4)  # spread over the pair's faces: other videos and moments
            if turn * step < len(members) and len(chosen) < count:
                chosen.append((members[turn * step], label, answer))
    return chosen


def grid(chosen: list[tuple[str, str, str]], columns: int) -> Image.Image:
    rows = (len(chosen) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * (TILE + GAP) + GAP, rows * (TILE + CAPTION + GAP) + GAP), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=13)
    for k, (face_id, label, answer) in enumerate(chosen):
        x, y = GAP + (k % columns) * (TILE + GAP), GAP + (k // columns) * (TILE + CAPTION + GAP)
        sheet.paste(Image.open(CROPS / f"{face_id}.jpg").convert("RGB").resize((TILE, TILE)), (x, y))
        draw.text((x, y + TILE + 2), f"person: {label}", fill=PERSON, font=font)
        draw.text((x, y + TILE + 18), f"model: {answer}", fill=MODEL, font=font)
    return sheet


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", type=Path, help="devset.py --json's file")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--count", type=int, default=16)
    ap.add_argument("--columns", type=int, default=4)
    ap.add_argument("--model", type=int, default=0, help="which model of the JSON (1: devset.py's --paired one)")
    args = ap.parse_args()
    chosen = mistakes(json.loads(args.results.read_text()), args.count, args.model)
    grid(chosen, args.columns).save(args.out)
    print(f"wrote {args.out}: " + ", ".join(f"{i} {label}->{answer}" for i, label, answer in chosen))


if __name__ == "__main__":
    main()
