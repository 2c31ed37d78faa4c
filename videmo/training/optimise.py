"""What each training step's update uses: the optimiser, the learning-rate schedule, the class weights
of the loss, and the BatchNorm statistics re-estimated after every epoch."""

from __future__ import annotations

import math

import torch

from videmo.core.errors import VidemoError
from videmo.core.training import TrainConfig
from videmo.model.device import autocast, memory_format_for


def make_optimizer(modules: list[torch.nn.Module], config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for module in modules for p in module.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, nesterov=True, weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    raise VidemoError(f"--optimizer {config.optimizer}: choose sgd, adam or adamw")


def move_optimizer_state(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    for per_param in optimizer.state.values():
        for key, value in per_param.items():
            if torch.is_tensor(value) and key != "step":
                per_param[key] = value.to(device)


def learning_rate(config: TrainConfig, progress: float) -> float:
    """LR at ``progress`` epochs into the run: linear warm-up, then cosine, step or constant."""
    if progress < config.warmup_epochs:
        return config.lr * (progress + 1e-3) / config.warmup_epochs
    if config.schedule == "constant":
        return config.lr
    span = max(config.epochs - config.warmup_epochs, 1e-9)
    done = min((progress - config.warmup_epochs) / span, 1.0)
    if config.schedule == "cosine":
        return config.lr * 0.5 * (1 + math.cos(math.pi * done))
    if config.schedule == "step":
        return config.lr * 0.1 ** int(done * 3)
    raise VidemoError(f"--schedule {config.schedule}: choose cosine, step or constant")


def class_weights(per_class: torch.Tensor) -> torch.Tensor:
    """Inverse square-root class frequency (``per_class``: how many faces, or votes, of each class),
    scaled to mean 1: lifts rare classes without sacrificing much overall accuracy (full inverse
    frequency over-weights FER2013's 436 'disgust')."""
    weights = per_class.double().clamp(min=1).rsqrt()
    return (weights / weights.mean()).float()


@torch.no_grad()
def recalibrate_batch_norm(
    model: torch.nn.Module,
    images: torch.Tensor,
    mean: torch.Tensor,
    std: torch.Tensor,
    device: torch.device,
    precision: str,
    batch_size: int,
) -> None:
    """Re-estimate every BatchNorm's running statistics on unaugmented ``images`` with the current weights.

    The running averages gathered during an epoch lag behind weights that keep moving and come from
    augmented images; on FER2013 the stale ones cost much of the validation accuracy early in training,
    where fresh statistics bring it up to the train accuracy. Images (uint8) are the train split's.
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms or len(images) == 0:
        return
    momenta = [bn.momentum for bn in norms]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # a plain average over all the batches
    model.train()
    memory_format = memory_format_for(device, precision)
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size].to(device).float() / 255
        with autocast(device, precision):
            model(((batch - mean) / std).contiguous(memory_format=memory_format))
    for bn, momentum in zip(norms, momenta):
        bn.momentum = momentum
    model.eval()
