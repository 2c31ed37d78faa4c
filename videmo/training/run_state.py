"""A run's state between its epochs and its runs: the weights it starts from (``--init``), what a
``--resume`` reads back and which settings it keeps, and the metrics.csv that every epoch rewrites."""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from videmo.core.errors import VidemoError
from videmo.core.files import written_atomically
from videmo.core.options import words
from videmo.core.training import NORMALIZATIONS, RESUME_TAKES, TrainConfig
from videmo.model.awei import feature_grid
from videmo.model.checkpoint import load_checkpoint, read_payload
from videmo.model.checks import CheckpointError


def setting_words(value: object) -> str:
    """A setting as a message shows it (``options.words``), a list's values joined by commas: 'mean 0.5, 0.5, 0.5', not '[0.5, 0.5, 0.5]'."""
    return ", ".join(map(words, value)) if isinstance(value, (list, tuple)) else words(value)


def weights_to_start_from(config: TrainConfig) -> dict[str, torch.Tensor]:
    """``config.init``'s weights (fine-tuning a trained model on more epochs, new data or a larger
    input). The checkpoint must be the model these settings build and must see faces as they do: a
    model trained on equalised grey faces fine-tuned on raw ones would unlearn, not learn. The input
    size may grow as long as the five pools still end on the same grid (32-63 px all end on 1x1):
    training small and then fine-tuning larger gets the larger model for a fraction of its epochs."""
    loaded = load_checkpoint(config.init)
    mean, std = NORMALIZATIONS[config.normalize]
    run = {
        "arch": config.arch,
        "vgg": config.vgg if config.arch == "awei-vgg" else None,
        "residual": config.residual if config.arch != "cnn" else None,
        "channels": config.channels,
        "mean": list(mean[: config.channels]),
        "std": list(std[: config.channels]),
        "equalize": config.equalize,
    }
    theirs = {
        "arch": loaded.model.arch,
        "vgg": loaded.model.vgg_variant,
        "residual": loaded.model.residual_mode,
        "channels": loaded.model.in_channels,
        "mean": list(loaded.meta["mean"]),
        "std": list(loaded.meta["std"]),
        "equalize": bool(loaded.meta.get("equalize", False)),
    }
    differ = [
        f"{name} {setting_words(theirs[name])}, this run's {setting_words(value)}"
        for name, value in run.items()
        if theirs[name] != value
    ]
    if feature_grid(loaded.meta["image_size"]) != feature_grid(config.image_size):  # another size fits where the head does
        differ.append(
            f"image_size {setting_words(loaded.meta['image_size'])}, this run's {config.image_size} "
            "(whose features the head cannot take)"
        )
    if differ:
        raise VidemoError(
            f"--init {config.init}: the checkpoint differs from this run in {'; '.join(differ)} "
            "(give the options it was trained with: videmo info shows them)"
        )
    return loaded.model.state_dict()


def resume_conflicts(path: str, given: dict) -> list[str]:
    """The settings in ``given`` that the run ``path`` continues was set otherwise ("lr 0.01, the run's
    0.001"), beside ``epochs`` and RESUME_TAKES: a resumed run keeps its own, so they would be ignored."""
    kept = read_resume_state(path)["config"]
    kept = {**kept, "out": resumed_out(path, kept.get("out"))}
    return [
        f"{name} {setting_words(value)}, the run's {setting_words(kept.get(name))}"
        for name, value in given.items()
        if name not in (*RESUME_TAKES, "epochs") and kept.get(name) != value
    ]


def resumed_out(path: str, out: str) -> str:
    """Where a resumed run writes its best checkpoint: beside the '*.last.pt' file it continues (``path``),
    wherever that run was first written (``out``) -- a run folder copied or moved must not write into the
    old one."""
    last = Path(path)
    return str(last.with_name(last.name.removesuffix(".last.pt") + ".pt")) if last.name.endswith(".last.pt") else out


def read_resume_state(path: str) -> dict:
    payload = read_payload(path)
    state = payload.get("train_state")
    if not isinstance(state, dict) or "optimizer" not in payload:
        raise CheckpointError(f"{path}: holds no training state; resume from the '*.last.pt' file that training writes")
    return {**state, "state_dict": payload["state_dict"], "optimizer": payload["optimizer"]}


def write_metrics_csv(path: Path, history: list[dict]) -> None:
    with written_atomically(path) as partial, open(partial, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
