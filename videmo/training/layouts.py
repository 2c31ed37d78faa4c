"""The readers of each dataset layout (RAF-DB, FER+, numbered or named class folders, FER2013's CSV):
each lists a folder's (image, label, split) samples and notes what it left out and why."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from videmo.core.emotions import CLASSES
from videmo.core.errors import printable
from videmo.training.samples import NO_LABEL, Dataset, DatasetError, Sample

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
NOT_DATA = {"thumbs.db", "desktop.ini"}  # what file managers leave in folders: never noted
NAMES_SHOWN = 3  # the files a note names, before 'and N more'
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
    "surprise": "surprise",
    "surprised": "surprise",
    "surprize": "surprise",
    "fear": "fear",
    "fearful": "fear",
    "afraid": "fear",
    "scared": "fear",
    "disgust": "disgust",
    "disgusted": "disgust",
    "happiness": "happiness",
    "happy": "happiness",
    "joy": "happiness",
    "sadness": "sadness",
    "sad": "sadness",
    "anger": "anger",
    "angry": "anger",
    "neutral": "neutral",
    "calm": "neutral",
    "contempt": None,
}


def split_folders(root: Path) -> dict[str, Path]:
    """train/val/test folders under ``root`` or under the widespread ``DATASET/`` level."""
    for base in (root, root / "DATASET"):
        found = (
            {SPLIT_ALIASES[d.name.lower()]: d for d in sorted(base.iterdir()) if d.is_dir() and d.name.lower() in SPLIT_ALIASES}
            if base.is_dir()
            else {}
        )
        if found:
            return found
    return {}


def read_rafdb(root: Path) -> Dataset:
    """RAF-DB's official layout: its label file, the aligned images (else the original ones)."""
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
            raise DatasetError(
                f"{label_file}:{number}: malformed line '{printable(line.strip())}' (expected 'train_00001.jpg 5')"
            )
        name, label = parts[0], int(parts[1])
        if not 1 <= label <= len(CLASSES):
            raise DatasetError(f"{label_file}:{number}: label {label} is outside 1..{len(CLASSES)}")
        split = "train" if name.startswith("train") else "test" if name.startswith("test") else None
        if split is None:
            raise DatasetError(f"{label_file}:{number}: file name '{printable(name)}' starts with neither 'train' nor 'test'")
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
    """FER+'s official layout: each split folder's label.csv of ten vote counts per image beside its PNGs."""
    samples, notes = [], []
    for folder, split in FERPLUS_SPLITS.items():
        label_file = root / folder / "label.csv"
        if not label_file.is_file():
            continue
        unusable, missing, listed, no_majority = 0, [], set(), 0
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
                raise DatasetError(
                    f"{label_file}:{number}: malformed line (expected 'fer0000000.png,\"(0, 0, 48, 48)\",' "
                    f"and {len(FERPLUS_VOTES)} vote counts)"
                ) from None
            label, votes = ferplus_votes(counts)
            path = root / folder / row[0].strip()
            listed.add(path.name)
            if votes is None:
                unusable += 1
            elif not path.is_file():
                missing.append(path)
            else:
                no_majority += label == NO_LABEL
                samples.append(Sample(path, label, split, votes))
        if not listed:
            notes.append(f"{label_file}: no rows")
        unlisted = [
            p
            for p in visible_files(root / folder, recursive=False)
            if p.suffix.lower() in IMAGE_SUFFIXES and p.name not in listed
        ]
        if unusable:
            notes.append(f"{folder}: {unusable} faces left out, no usable emotion vote (contempt, unknown or not a face)")
        if missing:
            notes.append(f"{folder}: {len(missing)} listed images not found ({names(missing)})")
        if unlisted:
            notes.append(
                f"{folder}: {count(len(unlisted), 'image')} not in its label.csv left out, unlabelled ({names(unlisted)})"
            )
        if no_majority:
            notes.append(
                f"{folder}: {no_majority} faces have no majority emotion: they train with --labels probability "
                "or crossentropy and are never scored"
            )
    return Dataset(root, "ferplus", samples, notes)


def read_numbered(root: Path) -> Dataset:
    """Split folders of class folders numbered 1..7 in RAF-DB's order."""
    samples, notes = [], []
    for split, folder in split_folders(root).items():
        for class_dir in class_folders(folder, notes):
            if not class_dir.name.isdigit() or not 1 <= int(class_dir.name) <= len(CLASSES):
                raise DatasetError(f"{class_dir}: class folder must be numbered 1..{len(CLASSES)} (RAF-DB order)")
            samples += [Sample(p, int(class_dir.name) - 1, split) for p in class_images(class_dir, notes)]
    return Dataset(root, "numbered", samples, notes)


def read_class_folders(root: Path) -> Dataset:
    """Split folders of class folders named by emotion (common aliases understood, contempt skipped)."""
    samples, notes = [], []
    for split, folder in split_folders(root).items():
        for class_dir in class_folders(folder, notes):
            key = class_dir.name.lower()
            if key not in CLASS_ALIASES:
                raise DatasetError(
                    f"{class_dir}: unknown class '{printable(class_dir.name)}'; expected one of {', '.join(CLASSES)} or a common alias"
                )
            if CLASS_ALIASES[key] is None:
                notes.append(f"{class_dir}: class '{printable(class_dir.name)}' is not one of the seven emotions; skipped")
                continue
            label = CLASSES.index(CLASS_ALIASES[key])
            samples += [Sample(p, label, split) for p in class_images(class_dir, notes)]
    return Dataset(root, "folders", samples, notes)


def class_folders(split_folder: Path, notes: list[str]) -> list[Path]:
    """The class folders of a split folder (hidden ones are not); images beside them have no label,
    and are noted as left out rather than passed over in silence."""
    loose = [p for p in visible_files(split_folder, recursive=False) if p.suffix.lower() in IMAGE_SUFFIXES]
    if loose:
        notes.append(
            f"{split_folder}: {count(len(loose), 'image')} outside the class folders left out, unlabelled ({names(loose)})"
        )
    return sorted(d for d in split_folder.iterdir() if d.is_dir() and not d.name.startswith("."))


def class_images(class_dir: Path, notes: list[str]) -> list[Path]:
    """The images under a class folder (recursively); an empty one, and files that are not images, are noted."""
    files = visible_files(class_dir, recursive=True)
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    others = [p for p in files if p.suffix.lower() not in IMAGE_SUFFIXES]
    if others:
        notes.append(
            f"{class_dir}: {count(len(others), 'file')} that {'is' if len(others) == 1 else 'are'} not an image "
            f"({', '.join(sorted(IMAGE_SUFFIXES))}) left out ({names(others)})"
        )
    if not images:
        notes.append(f"{class_dir}: empty class folder (no images)")
    return images


def visible_files(folder: Path, recursive: bool) -> list[Path]:
    """Files under ``folder`` that a user put there: not hidden ones (macOS's ``._`` copies, ``.DS_Store``)
    or what file managers add (``Thumbs.db``), nor anything in a hidden folder."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        p
        for p in found
        if p.is_file()
        and p.name.lower() not in NOT_DATA
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def count(n: int, word: str) -> str:
    """'1 image', '3 images'."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def names(paths: list) -> str:
    """The first NAMES_SHOWN file names, and how many more."""
    shown = ", ".join(printable(Path(p).name) for p in paths[:NAMES_SHOWN])
    return shown + (f" and {len(paths) - NAMES_SHOWN} more" if len(paths) > NAMES_SHOWN else "")


def read_fer_csv(root: Path) -> Dataset:
    """FER2013's CSV (emotion, 48x48 pixels, Usage), as a file or in a folder."""
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
    """A label file's text; a DatasetError naming it when it is not text or cannot be read."""
    try:
        return path.read_text(encoding="utf-8-sig")  # -sig: drop the byte-order mark that Windows tools write
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: not a text file") from None
    except OSError as e:
        raise DatasetError(f"{path}: cannot read ({e.strerror})") from None
