"""Classification metrics from a confusion matrix, computed one way for train and evaluate."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Scores:
    confusion: list[list[int]]  # rows: true class, columns: predicted class
    accuracy: float
    macro_f1: float
    precision: list[float]
    recall: list[float]
    f1: list[float]

    @property
    def present(self) -> list[int]:
        """The classes that occur among the true labels: the macro averages are over these."""
        return [i for i, row in enumerate(self.confusion) if sum(row)]

    @property
    def macro_recall(self) -> float:
        present = self.present
        return sum(self.recall[i] for i in present) / len(present) if present else 0.0

    def as_dict(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "macro_recall": self.macro_recall,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "confusion": self.confusion,
        }


def confusion_matrix(labels: torch.Tensor, predictions: torch.Tensor, num_classes: int) -> torch.Tensor:
    index = labels.long() * num_classes + predictions.long()
    return torch.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def scores(labels: torch.Tensor, predictions: torch.Tensor, num_classes: int) -> Scores:
    """Per-class precision and recall; a class never predicted (or absent) scores 0, not NaN; the
    macro averages are over the classes present among the labels."""
    cm = confusion_matrix(labels, predictions, num_classes).double()
    hits = cm.diag()
    precision = hits / cm.sum(dim=0).clamp(min=1)
    recall = hits / cm.sum(dim=1).clamp(min=1)
    f1 = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
    present = cm.sum(dim=1) > 0  # a class absent from the labels would drag every macro average towards 0
    return Scores(
        confusion=cm.long().tolist(),
        accuracy=float(hits.sum() / cm.sum().clamp(min=1)),
        macro_f1=float(f1[present].mean()) if present.any() else 0.0,
        precision=precision.tolist(),
        recall=recall.tolist(),
        f1=f1.tolist(),
    )
