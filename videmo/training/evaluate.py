"""Score a checkpoint on a labelled dataset split: the table, confusion matrix and per-class chart of the paper."""

from __future__ import annotations

from pathlib import Path

import torch

from videmo.core.errors import VidemoError
from videmo.model.checkpoint import load_checkpoint
from videmo.model.device import resolve_device
from videmo.model.inference import equalize, predict
from videmo.model.runtime import inference_model
from videmo.training.calibration import calibration_of, fit_temperature
from videmo.training.datasets import NO_LABEL, load_dataset
from videmo.training.images import decode_samples
from videmo.training.metrics import Scores, scores


def evaluate(
    data: str,
    weights: str,
    split: str | None = None,
    layout: str | None = None,
    device: str = "auto",
    precision: str = "fp32",
    batch_size: int = 256,
    workers: int = 2,
    progress: bool = True,
    mirror: bool = True,
    runtime: str = "auto",
) -> tuple[Scores, dict]:
    """Scores of ``weights`` on ``split`` (default: val, else test) and a description of what was scored;
    ``mirror`` averages each face with its mirror image and ``runtime`` runs the model, as ``analyze`` does by default."""
    checkpoint = load_checkpoint(weights)
    dataset = load_dataset(data, layout)
    available = [name for name in ("val", "test", "train") if dataset.split(name)]
    wanted = split or "val"
    split = split or next((name for name in ("val", "test") if name in available), None)
    if split not in available:
        raise VidemoError(
            f"{dataset.root}: no '{wanted}' split here (has {', '.join(available) or 'none'}); choose one with --split"
        )
    meta = checkpoint.meta
    samples = [s for s in dataset.split(split) if s.label != NO_LABEL]  # FER+: the majority label is scored
    unreadable: list[str] = []  # each image skipped, and why: shown with the other notes, in the JSON too
    images, labels, votes, skipped = decode_samples(
        samples,
        meta["image_size"],
        meta["channels"],
        workers,
        progress,
        report=lambda line: unreadable.append(line.removeprefix("note: ")),
    )
    if len(labels) == 0:
        if not samples:
            raise VidemoError(f"{dataset.root}: no labelled images in the {split} split (no face of it has a majority label)")
        first = unreadable[0].removeprefix("skipped ")
        raise VidemoError(
            f"{dataset.root}: no readable images in the {split} split (none of its {len(samples)} could be used; {first}"
            f"{', ...' if len(samples) > 1 else ''})"
        )
    torch_device = resolve_device(device)
    model, precision, runtime, note = inference_model(checkpoint.model, torch_device, precision, runtime, torch.get_num_threads())
    mean = torch.tensor(meta["mean"], device=torch_device).view(1, -1, 1, 1)
    std = torch.tensor(meta["std"], device=torch_device).view(1, -1, 1, 1)
    if meta.get("equalize"):
        images = equalize(images)
    logits = predict(model, images, mean, std, torch_device, precision, batch_size, mirror)
    result = scores(labels, logits.argmax(1), len(meta["classes"]))
    temperature = float((meta.get("calibration") or {}).get("temperature", 1.0))
    votes = votes if dataset.layout == "ferplus" else None  # other layouts' one-hot rows say nothing of agreement
    calibration = calibration_of(logits, labels, temperature, votes)
    about = {
        "data": str(dataset.root),
        "layout": dataset.layout,
        "split": split,
        "notes": dataset.notes + unreadable + ([note] if note else []),
        "counts": dataset.counts().get(split, []),
        "images": int(len(labels)),
        "skipped": skipped,
        "weights": str(checkpoint.path),
        "sha256": checkpoint.sha256,
        "classes": list(meta["classes"]),
        "precision": precision,
        "runtime": runtime,
        "mirror": mirror,
        "calibration": calibration.as_dict(),
        "fitted_temperature": fit_temperature(logits, labels),
    }
    return result, about


def format_calibration(calibration: dict, fitted: float) -> str:
    """What the confidence column of frames.csv promises, and how well it keeps it, as evaluate prints it."""
    lines = [
        f"\nconfidence (frames.csv's confidence: the top emotion's probability at temperature {calibration['temperature']:g}): "
        f"mean {calibration['mean_confidence']:.4f} against accuracy {calibration['accuracy']:.4f}; "
        f"expected calibration error {calibration['ece']:.4f} ({len(calibration['bins'])} bins; {calibration['ece_uncalibrated']:.4f} at temperature 1)"
    ]
    if calibration.get("vote_distance") is not None:
        lines.append(
            f"the seven probabilities against the annotators' vote shares: mean total variation {calibration['vote_distance']:.4f} "
            f"({calibration['vote_distance_calibrated']:.4f} at temperature {calibration['temperature']:g})"
        )
    lines.append(f"temperature fitted on these faces: {fitted:g} ('videmo calibrate' stores one in a checkpoint)")
    return "\n".join(lines)


def format_report(result: Scores, classes: list[str]) -> str:
    """The per-class table, the averages and the confusion matrix as evaluate prints them."""
    width = max(len(c) for c in classes) + 2
    lines = [f"{'class':<{width}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]
    for i, name in enumerate(classes):
        lines.append(
            f"{name:<{width}}{result.precision[i]:>10.4f}{result.recall[i]:>10.4f}{result.f1[i]:>10.4f}{sum(result.confusion[i]):>10}"
        )
    lines.append(f"\naccuracy {result.accuracy:.4f}   macro-F1 {result.macro_f1:.4f}   macro recall {result.macro_recall:.4f}")
    missing = [name for i, name in enumerate(classes) if i not in result.present]
    if missing:
        lines.append(f"(macro averages over the {len(result.present)} classes present; no {', '.join(missing)} in this split)")
    lines.append("\nconfusion matrix (rows: true, columns: predicted)")
    lines.append(" " * width + "".join(f"{c[:8]:>9}" for c in classes))
    for name, row in zip(classes, result.confusion):
        lines.append(f"{name:<{width}}" + "".join(f"{n:>9}" for n in row))
    return "\n".join(lines)


def plot_confusion(result: Scores, classes: list[str], path: Path) -> None:
    """confusion_matrix.png: the row-normalised matrix with each cell's count."""
    from matplotlib.figure import Figure  # not pyplot: a notebook's backend is left as it was

    matrix = torch.tensor(result.confusion, dtype=torch.float64)
    share = (matrix / matrix.sum(dim=1, keepdim=True).clamp(min=1)).numpy()
    figure = Figure(figsize=(7, 6))
    axis = figure.subplots()
    image = axis.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            axis.text(
                j,
                i,
                f"{share[i, j]:.2f}\n({int(matrix[i, j])})",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if share[i, j] > 0.5 else "black",
            )
    axis.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    axis.set_yticks(range(len(classes)), classes)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(f"confusion matrix (row-normalised), accuracy {result.accuracy:.3f}")
    figure.colorbar(image, ax=axis, fraction=0.046)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def plot_class_accuracy(result: Scores, classes: list[str], path: Path) -> None:
    """class_accuracy.png: each class's recall against the overall accuracy."""
    from matplotlib.figure import Figure  # not pyplot: a notebook's backend is left as it was

    figure = Figure(figsize=(7, 4))
    axis = figure.subplots()
    bars = axis.bar(classes, result.recall, color="#3b6fb6")
    axis.bar_label(bars, fmt="%.2f", fontsize=8)
    axis.axhline(result.accuracy, color="#c62828", linestyle="--", label=f"overall accuracy {result.accuracy:.3f}")
    axis.set_ylim(0, 1)
    axis.set_ylabel("accuracy (recall) per class")
    axis.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def calibrate_checkpoint(source, data: str, split: str | None, layout: str | None, out, device: str = "auto") -> str:
    """``videmo calibrate``: the temperature fitted on ``data``'s split, stored in a copy of checkpoint
    ``source`` at ``out``; returns the line that says what it changed."""
    from datetime import datetime, timezone

    from videmo.model.checkpoint import save_with_meta

    _, about = evaluate(data, str(source), split, layout, device, "fp32", 256, progress=False)
    temperature, before = about["fitted_temperature"], about["calibration"]
    calibration = {
        "temperature": temperature,
        "data": Path(about["data"]).name,
        "split": about["split"],
        "images": about["images"],
        "ece_before": round(before["ece_uncalibrated"], 4),
        "fitted": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    save_with_meta(source, out, {"calibration": calibration})
    after = evaluate(data, str(out), split, layout, device, "fp32", 256, progress=False)[1]["calibration"]
    return (
        f"{out}: temperature {temperature:g} fitted on {about['images']} faces of {about['data']} [{about['split']}]; "
        f"expected calibration error {before['ece_uncalibrated']:.4f} -> {after['ece']:.4f}; labels unchanged"
    )
