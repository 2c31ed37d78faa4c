"""What ``videmo train --noisy-labels`` did (issue 33): the runs' scores, and which training faces it
discarded or relabelled, checked against the crowd.

    python benchmarks/noisy_labels.py --runs runs/noisy --fer2013 /tmp/fer2013/fer2013 --ferplus /tmp/ferplus/ferplus

Reads each run folder's ``best.pt`` scores (``<run>.eval.ferplus.json`` and ``<run>.eval.fer2013.json``,
written by ``videmo evaluate --json``) and its ``noisy.csv``. FER2013's training faces are FER+'s
(the same pixels, relabelled by ten annotators each), so every FER2013 face the module flags can be
checked: is its FER2013 label one that the crowd's majority contradicts? The faces are matched by
their pixels (FER2013's release is JPEG, FER+'s PNG). Writes ``benchmarks/results/noisy_labels.md``
and a contact sheet of 48 flagged faces, drawn at random, per run (``noisy_<run>.png``): each with
its given label, the label the module proposed (or the model's, for discarded faces) and the crowd's.
"""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
RUNS = """How the runs were made (2026-12-03, a 2-core AMD EPYC with native bf16; 100-240 s an epoch at 32 px,
240-910 s at 48 px, slower while other work ran). Every run: `--arch awei-vgg --vgg vgg11_bn --grey --amp
--batch-size 64 --augment basic --balance weights --label-smoothing 0 --weight-decay 0.05 --warmup-epochs 1
--equalize` (the shipped recipe's settings), then

- `fer2013-*`: `videmo train --data fer2013 --image-size 32 --epochs 6 --lr 1e-3 --noisy-labels none|relabel|discard`
  (from scratch on FER2013's own labels; `fer2013-discard-batch`: discard ranked over the whole batch, before
  commit 04bc996 ranked within each class);
- `ferplus-*`: `videmo train --data ferplus --labels crossentropy --image-size 48 --epochs 2 --lr 1e-4 --init default
  --noisy-labels none|relabel --noisy-warmup 0.5` (the shipped model fine-tuned; relabel before commit 5833032,
  whose faces relabelled back to their own label are counted here as not relabelled);
- scored with `videmo evaluate --data ferplus|fer2013 --weights <run>/best.pt --json`.
"""


def grey(path: str | Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"), dtype=np.float32)


def crowd_labels(fer2013_images: list[str], ferplus_root: Path, cache: Path) -> pd.Series:
    """For each FER2013 image, FER+'s majority label of the same face ('' where it has none or no
    match is found): the nearest FER+ Train face by 8x8 thumbnails, accepted when the full images
    differ by less than 6 grey levels on average (JPEG's loss is 1-3)."""
    from videmo.core.emotions import CLASSES
    from videmo.training.datasets import NO_LABEL, load_dataset

    if cache.is_file():
        known = pd.read_csv(cache, keep_default_na=False).set_index("image")["crowd"]
        if set(fer2013_images) <= set(known.index):
            return known.reindex(fer2013_images)
    ferplus = [s for s in load_dataset(ferplus_root).samples if s.split == "train"]
    theirs = np.stack([grey(s.source) for s in ferplus])
    ours = np.stack([grey(p) for p in fer2013_images])
    thumb = lambda a: a.reshape(len(a), 8, 6, 8, 6).mean(axis=(2, 4)).reshape(len(a), -1)  # noqa: E731
    t_theirs, t_ours = thumb(theirs), thumb(ours)
    norms = (t_theirs**2).sum(1)
    labels = []
    for start in range(0, len(ours), 512):
        part = t_ours[start : start + 512]
        nearest = (norms[None] - 2 * part @ t_theirs.T).argmin(1)
        for i, j in enumerate(nearest):
            close = np.abs(ours[start + i] - theirs[j]).mean() < 6
            label = ferplus[j].label
            labels.append(CLASSES[label] if close and label != NO_LABEL else "")
    table = pd.DataFrame({"image": fer2013_images, "crowd": labels})
    table.to_csv(cache, index=False)
    return table.set_index("image")["crowd"]


@functools.lru_cache
def ferplus_shares(root: Path) -> dict[str, dict[str, float]]:
    """Each FER+ Train image's usable vote shares, by class."""
    from videmo.core.emotions import CLASSES
    from videmo.training.datasets import load_dataset

    return {
        str(s.source): {c: v for c, v in zip(CLASSES, s.votes) if v > 0}
        for s in load_dataset(root).samples
        if s.split == "train" and s.votes
    }


def ferplus_votes(root: Path) -> dict[str, str]:
    """The contact sheet's line for a FER+ face: its two largest vote shares ("sur .5 fea .3")."""
    return {
        image: " ".join(f"{c[:3]} {v:.1f}" for c, v in sorted(shares.items(), key=lambda kv: -kv[1])[:2])
        for image, shares in ferplus_shares(root).items()
    }


def contact_sheet(rows: pd.DataFrame, path: Path, proposed: str, crowd: str, tile: int = 120, columns: int = 8) -> None:
    font = ImageFont.load_default(size=13)
    caption = 3 * 16 + 4
    sheet = Image.new("L", (columns * (tile + 10) + 10, -(-len(rows) // columns) * (tile + caption + 10) + 10), 255)
    draw = ImageDraw.Draw(sheet)
    for k, (_, row) in enumerate(rows.iterrows()):
        x, y = 10 + k % columns * (tile + 10), 10 + k // columns * (tile + caption + 10)
        sheet.paste(Image.open(row["image"]).convert("L").resize((tile, tile), Image.BICUBIC), (x, y))
        lines = [
            f"given {row['given']}",
            f"{'new' if proposed == 'relabelled' else 'model'} {row[proposed]}",
            f"{crowd} {row.get('crowd') or '-'}",
        ]
        for n, line in enumerate(lines):
            draw.text((x, y + tile + 2 + 16 * n), line, fill=0, font=font)
    sheet.save(path, optimize=True)


def scores(runs: Path, name: str) -> dict:
    found = {}
    for split in ("ferplus", "fer2013"):
        path = runs / f"{name}.eval.{split}.json"
        if path.is_file():
            figures = json.loads(path.read_text())
            found[split] = (figures["accuracy"], figures["macro_f1"])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "noisy")
    parser.add_argument("--ferplus", type=Path, required=True)
    parser.add_argument("--fer2013", type=Path, required=True)
    args = parser.parse_args()
    names = sorted(p.name for p in args.runs.iterdir() if (p / "best.pt").is_file())
    lines = [
        "# `--noisy-labels`: scores and flagged faces",
        "",
        "`videmo evaluate` of each run's best checkpoint (mirrored, as analyze labels faces): accuracy / macro-F1.",
        "",
        "| run | FER+ Valid (crowd labels) | FER2013 val (its own labels) |",
        "|---|---|---|",
    ]
    lines[2:2] = [RUNS]
    for name in names:
        figures = scores(args.runs, name)
        cell = lambda split: "{:.4f} / {:.4f}".format(*figures[split]) if split in figures else "-"  # noqa: E731
        lines.append(f"| {name} | {cell('ferplus')} | {cell('fer2013')} |")
    for name in names:
        table_path = args.runs / name / "noisy.csv"
        if not table_path.is_file():
            continue
        table = pd.read_csv(table_path, keep_default_na=False)
        # runs from before commit 5833032 kept a face relabelled back to its own label as "relabelled"
        table.loc[table["relabelled"] == table["given"], "relabelled"] = ""
        relabelling = (table["relabelled"] != "").any()
        flagged = table[table["relabelled"] != ""] if relabelling else table[table["weight"].astype(float) == 0]
        proposed = "relabelled" if relabelling else "predicted"
        what = "relabelled" if relabelling else "left out in the last epoch"
        lines += [
            "",
            f"## {name}: {len(flagged)} of {len(table)} training faces {what} ({len(flagged) / len(table):.1%})",
            "",
            "| class (given) | faces | flagged | share |",
            "|---|---|---|---|",
        ]
        for given, group in table.groupby("given"):
            n = int(group.index.isin(flagged.index).sum())
            lines.append(f"| {given} | {len(group)} | {n} | {n / len(group):.1%} |")
        if relabelling:
            lines += ["", "New labels: " + ", ".join(f"{k} {v}" for k, v in flagged["relabelled"].value_counts().items())]
        if str(table["image"].iloc[0]).startswith(str(args.fer2013)):
            table["crowd"] = crowd_labels(
                table["image"].tolist(), args.ferplus, args.runs / "fer2013_crowd_labels.csv"
            ).to_numpy()
            flagged = table.loc[flagged.index]
            known, flagged_known = table[table["crowd"] != ""], flagged[flagged["crowd"] != ""]
            wrong = lambda t: (t["given"] != t["crowd"]).mean()  # noqa: E731
            lines += [
                "",
                f"Checked against FER+'s majority labels of the same faces ({len(known)} of {len(table)} matched): "
                f"the crowd contradicts FER2013's label on **{wrong(flagged_known):.1%}** of the flagged faces, "
                f"against {wrong(known):.1%} of all and {wrong(known.drop(flagged_known.index)):.1%} of the faces kept.",
            ]
            if relabelling:
                lines.append(
                    f"The new label is the crowd's on {(flagged_known['relabelled'] == flagged_known['crowd']).mean():.1%} "
                    f"of the relabelled faces; their FER2013 label was on {(flagged_known['given'] == flagged_known['crowd']).mean():.1%}."
                )
        if str(table["image"].iloc[0]).startswith(str(args.ferplus)):
            votes = ferplus_votes(args.ferplus)
            table["crowd"] = [votes.get(image, "") for image in table["image"]]
            flagged = table.loc[flagged.index]
            if relabelling:
                shares = [ferplus_shares(args.ferplus)[image] for image in flagged["image"]]
                new = [s.get(label, 0.0) for s, label in zip(shares, flagged["relabelled"])]
                lines += [
                    "",
                    f"The new label's share of the annotators' votes averages {np.mean(new):.2f} (the given label's, "
                    f"their top choice: {np.mean([max(s.values()) for s in shares]):.2f}); {np.mean(np.array(new) > 0):.1%} "
                    "of the new labels had at least one annotator's vote.",
                ]
        sample = flagged.sample(min(48, len(flagged)), random_state=0)
        sheet = RESULTS / f"noisy_{name}.png"
        contact_sheet(sample, sheet, proposed, "votes" if str(table["image"].iloc[0]).startswith(str(args.ferplus)) else "crowd")
        lines += ["", f"48 of them at random: `{sheet.relative_to(ROOT)}`"]
    out = RESULTS / "noisy_labels.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
