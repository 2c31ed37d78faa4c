"""The paper's claims, tested: its ablation and its two proposed next steps, one budget, one table.

    python benchmarks/ablation.py --data ferplus/            # FER+ (or FER2013's class folders)

Rows, each trained by ``videmo train`` itself with the same data, seed, schedule and epochs:
cnn, awei and awei-vgg (the paper's one-stage residual jump); awei and awei-vgg with the two-stage
residual path (its first proposal); the best of those with the paper's augmentation (rotations and
partial crops, its second proposal) against the same without augmentation; and, for the paper's
claim that the plain CNN collapses onto "happiness", cnn and awei at the paper's batch size of 8.
Per row: validation accuracy, macro-F1, the share of predictions that are "happiness", per-class
recall, the best epoch and the training time. The default budget (32 px, 5 epochs, 6000 train
images, batch 64) ran in 41 minutes on a 2-core CPU. The loss is the paper's plain
cross-entropy (no class weights, no label smoothing: either would mask the collapse it reports);
the optimiser is videmo's (AdamW 1e-3, cosine), since a few epochs at the paper's Adam 1e-4 leave
every row near the majority class. The table is printed and
written to ``benchmarks/results/ablation.md``. Extra options after ``--`` go to every ``videmo train``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

# name, videmo train options; "best" rows are filled in once the architecture rows are done
ROWS = [
    ("cnn", ["--arch", "cnn"]),
    ("awei", ["--arch", "awei"]),
    ("awei-vgg", ["--arch", "awei-vgg"]),
    ("awei, two-stage", ["--arch", "awei", "--residual", "two-stage"]),
    ("awei-vgg, two-stage", ["--arch", "awei-vgg", "--residual", "two-stage"]),
]
COLLAPSE_ROWS = [
    ("cnn, batch 8", ["--arch", "cnn", "--batch-size", "8"]),
    ("awei, batch 8", ["--arch", "awei", "--batch-size", "8"]),
]


def train(name: str, options: list[str], args: argparse.Namespace, extra: list[str]) -> Path:
    out = args.out / name.replace(", ", "_").replace(" ", "-") / "best.pt"
    command = [
        sys.executable,
        "-m",
        "videmo",
        "train",
        "--data",
        str(args.data),
        "--vgg",
        args.vgg,
        "--image-size",
        str(args.image_size),
        "--epochs",
        str(args.epochs),
        "--batch-size",
        str(args.batch_size),
        "--seed",
        str(args.seed),
        "--augment",
        "none",
        "--balance",
        "none",
        "--label-smoothing",
        "0",
        "--quiet",
        "--out",
        str(out),
        *(["--max-train-samples", str(args.max_train_samples)] if args.max_train_samples else []),
        *extra,
        *options,
    ]
    print("$ " + " ".join(command[1:]), flush=True)
    subprocess.run(command, check=True)
    return out


def row(name: str, checkpoint: Path) -> tuple[float, list[str], list[int]]:
    from videmo.core.emotions import CLASSES
    from videmo.model.checkpoint import load_checkpoint
    from videmo.training.metrics import Scores

    meta = load_checkpoint(checkpoint).meta
    m = meta["metrics"]
    scores = Scores(m["confusion"], m["accuracy"], m["macro_f1"], m["precision"], m["recall"], m["f1"])
    predicted = [sum(column) for column in zip(*scores.confusion)]
    total = max(sum(predicted), 1)
    top = max(range(len(CLASSES)), key=predicted.__getitem__)
    minutes = sum(epoch["seconds"] for epoch in meta["history"]) / 60
    true = [sum(r) for r in scores.confusion]
    return (
        scores.accuracy,
        [
            name,
            f"{scores.accuracy:.3f}",
            f"{scores.macro_f1:.3f}",
            f"{predicted[CLASSES.index('happiness')] / total:.2f}",
            f"{CLASSES[top]} {predicted[top] / total:.2f}",
            *(f"{r:.2f}" if n else "-" for r, n in zip(scores.recall, true)),
            str(m["epoch"]),
            f"{minutes:.1f}",
        ],
        true,
    )


def main() -> None:
    from videmo.core.emotions import CLASSES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("runs/ablation"))
    parser.add_argument("--table", type=Path, default=Path(__file__).parent / "results" / "ablation.md")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--vgg", default="vgg11_bn")
    parser.add_argument("--max-train-samples", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=0)
    args, extra = parser.parse_known_args()
    extra = [a for a in extra if a != "--"]

    results = [(name, options, *row(name, train(name, options, args, extra))) for name, options in ROWS]
    best_name, best_options, _, _, true = max(results, key=lambda r: r[2])
    augmented = (f"{best_name}, paper augmentation", [*best_options, "--augment", "paper"])
    rows = [r[3] for r in results] + [row(n, train(n, o, args, extra))[1] for n, o in [augmented, *COLLAPSE_ROWS]]
    header = [
        "model",
        "val accuracy",
        "macro-F1",
        "share 'happiness'",
        "most predicted (share)",
        *(f"recall {c}" for c in CLASSES),
        "best epoch",
        "train min",
    ]
    lines = [
        f"Budget: {args.image_size} px grey, {args.epochs} epochs, batch {args.batch_size} (except the batch-8 rows), "
        f"VGG branch {args.vgg} from scratch, {args.max_train_samples or 'all'} train images, seed {args.seed}, "
        f"plain cross-entropy, no augmentation except where named; extra: {' '.join(extra) or '-'}. Data: {args.data}; "
        f"of its {sum(true)} val faces {true[CLASSES.index('happiness')] / sum(true):.2f} are 'happiness', "
        f"{max(true) / sum(true):.2f} '{CLASSES[true.index(max(true))]}'.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    table = "\n".join(lines)
    print(table)
    args.table.parent.mkdir(parents=True, exist_ok=True)
    args.table.write_text(table + "\n")


if __name__ == "__main__":
    main()
