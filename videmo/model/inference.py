"""Running a trained classifier on face images: the one path that analysis, evaluation and the
training loop's validation share, so that a model is scored as it will be used."""

from __future__ import annotations

import torch

from videmo.core.emotions import CLASSES
from videmo.model.device import autocast, memory_format_for


def equalize(images: torch.Tensor) -> torch.Tensor:
    """Per-face histogram equalisation of uint8 (N, C, S, S) images: spreads each face's grey levels
    over 0..255, so dim and flat-lit faces look alike. Training, evaluation and analysis apply it
    alike when the checkpoint's ``equalize`` says so."""
    from torchvision.transforms.functional import equalize as equalize_uint8

    return equalize_uint8(images) if len(images) else images


# With the mirror, a face is also seen mirrored where its top emotion leads the second by less than this (softmax).
MIRROR_MARGIN = 0.25


def logits_of(model: torch.nn.Module, batch: torch.Tensor, memory_format: torch.memory_format, mirror: bool) -> torch.Tensor:
    """The model's logits (fp32) for ``batch``; with ``mirror``, those of each face whose top two emotions
    are close (a lead under MIRROR_MARGIN) are the mean of its and its mirror image's.

    A face and its mirror image show the same emotion, and the models train on flipped faces, yet
    they score the two apart; averaging both (test-time augmentation) raises the default model's
    accuracy on FER+ Valid. The mean can only overturn a close call: mirroring only the faces that
    lead by less than MIRROR_MARGIN gives nearly every face the label that mirroring all of them
    gives, at the same accuracy, for fewer forward passes a video face than a wider margin takes
    (measured by ``benchmarks/mirror_margin.py``, see ``benchmarks/results/mirror_margin.txt``).
    Faces that lead by more keep their own probabilities."""
    logits = model(batch.contiguous(memory_format=memory_format)).float()  # the means in fp32, not bf16
    if not mirror or len(logits) == 0:
        return logits
    top = logits.softmax(dim=1).topk(2, dim=1).values
    close = torch.nonzero(top[:, 0] - top[:, 1] < MIRROR_MARGIN).flatten()
    if len(close):
        mirrored = model(batch[close].flip(-1).contiguous(memory_format=memory_format)).float()
        logits[close] = (logits[close] + mirrored) / 2
    return logits


@torch.inference_mode()
def predict(
    model: torch.nn.Module,
    images: torch.Tensor,
    mean: torch.Tensor,
    std: torch.Tensor,
    device: torch.device,
    precision: str,
    batch_size: int,
    mirror: bool = False,
) -> torch.Tensor:
    """Logits (fp32, CPU) for uint8 images, in batches; with ``mirror``, averaged with the mirror images'."""
    model.eval()
    memory_format = memory_format_for(device, precision)
    out = []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size].to(device).float() / 255
        with autocast(device, precision):
            out.append(logits_of(model, (batch - mean) / std, memory_format, mirror).float().cpu())
    return torch.cat(out) if out else torch.zeros(0, len(CLASSES))
