"""Labelled face datasets: find the layout, read it (``layouts``), count it.

Labels are 0-based indices into ``CLASSES`` (RAF-DB's order 1..7 minus one). FER+ faces also carry
their annotators' vote distribution over the seven emotions (``Sample.votes``), for soft-label training.
The samples' types live in ``samples`` and the per-layout readers in ``layouts``; both are named here
too, where the rest of the package imports them from.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import torch

from videmo.core.emotions import CLASSES
from videmo.core.errors import printable
from videmo.core.options import LAYOUTS
from videmo.training.layouts import (
    FER_CSV_NAME,
    FERPLUS_SPLITS,
    NAMES_SHOWN,
    RAFDB_LABELS,
    count,
    read_class_folders,
    read_fer_csv,
    read_ferplus,
    read_numbered,
    read_rafdb,
    split_folders,
)
from videmo.training.samples import NO_LABEL, Dataset, DatasetError, Sample

__all__ = [
    "NO_LABEL",
    "Dataset",
    "DatasetError",
    "Sample",
    "detect_layout",
    "format_counts",
    "draw_weights",
    "load_dataset",
    "read_sample_weights",
]

ARCHIVE_SUFFIXES = {".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar"}


def detect_layout(root: Path) -> str:
    """Which of ``LAYOUTS`` ``root`` is in; a DatasetError naming it when none, or when it is a file of another kind."""
    if root.is_file():
        if root.name == "label.csv" and root.parent.name in FERPLUS_SPLITS:
            raise DatasetError(
                f"{root}: FER+'s label file; give the folder that holds {root.parent.name}/ ({root.parent.parent})"
            )
        if root.suffix.lower() == ".csv":
            return "fer-csv"
        if root.suffix.lower() in ARCHIVE_SUFFIXES:
            raise DatasetError(f"{root}: an archive; unpack it and give the folder")
        raise DatasetError(f"{root}: a dataset is a folder or FER2013's CSV file")
    if not root.is_dir():
        raise DatasetError(f"{root}: not a regular file or folder" if root.exists() else f"{root}: dataset not found")
    if (root / RAFDB_LABELS).is_file():
        return "rafdb"
    if any((root / name / "label.csv").is_file() for name in FERPLUS_SPLITS):
        return "ferplus"
    split_dirs = split_folders(root)
    if not split_dirs:
        if (root / FER_CSV_NAME).is_file():
            return "fer-csv"
        raise DatasetError(
            f"{root}: no dataset layout found (expected {RAFDB_LABELS}, train/ and test/ or val/ folders, or a CSV)"
        )
    class_dirs = [d.name for sd in split_dirs.values() for d in sd.iterdir() if d.is_dir()]
    return "numbered" if class_dirs and all(name.isdigit() for name in class_dirs) else "folders"


def load_dataset(root: str | Path, layout: str | None = None) -> Dataset:
    """The samples under ``root`` (in ``layout``, else the one found); a DatasetError saying why when there are none."""
    root = Path(root)
    readers = {
        "rafdb": read_rafdb,
        "ferplus": read_ferplus,
        "numbered": read_numbered,
        "folders": read_class_folders,
        "fer-csv": read_fer_csv,
    }
    if layout is not None and layout not in readers:
        raise DatasetError(f"unknown layout '{printable(str(layout))}'; choose one of {', '.join(LAYOUTS)}")
    try:
        dataset = readers[layout or detect_layout(root)](root)
    except OSError as e:  # a folder of the dataset that cannot be listed (its permissions, a failing disk or share)
        raise DatasetError(f"{printable(str(e.filename or root))}: cannot read ({e.strerror or e})") from None
    if not dataset.samples:
        shown = dataset.notes[:NAMES_SHOWN] + (
            [f"and {count(len(dataset.notes) - NAMES_SHOWN, 'more note')}"] if len(dataset.notes) > NAMES_SHOWN else []
        )
        why = f": {'; '.join(shown)}" if shown else ""
        raise DatasetError(f"{root}: no labelled images found ({dataset.layout} layout){why}")
    return dataset


def format_counts(dataset: Dataset) -> str:
    """The table of images per split and class that train prints first."""
    counts = dataset.counts()
    width = max(len(c) for c in CLASSES)
    lines = [f"{'split':<6} " + " ".join(f"{c[:width]:>{width}}" for c in CLASSES) + f" {'total':>{width}}"]
    for split, row in counts.items():
        lines.append(f"{split:<6} " + " ".join(f"{n:>{width}}" for n in row) + f" {sum(row):>{width}}")
    return "\n".join(lines)


def read_sample_weights(path: str | Path, dataset: Dataset) -> dict[str, float]:
    """``--sample-weights``: each listed image's drawing weight, by its resolved path, from ``path``, a CSV
    of ``image,weight`` rows (a header row is optional) whose images are paths relative to the dataset's
    folder, or absolute. Read before the images decode: a DatasetError names the file and the row where
    it cannot be used."""
    path, root = Path(path), Path(dataset.root)
    if not path.is_file():
        raise DatasetError(f"--sample-weights {path}: {'not a regular file' if path.exists() else 'file not found'}")
    if dataset.layout == "fer-csv":
        raise DatasetError(f"--sample-weights {path}: {root} is FER2013's CSV of pixels, whose faces have no image paths to list")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(f"--sample-weights {path}: cannot read ({e})") from None
    first = 1
    if rows and [c.strip().lower() for c in rows[0]] == ["image", "weight"]:
        rows, first = rows[1:], 2
    if not rows:
        raise DatasetError(f"--sample-weights {path}: no image,weight rows")
    weights: dict[str, float] = {}
    for number, row in enumerate(rows, start=first):
        if len(row) != 2:
            raise DatasetError(f"--sample-weights {path}, row {number}: expected two columns, image and weight")
        try:
            weight = float(row[1])
        except ValueError:
            weight = math.nan
        if not math.isfinite(weight) or weight < 0:
            raise DatasetError(
                f"--sample-weights {path}, row {number}: weight {printable(row[1].strip())!r} is not a number >= 0"
            )
        weights[str((root / row[0].strip()).resolve())] = weight
    return weights


def draw_weights(listed: dict[str, float], sources: list[str], path: str | Path) -> tuple[torch.Tensor, str]:
    """The training images' drawing weights (1 where ``listed``, read from ``path``, has none), and a line
    that says how many the file set."""
    weights = torch.ones(len(sources), dtype=torch.float64)
    matched = 0
    for i, source in enumerate(sources):
        weight = listed.get(str(Path(source).resolve()))
        if weight is not None:
            weights[i], matched = weight, matched + 1
    if not weights.sum() > 0:
        raise DatasetError(f"--sample-weights {path}: every training image weighs 0")
    note = f"sample weights from {path}: {matched} of {len(sources)} training images listed"
    if len(listed) > matched:
        note += f"; {len(listed) - matched} listed images are not training images here, ignored"
    return weights, note
