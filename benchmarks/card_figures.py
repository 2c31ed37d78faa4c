"""The model card's figures, measured: the shipped model on all of FER+ Valid and of FER2013 val.

    python benchmarks/card_figures.py            # ../shared/data's archives beside the checkout
    python benchmarks/card_figures.py --ferplus ferplus/ --fer2013 fer2013/

Each split is scored as ``videmo evaluate`` scores it, at fp32: each face averaged with its mirror image
(as ``analyze`` labels faces; the card's headline figures) and each face as it is (``--no-mirror``; the
figure training selected on, which the checkpoint's metadata carries). Printed: per split and mode the
images, accuracy, macro-F1 and macro recall, then the per-class table and confusion matrix; written to
``benchmarks/results/card_figures.txt``. ``tests/test_default_model.py`` checks that the card states
these figures and that the model still earns them on fixed, stratified subsets of the same splits
(the full splits take about 1.5 minutes on a 2-core CPU, too long for every test run). A dataset is a
folder in a layout ``videmo evaluate`` reads, or one of ``../shared/data``'s ``.tar.gz`` archives,
whose val split is unpacked into a temporary folder.
"""

from __future__ import annotations

import argparse
import tarfile
import tempfile
from pathlib import Path

from videmo.core.version import __version__
from videmo.model.checkpoint import default_weights, load_checkpoint
from videmo.training.evaluate import evaluate, format_report

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SPLITS = {"FER+ Valid": "FER2013Valid", "FER2013 val": "val"}  # what the card calls each split, and its folder


def dataset(path: Path, split: str, scratch: Path) -> Path:
    """``path`` itself, or where its archive's ``split`` folder is unpacked: the dataset folder holding it."""
    if path.is_dir():
        return path
    with tarfile.open(path) as archive:
        members = [m for m in archive.getmembers() if m.isfile() and f"/{split}/" in m.name]
        archive.extractall(scratch, members=members, filter="data")
    return next(scratch.rglob(split)).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--ferplus", type=Path, default=SHARED / "ferplus-48px.tar.gz", help="FER+ (FER2013Valid/label.csv) or its archive"
    )
    parser.add_argument(
        "--fer2013", type=Path, default=SHARED / "fer2013-48px.tar.gz", help="FER2013 (val/<class>/) or its archive"
    )
    parser.add_argument(
        "--weights", type=Path, default=default_weights(), help="checkpoint to score [default: the shipped model]"
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "card_figures.txt")
    args = parser.parse_args()

    checkpoint = load_checkpoint(args.weights)
    lines = [
        f"{checkpoint.path.name}, sha256 {checkpoint.sha256}; videmo {__version__}; fp32, majority labels (FER+), all images of each split",
        "",
    ]
    print(lines[0], flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        for (name, split), path in zip(SPLITS.items(), (args.ferplus, args.fer2013)):
            root = dataset(path, split, Path(scratch) / split)
            for mode, mirror in (("mirrored (as analyze labels faces)", True), ("as is (--no-mirror)", False)):
                result, about = evaluate(str(root), str(checkpoint.path), precision="fp32", progress=False, mirror=mirror)
                block = [
                    f"{name}, {mode}: {about['images']} images, accuracy {result.accuracy:.4f}, "
                    f"macro-F1 {result.macro_f1:.4f}, macro recall {result.macro_recall:.4f}",
                    "",
                    format_report(result, about["classes"]),
                    "",
                ]
                print("\n".join(block), flush=True)
                lines += block
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
