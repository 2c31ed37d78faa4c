"""Training on noisy labels: the paper's third proposal, a module that finds the samples whose
labels are probably wrong and discards, down-weights or relabels them (``videmo train
--noisy-labels``).

Two published methods, chosen because each needs no clean subset, no second dataset and no
extra pass over the data, so a run costs what a plain one does:

- ``discard``: **small-loss selection** (Han et al., *Co-teaching*, NeurIPS 2018; its selection
  rule, with one network rather than two). Networks learn the labels that agree with the rest of
  the data before they memorise the ones that do not, so early in training the samples with the
  largest loss in a batch are the likeliest to be mislabelled. Each batch leaves its ``rate``
  largest-loss samples out of the gradient, ranked within each class (a rare class's losses are
  larger throughout); the share grows from 0 to ``rate`` over the ``warmup`` epochs, while the
  network is still learning what the clean labels look like.
- ``reweight``: the **Self-Cure Network**'s importance weights (Wang et al., *Suppressing
  Uncertainties for Large-Scale Facial Expression Recognition*, CVPR 2020). A linear layer and a
  sigmoid on the classifier's 1792 hidden units give each sample a weight in (0, 1) that scales
  its logits (an uncertain face then pulls less on the weights); a rank regularisation keeps the
  mean weight of each batch's top 70% at least 0.15 above the rest, so the weights must rank.
- ``relabel``: ``reweight`` and SCN's relabelling: after ``warmup`` epochs, a sample in the
  low-weight group whose most probable class beats its given label's probability by more than 0.2
  takes that class as its label for the rest of the run.

The layer that weighs samples exists in training only: the checkpoint is the plain classifier.
What each sample got (its weight or discards, the model's label, a new label) is kept for
``noisy.csv`` beside the run's metrics, so people can look at the faces and judge.
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from videmo.core.emotions import CLASSES
from videmo.core.files import written_atomically

HIGH_SHARE = 0.7  # SCN's beta: the share of each batch in the high-importance group
RANK_MARGIN = 0.15  # SCN's delta_1: the least gap between the two groups' mean weights
RELABEL_MARGIN = 0.2  # SCN's delta_2: how far the best class must beat the given one to replace it


class NoisyLabels(nn.Module):
    """The loss of one batch under ``mode`` (none, discard, reweight, relabel), and what it learnt
    about each of the ``n`` training samples."""

    def __init__(
        self, mode: str, n: int, hidden_units: int, rate: float = 0.2, warmup: float = 2.0, given: torch.Tensor | None = None
    ):
        super().__init__()
        self.mode, self.rate, self.warmup = mode, rate, warmup
        self.attention = nn.Linear(hidden_units, 1) if mode in ("reweight", "relabel") else None
        # per sample, from the last time it was seen: its weight (0/1 for discard), the model's label, a new label (-1: none)
        self.register_buffer("weight", torch.ones(n))
        self.register_buffer("predicted", torch.full((n,), -1, dtype=torch.long))
        self.register_buffer("relabelled", torch.full((n,), -1, dtype=torch.long))
        self.register_buffer("discards", torch.zeros(n, dtype=torch.long))  # epochs in which it was left out
        self.register_buffer(
            "given", given.clone() if given is not None else torch.full((n,), -1, dtype=torch.long)
        )  # the data's labels

    def targets(self, targets: torch.Tensor) -> torch.Tensor:
        """This epoch's targets with the relabelled samples' new labels (one-hot for soft targets)."""
        changed = self.relabelled >= 0
        if not changed.any():
            return targets
        targets = targets.clone()
        if targets.ndim == 1:
            targets[changed] = self.relabelled[changed]
        else:
            targets[changed] = F.one_hot(self.relabelled[changed], targets.shape[1]).to(targets.dtype)
        return targets

    def loss(
        self,
        logits: torch.Tensor,
        hidden: torch.Tensor,
        labels: torch.Tensor,
        index: torch.Tensor,
        progress: float,
        class_weights: torch.Tensor | None,
        label_smoothing: float,
    ) -> torch.Tensor:
        """The batch's loss; ``index``: the samples' positions in the training set, ``progress``:
        epochs done (fractional), which the warm-up counts."""
        index = index.to(self.weight.device)
        self.predicted[index] = logits.detach().argmax(1)
        if self.mode == "none":
            return F.cross_entropy(logits, labels, weight=class_weights, label_smoothing=label_smoothing)
        if self.mode == "discard":
            per_sample = F.cross_entropy(logits, labels, weight=class_weights, label_smoothing=label_smoothing, reduction="none")
            rate = self.rate * (min(progress / self.warmup, 1.0) if self.warmup > 0 else 1.0)
            kept = self.small_losses(per_sample.detach(), labels if labels.ndim == 1 else labels.argmax(1), rate)
            self.weight[index] = kept.float()
            self.discards[index[~kept]] += 1
            return per_sample[kept].mean()
        alpha = torch.sigmoid(self.attention(hidden.float())).squeeze(1)
        self.weight[index] = alpha.detach()
        per_sample = F.cross_entropy(
            alpha.unsqueeze(1) * logits, labels, weight=class_weights, label_smoothing=label_smoothing, reduction="none"
        )
        ranked = alpha.sort(descending=True).values
        high = max(1, min(len(ranked) - 1, int(HIGH_SHARE * len(ranked))))
        rank_loss = F.relu(RANK_MARGIN - (ranked[:high].mean() - ranked[high:].mean())) if len(ranked) > 1 else alpha.sum() * 0
        if self.mode == "relabel" and progress >= self.warmup and len(ranked) > 1:
            self.relabel(logits.detach(), labels, index, alpha.detach(), ranked[high - 1])
        return per_sample.mean() + rank_loss

    @staticmethod
    def small_losses(losses: torch.Tensor, classes: torch.Tensor, rate: float) -> torch.Tensor:
        """Which samples to keep: all but the ``rate`` largest losses of each class in the batch. Ranked
        within a class, because a rare class's losses are larger throughout: ranked over the whole
        batch, FER2013 left out every one of its disgust faces and never learnt the class."""
        kept = torch.ones(len(losses), dtype=torch.bool, device=losses.device)
        for c in classes.unique():
            members = (classes == c).nonzero().squeeze(1)
            dropped = int(round(rate * len(members)))
            if dropped:
                kept[members[losses[members].argsort(descending=True)[:dropped]]] = False
        return kept

    def relabel(
        self, logits: torch.Tensor, labels: torch.Tensor, index: torch.Tensor, alpha: torch.Tensor, cut: torch.Tensor
    ) -> None:
        probs = logits.float().softmax(1)
        given = labels if labels.ndim == 1 else labels.argmax(1)
        best_p, best = probs.max(1)
        better = (alpha < cut) & (best != given) & (best_p - probs.gather(1, given[:, None]).squeeze(1) > RELABEL_MARGIN)
        # a sample relabelled back to the data's own label trains on the data's target again (its vote shares)
        self.relabelled[index[better]] = torch.where(best[better] == self.given[index[better]], -1, best[better])

    def write_table(self, path: Path, sources: list[str]) -> None:
        """``noisy.csv``: one row per training sample, what the module made of its label."""
        with written_atomically(path) as partial, open(partial, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["image", "given", "predicted", "relabelled", "weight", "epochs_discarded"])
            for i, source in enumerate(sources):
                predicted, relabelled = int(self.predicted[i]), int(self.relabelled[i])
                writer.writerow(
                    [
                        source,
                        CLASSES[int(self.given[i])],
                        CLASSES[predicted] if predicted >= 0 else "",
                        CLASSES[relabelled] if relabelled >= 0 else "",
                        f"{float(self.weight[i]):.4f}",
                        int(self.discards[i]),
                    ]
                )
