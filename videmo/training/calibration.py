"""Whether a model's probabilities keep their promise, and the one temperature that makes the label's
confidence keep it.

Two promises can be asked of the seven probabilities: that they estimate how annotators' votes would
split (FER+'s models train on the vote shares), and that their top value says how often the top emotion
is right. One temperature T, fitted on validation faces by the majority labels' log-likelihood, is
applied to the logits (softmax(logits / T)); analyze writes those probabilities and their top value as
``confidence``. T > 0 never changes which emotion is on top. ``benchmarks/calibration.py`` measures both
promises with and without it, on faces the temperature was not fitted on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

ECE_BINS = 15
TEMPERATURES = (0.05, 20.0)  # the search's bounds


@dataclass
class Calibration:
    """How well confidences and probabilities keep their promises on one set of labelled faces."""

    temperature: float  # the one applied for ``ece`` and ``mean_confidence``
    ece: float  # expected calibration error of the confidence against the majority label (ECE_BINS bins)
    ece_uncalibrated: float  # the same with T = 1: the top probability as the model gives it
    mean_confidence: float
    accuracy: float
    vote_distance: float | None = None  # mean total variation between the seven probabilities and the vote shares
    vote_distance_calibrated: float | None = None  # the same for softmax(logits / T)
    bins: list[dict] | None = None  # the reliability diagram: per bin, its range, mean confidence, accuracy, count

    def as_dict(self) -> dict:
        return asdict(self)


def reliability(confidence: torch.Tensor, correct: torch.Tensor, bins: int = ECE_BINS) -> list[dict]:
    """Per equal-width confidence bin: its range, the faces in it, their mean confidence and accuracy."""
    edges = torch.linspace(0, 1, bins + 1)
    out = []
    for i in range(bins):
        inside = (confidence > edges[i]) & (confidence <= edges[i + 1]) if i else (confidence <= edges[1])
        count = int(inside.sum())
        out.append(
            {
                "low": round(float(edges[i]), 4),
                "high": round(float(edges[i + 1]), 4),
                "count": count,
                "confidence": float(confidence[inside].mean()) if count else None,
                "accuracy": float(correct[inside].float().mean()) if count else None,
            }
        )
    return out


def expected_calibration_error(confidence: torch.Tensor, correct: torch.Tensor, bins: int = ECE_BINS) -> float:
    """The count-weighted mean gap between confidence and accuracy over equal-width bins."""
    total = max(len(confidence), 1)
    return float(
        sum(
            b["count"] / total * abs(b["confidence"] - b["accuracy"])
            for b in reliability(confidence, correct, bins)
            if b["count"]
        )
    )


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The T that minimises the labels' negative log-likelihood under softmax(logits / T): a golden-section
    search over log T (the likelihood is unimodal in it)."""
    logits, labels = logits.double(), labels.long()
    nll = lambda log_t: float(F.cross_entropy(logits / torch.exp(torch.tensor(log_t)), labels))  # noqa: E731
    low, high = (float(torch.log(torch.tensor(t))) for t in TEMPERATURES)
    ratio = (5**0.5 - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa, fb = nll(a), nll(b)
    for _ in range(80):
        if fa < fb:
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = nll(a)
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = nll(b)
    return round(float(torch.exp(torch.tensor((low + high) / 2))), 4)


def calibration_of(
    logits: torch.Tensor, labels: torch.Tensor, temperature: float, votes: torch.Tensor | None = None
) -> Calibration:
    """How ``logits`` keep their promises on faces with majority ``labels`` (and, where known, vote shares)."""
    logits = logits.float()
    calibrated = torch.softmax(logits / temperature, dim=1)
    raw = torch.softmax(logits, dim=1)
    confidence, top = calibrated.max(dim=1)
    correct = top == labels
    distance = distance_calibrated = None
    if votes is not None and len(votes):
        distance = float((raw - votes).abs().sum(dim=1).mean() / 2)
        distance_calibrated = float((calibrated - votes).abs().sum(dim=1).mean() / 2)
    return Calibration(
        temperature=temperature,
        ece=expected_calibration_error(confidence, correct),
        ece_uncalibrated=expected_calibration_error(raw.max(dim=1).values, correct),
        mean_confidence=float(confidence.mean()),
        accuracy=float(correct.float().mean()),
        vote_distance=distance,
        vote_distance_calibrated=distance_calibrated,
        bins=reliability(confidence, correct),
    )


def plot_reliability(calibration: Calibration, path) -> None:
    """reliability.png: accuracy against confidence per bin, beside the diagonal a calibrated model follows."""
    from matplotlib.figure import Figure  # not pyplot: a notebook's backend is left as it was

    figure = Figure(figsize=(5, 5))
    axes = figure.add_subplot()
    full = [b for b in calibration.bins if b["count"]]
    axes.plot([0, 1], [0, 1], color="#999999", linestyle="--", linewidth=1, label="calibrated")
    axes.bar(
        [(b["low"] + b["high"]) / 2 for b in full],
        [b["accuracy"] for b in full],
        width=1 / len(calibration.bins),
        edgecolor="#0072B2",
        color="#56B4E9",
        alpha=0.8,
        label="accuracy",
    )
    axes.plot(
        [b["confidence"] for b in full],
        [b["accuracy"] for b in full],
        "o",
        color="#D55E00",
        markersize=4,
        label="mean confidence",
    )
    axes.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel="confidence (what analyze writes)",
        ylabel="accuracy",
        title=f"T = {calibration.temperature:g}: ECE {calibration.ece:.3f} (T = 1: {calibration.ece_uncalibrated:.3f})",
    )
    axes.legend(loc="upper left", frameon=False)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
