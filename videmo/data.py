"""Labelled face datasets: find the layout, list (image, label, split) samples, decode them once.

Labels are 0-based indices into ``CLASSES`` (RAF-DB's order 1..7 minus one). FER+ faces also carry
their annotators' vote distribution over the seven emotions (``Sample.votes``), for soft-label training.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .checkpoint import CLASSES
from .errors import VidemoError
from .options import LAYOUTS, SPLITS

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
RAFDB_LABELS = Path("basic/EmoLabel/list_patition_label.txt")
FER_CSV_NAME = "fer2013.csv"  # the CSV that a FER2013 folder holds
# FER2013's CSV numbers its classes 0..6 as angry, disgust, fear, happy, sad, surprise, neutral.
FER_CSV_TO_CLASS = (5, 2, 1, 3, 4, 0, 6)
FER_USAGE_TO_SPLIT = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
# FERPlus's label.csv: file name, face box, then 10 vote counts in this order (contempt, unknown and
# not-a-face are not among the seven emotions).
FERPLUS_VOTES = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")
FERPLUS_SPLITS = {"FER2013Train": "train", "FER2013Valid": "val", "FER2013Test": "test"}
SPLIT_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
CLASS_ALIASES = {
    "surprise": "surprise", "surprised": "surprise", "surprize": "surprise",
    "fear": "fear", "fearful": "fear", "afraid": "fear", "scared": "fear",
    "disgust": "disgust", "disgusted": "disgust",
    "happiness": "happiness", "happy": "happiness", "joy": "happiness",
    "sadness": "sadness", "sad": "sadness",
    "anger": "anger", "angry": "anger",
    "neutral": "neutral", "calm": "neutral", "contempt": None,
}


class DatasetError(VidemoError):
    pass


NO_LABEL = -1  # a FER+ face whose annotators reached no majority: trains on its votes, is never scored


@dataclass
class Sample:
    source: Path | bytes  # an image file, or raw 48x48 grey pixels (FER2013's CSV)
    label: int  # the class, or NO_LABEL
    split: str
    votes: tuple[float, ...] | None = None  # FER+: share of the usable votes for each class, summing to 1


@dataclass
class Dataset:
    root: Path
    layout: str
    samples: list[Sample]
    notes: list[str] = field(default_factory=list)

    def split(self, name: str) -> list[Sample]:
        return [s for s in self.samples if s.split == name]

    def counts(self) -> dict[str, list[int]]:
        """Per split, the number of samples of each class, in class order."""
        tally = Counter((s.split, s.label) for s in self.samples)
        return {sp: [tally[(sp, c)] for c in range(len(CLASSES))] for sp in SPLITS if any(tally[(sp, c)] for c in range(len(CLASSES)))}

    def describe(self) -> dict:
        return {"root": str(self.root), "layout": self.layout, "counts": self.counts(), "classes": list(CLASSES)}


def detect_layout(root: Path) -> str:
    if root.is_file():
        if root.suffix.lower() == ".csv":
            return "fer-csv"
        raise DatasetError(f"{root}: a dataset is a folder or FER2013's CSV file")
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset not found")
    if (root / RAFDB_LABELS).is_file():
        return "rafdb"
    if any((root / name / "label.csv").is_file() for name in FERPLUS_SPLITS):
        return "ferplus"
    split_dirs = split_folders(root)
    if not split_dirs:
        if (root / FER_CSV_NAME).is_file():
            return "fer-csv"
        raise DatasetError(f"{root}: no dataset layout found (expected {RAFDB_LABELS}, train/ and test/ or val/ folders, or a CSV)")
    class_dirs = [d.name for sd in split_dirs.values() for d in sd.iterdir() if d.is_dir()]
    return "numbered" if class_dirs and all(name.isdigit() for name in class_dirs) else "folders"


def split_folders(root: Path) -> dict[str, Path]:
    """train/val/test folders under ``root`` or under the widespread ``DATASET/`` level."""
    for base in (root, root / "DATASET"):
        found = {SPLIT_ALIASES[d.name.lower()]: d for d in sorted(base.iterdir()) if d.is_dir() and d.name.lower() in SPLIT_ALIASES} if base.is_dir() else {}
        if found:
            return found
    return {}


def load_dataset(root: str | Path, layout: str | None = None) -> Dataset:
    root = Path(root)
    layout = layout or detect_layout(root)
    readers = {"rafdb": read_rafdb, "ferplus": read_ferplus, "numbered": read_numbered, "folders": read_class_folders, "fer-csv": read_fer_csv}
    if layout not in readers:
        raise DatasetError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    dataset = readers[layout](root)
    if not dataset.samples:
        raise DatasetError(f"{root}: no labelled images found ({layout} layout)")
    return dataset


def read_rafdb(root: Path) -> Dataset:
    label_file = root / RAFDB_LABELS
    if not label_file.is_file():
        raise DatasetError(f"{label_file}: RAF-DB label file not found")
    aligned, original = root / "basic/Image/aligned", root / "basic/Image/original"
    samples, missing = [], 0
    for number, line in enumerate(read_text(label_file).splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not (parts[1].isascii() and parts[1].isdigit()):
            raise DatasetError(f"{label_file}:{number}: malformed line {line.strip()!r} (expected 'train_00001.jpg 5')")
        name, label = parts[0], int(parts[1])
        if not 1 <= label <= len(CLASSES):
            raise DatasetError(f"{label_file}:{number}: label {label} is outside 1..{len(CLASSES)}")
        split = "train" if name.startswith("train") else "test" if name.startswith("test") else None
        if split is None:
            raise DatasetError(f"{label_file}:{number}: file name {name!r} starts with neither 'train' nor 'test'")
        stem = Path(name).stem
        candidates = [aligned / f"{stem}_aligned{Path(name).suffix}", original / name]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            missing += 1
            continue
        samples.append(Sample(path, label - 1, split))
    notes = [f"{missing} listed images not found under basic/Image/"] if missing else []
    return Dataset(root, "rafdb", samples, notes)


def ferplus_votes(counts: list[float]) -> tuple[int, tuple[float, ...] | None]:
    """(majority class or NO_LABEL, seven-emotion distribution or None) from FER+'s ten vote counts.

    As the FERPlus paper's code does, single votes are dropped as outliers first; the majority is
    then a strict one over all ten columns (a face most annotators called contempt, unknown or not a
    face has no label). The distribution drops contempt, unknown and not-a-face and renormalises.
    """
    kept = [c if c > 1 else 0.0 for c in counts]
    total = sum(kept)
    top = max(range(len(kept)), key=kept.__getitem__)
    emotion = FERPLUS_VOTES[top]
    label = CLASSES.index(emotion) if total and kept[top] > total / 2 and emotion in CLASSES else NO_LABEL
    per_class = [0.0] * len(CLASSES)
    for name, count in zip(FERPLUS_VOTES, kept):
        if name in CLASSES:
            per_class[CLASSES.index(name)] = count
    usable = sum(per_class)
    return label, (tuple(c / usable for c in per_class) if usable else None)


def read_ferplus(root: Path) -> Dataset:
    samples, notes = [], []
    for folder, split in FERPLUS_SPLITS.items():
        label_file = root / folder / "label.csv"
        if not label_file.is_file():
            continue
        unusable = missing = no_majority = 0
        for number, row in enumerate(csv.reader(io.StringIO(read_text(label_file))), 1):
            if not row:
                continue
            try:
                if len(row) != 2 + len(FERPLUS_VOTES):
                    raise ValueError
                counts = [float(c) for c in row[2:]]
                if not all(0 <= c <= 1000 for c in counts):  # also refuses nan
                    raise ValueError
            except ValueError:
                raise DatasetError(f"{label_file}:{number}: malformed line (expected 'fer0000000.png,\"(0, 0, 48, 48)\",' "
                                   f"and {len(FERPLUS_VOTES)} vote counts)") from None
            label, votes = ferplus_votes(counts)
            path = root / folder / row[0].strip()
            if votes is None:
                unusable += 1
            elif not path.is_file():
                missing += 1
            else:
                no_majority += label == NO_LABEL
                samples.append(Sample(path, label, split, votes))
        if unusable:
            notes.append(f"{folder}: {unusable} faces left out, no usable emotion vote (contempt, unknown or not a face)")
        if missing:
            notes.append(f"{folder}: {missing} listed images not found")
        if no_majority:
            notes.append(f"{folder}: {no_majority} faces have no majority emotion: they train with --labels probability "
                         "or crossentropy and are never scored")
    return Dataset(root, "ferplus", samples, notes)


def read_numbered(root: Path) -> Dataset:
    samples = []
    for split, folder in split_folders(root).items():
        for class_dir in sorted(d for d in folder.iterdir() if d.is_dir()):
            if not class_dir.name.isdigit() or not 1 <= int(class_dir.name) <= len(CLASSES):
                raise DatasetError(f"{class_dir}: class folder must be numbered 1..{len(CLASSES)} (RAF-DB order)")
            samples += [Sample(p, int(class_dir.name) - 1, split) for p in image_files(class_dir)]
    return Dataset(root, "numbered", samples)


def read_class_folders(root: Path) -> Dataset:
    samples, notes = [], []
    for split, folder in split_folders(root).items():
        for class_dir in sorted(d for d in folder.iterdir() if d.is_dir()):
            key = class_dir.name.lower()
            if key not in CLASS_ALIASES:
                raise DatasetError(f"{class_dir}: unknown class {class_dir.name!r}; expected one of {', '.join(CLASSES)} or a common alias")
            if CLASS_ALIASES[key] is None:
                notes.append(f"{class_dir}: class {class_dir.name!r} is not one of the seven emotions; skipped")
                continue
            label = CLASSES.index(CLASS_ALIASES[key])
            samples += [Sample(p, label, split) for p in image_files(class_dir)]
    return Dataset(root, "folders", samples, notes)


def read_fer_csv(root: Path) -> Dataset:
    path = root if root.is_file() else root / FER_CSV_NAME
    rows = csv.reader(io.StringIO(read_text(path)))
    header = next(rows, None)
    if header is None or [h.strip() for h in header[:3]] != ["emotion", "pixels", "Usage"]:
        raise DatasetError(f"{path}:1: expected the header 'emotion,pixels,Usage'")
    samples = []
    for number, row in enumerate(rows, 2):
        if not row:
            continue
        try:
            emotion, split = int(row[0]), FER_USAGE_TO_SPLIT[row[2].strip()]
            pixels = np.array(row[1].split(), dtype=np.uint8)
        except (ValueError, OverflowError, IndexError, KeyError):  # OverflowError: a pixel outside 0..255
            raise DatasetError(f"{path}:{number}: malformed row (expected emotion 0..6, 2304 pixels, a Usage)") from None
        if not 0 <= emotion <= 6:
            raise DatasetError(f"{path}:{number}: emotion {emotion} is outside 0..6")
        if pixels.size != 48 * 48:
            raise DatasetError(f"{path}:{number}: {pixels.size} pixels instead of 48 x 48 = 2304")
        samples.append(Sample(pixels.tobytes(), FER_CSV_TO_CLASS[emotion], split))
    return Dataset(path, "fer-csv", samples)


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")  # -sig: drop the byte-order mark that Windows tools write
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: not a text file") from None
    except OSError as e:
        raise DatasetError(f"{path}: cannot read ({e.strerror})") from None


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def format_counts(dataset: Dataset) -> str:
    counts = dataset.counts()
    width = max(len(c) for c in CLASSES)
    lines = [f"{'split':<6} " + " ".join(f"{c[:width]:>{width}}" for c in CLASSES) + f" {'total':>{width}}"]
    for split, row in counts.items():
        lines.append(f"{split:<6} " + " ".join(f"{n:>{width}}" for n in row) + f" {sum(row):>{width}}")
    return "\n".join(lines)
