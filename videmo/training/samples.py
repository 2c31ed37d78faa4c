"""What a labelled face dataset is, whatever its layout: its samples (image, label, split, FER+'s votes),
the dataset that holds them, and the error that a dataset which cannot be read raises."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from videmo.core.emotions import CLASSES
from videmo.core.errors import VidemoError
from videmo.core.options import SPLITS


class DatasetError(VidemoError):
    """A dataset that cannot be read as laid out: its file (and line) and why."""


NO_LABEL = -1  # a FER+ face whose annotators reached no majority: trains on its votes, is never scored


@dataclass
class Sample:
    """One labelled face: where its pixels are, its class, its split and (FER+) its vote shares."""

    source: Path | bytes  # an image file, or raw 48x48 grey pixels (FER2013's CSV)
    label: int  # the class, or NO_LABEL
    split: str
    votes: tuple[float, ...] | None = None  # FER+: share of the usable votes for each class, summing to 1


@dataclass
class Dataset:
    """A dataset found under ``root``: its samples, and notes on what was left out and why."""

    root: Path
    layout: str
    samples: list[Sample]
    notes: list[str] = field(default_factory=list)

    def split(self, name: str) -> list[Sample]:
        """The samples of split ``name`` (train, val or test)."""
        return [s for s in self.samples if s.split == name]

    def counts(self) -> dict[str, list[int]]:
        """Per split, the number of samples of each class, in class order."""
        tally = Counter((s.split, s.label) for s in self.samples)
        return {
            sp: [tally[(sp, c)] for c in range(len(CLASSES))] for sp in SPLITS if any(tally[(sp, c)] for c in range(len(CLASSES)))
        }

    def describe(self) -> dict:
        """Where the data is, its layout, counts per split and class and the class names, for checkpoints."""
        return {"root": str(self.root), "layout": self.layout, "counts": self.counts(), "classes": list(CLASSES)}
