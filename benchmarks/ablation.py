"""The paper's ablation: cnn, awei and awei-vgg trained with identical settings, one table.

    python benchmarks/ablation.py --data FER2013/ --image-size 32 --epochs 3 --max-train-samples 8000

Each model is trained by ``videmo train`` itself (same data, seed, schedule and augmentation), then
its best checkpoint's validation figures are compared: accuracy, macro-F1, per-class recall, and
whether it collapsed (90% or more of its predictions in one class). Extra options after ``--`` go
to ``videmo train`` unchanged. The table is printed and written to ``<out>/ablation.md``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ARCHITECTURES = ("cnn", "awei", "awei-vgg")


def train(arch: str, args: argparse.Namespace, extra: list[str]) -> Path:
    out = args.out / arch / f"{arch}.pt"
    command = [sys.executable, "-m", "videmo", "train", "--data", str(args.data), "--arch", arch, "--vgg", args.vgg,
               "--image-size", str(args.image_size), "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
               "--seed", str(args.seed), "--out", str(out), *(["--max-train-samples", str(args.max_train_samples)] if args.max_train_samples else []),
               *extra]
    print("$ " + " ".join(command[1:]), flush=True)
    subprocess.run(command, check=True)
    return out


def row(arch: str, checkpoint: Path) -> list[str]:
    from videmo.checkpoint import load_checkpoint
    from videmo.metrics import Scores

    meta = load_checkpoint(checkpoint).meta
    m = meta["metrics"]
    scores = Scores(m["confusion"], m["accuracy"], m["macro_f1"], m["precision"], m["recall"], m["f1"])
    minutes = sum(epoch["seconds"] for epoch in meta["history"]) / 60
    return [arch, f"{scores.accuracy:.3f}", f"{scores.macro_f1:.3f}", *(f"{r:.2f}" for r in scores.recall),
            "yes" if scores.collapsed() else "no", str(m["epoch"]), f"{minutes:.1f}"]


def main() -> None:
    from videmo.checkpoint import CLASSES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("runs/ablation"))
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--vgg", default="vgg11_bn")
    parser.add_argument("--max-train-samples", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--archs", nargs="+", choices=ARCHITECTURES, default=list(ARCHITECTURES))
    args, extra = parser.parse_known_args()
    extra = [a for a in extra if a != "--"]

    rows = [row(arch, train(arch, args, extra)) for arch in args.archs]
    header = ["model", "accuracy", "macro-F1", *(f"recall {c}" for c in CLASSES), "collapsed", "best epoch", "train min"]
    lines = [f"settings: {args.image_size} px, {args.epochs} epochs, batch {args.batch_size}, vgg {args.vgg}, "
             f"train samples {args.max_train_samples or 'all'}, seed {args.seed}, extra {' '.join(extra) or '-'}", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    table = "\n".join(lines)
    print(table)
    (args.out / "ablation.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
