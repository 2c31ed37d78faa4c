"""Does per-face histogram equalisation help? The default model's recipe trained twice, with and
without ``--equalize``, on one budget and seed; each scored on FER+ Valid and run on real videos.

    python benchmarks/equalize.py --data ferplus/ --videos ../shared/data/videos/hamilton_clip.mp4

Equalisation stretches each face's grey levels over the whole range (in training, evaluation and
analysis alike: the checkpoint says so), so a dark, side-lit face looks like a well-lit one. Printed:
Valid accuracy, macro-F1 and per-class recall of each model, then for every tracked face of each
video (the tracks are the same for both: detection does not depend on the classifier) its dominant
emotion and share under each model, to hold against what a person sees in the frames. The table is
written to ``benchmarks/results/equalize.md``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

RECIPE = [
    "--labels",
    "crossentropy",
    "--arch",
    "awei-vgg",
    "--vgg",
    "vgg11_bn",
    "--grey",
    "--augment",
    "strong",
    "--balance",
    "weights",
    "--label-smoothing",
    "0",
    "--quiet",
]  # the default model's (models/README.md)


def train(name: str, options: list[str], args: argparse.Namespace) -> Path:
    out = args.out / name / "best.pt"
    command = [
        sys.executable,
        "-m",
        "videmo",
        "train",
        "--data",
        str(args.data),
        *RECIPE,
        "--image-size",
        str(args.image_size),
        "--epochs",
        str(args.epochs),
        "--seed",
        str(args.seed),
        "--max-train-samples",
        str(args.max_train_samples),
        "--out",
        str(out),
        *options,
    ]
    print("$ " + " ".join(command[1:]), flush=True)
    subprocess.run(command, check=True)
    return out


def tracks(checkpoint: Path, videos: list[Path], out: Path, every: int) -> dict[tuple[str, int], dict]:
    """(video, face_id) -> that track's summary, from ``videmo analyze`` with this checkpoint."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "videmo",
            "analyze",
            *map(str, videos),
            "-w",
            str(checkpoint),
            "-o",
            str(out),
            "--every",
            str(every),
            "-q",
            "--overwrite",
        ],
        check=True,
    )
    found = {}
    for video in videos:
        for track in json.loads((out / video.stem / "summary.json").read_text())["tracks"]:
            found[(video.name, track["face_id"])] = track
    return found


def main() -> None:
    from videmo.core.emotions import CLASSES
    from videmo.model.checkpoint import load_checkpoint

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--videos", type=Path, nargs="+", default=[Path(__file__).parents[1] / "examples" / "hamilton_clip.mp4"])
    parser.add_argument("--out", type=Path, default=Path("runs/equalize"))
    parser.add_argument("--table", type=Path, default=Path(__file__).parent / "results" / "equalize.md")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--max-train-samples", type=int, default=12000)
    parser.add_argument("--every", type=int, default=3, help="analyse every Nth frame of the videos")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    models = {"as is": train("plain", [], args), "equalised": train("equalized", ["--equalize"], args)}
    lines = [
        f"Budget: the default model's recipe, {args.image_size} px, {args.epochs} epochs, "
        f"{args.max_train_samples} FER+ Train images drawn at random, seed {args.seed}; Valid: all of FER+ Valid (majority).",
        "",
        "| faces | Valid accuracy | macro-F1 | " + " | ".join(f"recall {c}" for c in CLASSES) + " |",
        "|" + "---|" * (3 + len(CLASSES)),
    ]
    for name, checkpoint in models.items():
        m = load_checkpoint(checkpoint).meta["metrics"]
        lines.append(
            f"| {name} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} | " + " | ".join(f"{r:.2f}" for r in m["recall"]) + " |"
        )
    found = {
        name: tracks(checkpoint, args.videos, args.out / f"videos-{checkpoint.parent.name}", args.every)
        for name, checkpoint in models.items()
    }
    lines += [
        "",
        f"Tracked faces (every {args.every}th frame): dominant emotion and its share of the face's frames",
        "",
        "| video | face_id | seen (s) | frames | as is | equalised |",
        "|---|---|---|---|---|---|",
    ]
    for key, track in sorted(found["as is"].items()):
        if track["n_frames"] < 5:
            continue
        cells = []
        for name in models:
            other = found[name].get(key)
            cells.append(f"{other['dominant_emotion']} {other['emotion_share'][other['dominant_emotion']]:.2f}" if other else "-")
        lines.append(
            f"| {key[0]} | {key[1]} | {track['first_s']:.1f}-{track['last_s']:.1f} | {track['n_frames']} | "
            + " | ".join(cells)
            + " |"
        )
    table = "\n".join(lines)
    print(table)
    args.table.parent.mkdir(parents=True, exist_ok=True)
    args.table.write_text(table + "\n")


if __name__ == "__main__":
    main()
