"""Running a trained classifier on face images: the one path that analysis, evaluation and the
training loop's validation share, so that a model is scored as it will be used."""

from __future__ import annotations

import torch

from .checkpoint import CLASSES
from .device import autocast, memory_format_for


def equalize(images: torch.Tensor) -> torch.Tensor:
    """Per-face histogram equalisation of uint8 (N, C, S, S) images: spreads each face's grey levels
    over 0..255, so dim and flat-lit faces look alike. Training, evaluation and analysis apply it
    alike when the checkpoint's ``equalize`` says so."""
    from torchvision.transforms.functional import equalize as equalize_uint8

    return equalize_uint8(images) if len(images) else images


def logits_of(model: torch.nn.Module, batch: torch.Tensor, memory_format: torch.memory_format, mirror: bool) -> torch.Tensor:
    """The model's logits for ``batch``; with ``mirror``, the mean of each face's and its mirror image's.

    A face and its mirror image show the same emotion, and the models train on flipped faces, yet
    they score the two apart; averaging both (test-time augmentation, one forward pass of twice the
    batch) took the previous default model from 0.807 to 0.817 on FER+ Valid; it halves the
    classifier's faces/s but costs analyze a few percent, since detection takes most of its time.
    """
    if mirror:
        batch = torch.cat([batch, batch.flip(-1)])
    logits = model(batch.contiguous(memory_format=memory_format))
    return logits.float().view(2, -1, logits.shape[1]).mean(dim=0) if mirror else logits  # the mean in fp32, not bf16


@torch.inference_mode()
def predict(model: torch.nn.Module, images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
            device: torch.device, precision: str, batch_size: int, mirror: bool = False) -> torch.Tensor:
    """Logits (fp32, CPU) for uint8 images, in batches; with ``mirror``, averaged with the mirror images'."""
    model.eval()
    memory_format = memory_format_for(device, precision)
    out = []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size].to(device).float() / 255
        with autocast(device, precision):
            out.append(logits_of(model, (batch - mean) / std, memory_format, mirror).float().cpu())
    return torch.cat(out) if out else torch.zeros(0, len(CLASSES))
