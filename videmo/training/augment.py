"""What each training epoch sees: the order of the faces, their targets (FER+'s three label modes)
and the augmentation of each batch, all drawn from the epoch's own generator so that a resumed
run repeats them. ``video``'s degradations are ``degrade``'s."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from videmo.core.emotions import CLASSES
from videmo.model.inference import equalize as equalize_faces
from videmo.training.degrade import (
    CHANCES,
    DARK_LEVEL,
    HARD_CHANCES,
    HARD_DARK_LEVEL,
    HARD_TURN_DEGREES,
    ROLL_DEGREES,
    TURN_DEGREES,
    degrade,
    draw_video,
    turn,
)

DEGRADING = ("video", "video-hard")  # the levels that degrade faces before --equalize: they equalise per batch, after it


def epoch_order(
    labels: torch.Tensor, balance: str, generator: torch.Generator, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """The epoch's training images in order: each once, shuffled; or, with the ``sampler`` balance or
    per-image ``weights`` (``--sample-weights``), as many draws with replacement, each image drawn in
    proportion to its weight (with ``sampler``, each class drawn as often as the others)."""
    if balance != "sampler" and weights is None:
        return torch.randperm(len(labels), generator=generator)
    per_sample = torch.ones(len(labels), dtype=torch.float64) if weights is None else weights.double()
    if balance == "sampler":  # each class drawn as often, its images in proportion to their weights
        per_class = torch.bincount(labels, weights=per_sample, minlength=len(CLASSES))
        per_sample = per_sample / per_class[labels].clamp(min=torch.finfo(torch.float64).tiny)
    return torch.multinomial(per_sample, len(labels), replacement=True, generator=generator)


def epoch_targets(labels: torch.Tensor, votes: torch.Tensor, mode: str, generator: torch.Generator) -> torch.Tensor:
    """This epoch's training targets, as in the FERPlus paper: the majority labels; a label drawn
    from each face's vote shares (afresh every epoch); or the vote shares themselves (soft targets)."""
    if mode == "majority":
        return labels
    if mode == "probability":
        return torch.multinomial(votes, 1, generator=generator).squeeze(1)
    return votes


def mixup(
    images: torch.Tensor, targets: torch.Tensor, alpha: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup (Zhang et al., 2018): each image blended with another of the batch, and its target (class
    indices or probabilities) with the other's, by one weight drawn from Beta(alpha, alpha) per batch.
    The targets come back as probabilities."""
    weight = float(np.random.default_rng(int(torch.randint(2**62, (1,), generator=generator))).beta(alpha, alpha))
    partner = torch.randperm(len(images), generator=generator).to(images.device)
    if targets.ndim == 1:
        targets = F.one_hot(targets, len(CLASSES)).float()
    return weight * images + (1 - weight) * images[partner], weight * targets + (1 - weight) * targets[partner]


def equalizes_per_batch(level: str, equalize: bool) -> bool:
    """Whether training with ``--augment level`` (and ``--equalize``) equalises each batch after its
    degradations, rather than the images once when they load."""
    return equalize and level in DEGRADING


def augment(images: torch.Tensor, level: str, generator: torch.Generator, equalize: bool = False) -> torch.Tensor:
    """uint8 (N,C,H,W) -> float [0,1], with random flips, affine jitter and (strong) photometric
    jitter and erasing, all as batched tensor operations. ``paper``: the paper's proposed
    augmentation alone, rotations (+-20 degrees) and partial crops (a random 80-100% of the side,
    enlarged back to full size), without flips. ``video``: see ``augment_video``; ``equalize``
    applies to it alone (the other levels take images equalised already, when they are)."""
    if level in DEGRADING:
        return augment_video(images, generator, equalize, hard=level == "video-hard")
    x = images.float() / 255
    if level == "none":
        return x
    n = x.shape[0]
    rand = lambda *shape: torch.rand(*shape, generator=generator)  # noqa: E731
    flip = torch.where(rand(n) < 0.5, -1.0, 1.0) if level != "paper" else torch.ones(n)
    if level == "paper":
        crop = 0.8 + rand(n) * 0.2  # the crop's side, as a share of the image's
        scale, degrees = 1 / crop, 20.0
        angle = (rand(n) * 2 - 1) * math.radians(degrees)
        tx, ty = ((rand(n) * 2 - 1) * (1 - crop) for _ in range(2))  # the crop anywhere inside the image
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False).clamp(0, 1)
    scale_range, degrees, shift = (0.1, 10.0, 0.1) if level == "basic" else (0.2, 15.0, 0.15)
    scale = 1 + (rand(n) * 2 - 1) * scale_range
    angle = (rand(n) * 2 - 1) * math.radians(degrees)
    tx, ty = ((rand(n) * 2 - 1) * shift * 2 for _ in range(2))
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if level == "strong":
        brightness = 1 + (rand(n, 1, 1, 1) * 2 - 1) * 0.3
        contrast = 1 + (rand(n, 1, 1, 1) * 2 - 1) * 0.3
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = ((x - mean) * contrast + mean) * brightness
        x = erase(x, generator)
    return x.clamp(0, 1)


def augment_video(images: torch.Tensor, generator: torch.Generator, equalize: bool, hard: bool = False) -> torch.Tensor:
    """``strong``'s flips and affine jitter, in one resampling with a turn of the head (perspective)
    and a larger roll, then video's degradations (``degrade``); then, with ``equalize``, each face's
    histogram equalisation, on the degraded uint8 face as analysis equalises a video face; then
    erasing (an occluding hand or microphone) in a quarter of the faces. ``hard``: turned, dim, blurred and
    small faces more often, turned up to 60 degrees and darker (``HARD_CHANCES``)."""
    x = images.float() / 255
    n = x.shape[0]
    chosen, u = draw_video(n, generator, HARD_CHANCES if hard else CHANCES)
    rand = lambda *shape: torch.rand(*shape, generator=generator)  # noqa: E731
    flip = torch.where(rand(n) < 0.5, -1.0, 1.0)
    scale = 1 + (rand(n) * 2 - 1) * 0.2
    angle = (rand(n) * 2 - 1) * torch.deg2rad(torch.where(chosen["roll"], ROLL_DEGREES, 15.0))
    tx, ty = ((rand(n) * 2 - 1) * 0.3 for _ in range(2))
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    turns = HARD_TURN_DEGREES if hard else TURN_DEGREES
    yaw, pitch = ((u[name] * 2 - 1) * math.radians(most) * chosen["turn"] for name, most in zip(("yaw", "pitch"), turns))
    grid = turn(F.affine_grid(theta, list(x.shape), align_corners=False), yaw, pitch)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False).clamp(0, 1)
    faces = (degrade(x, chosen, u, generator, HARD_DARK_LEVEL if hard else DARK_LEVEL) * 255).round().to(torch.uint8)
    x = (equalize_faces(faces) if equalize else faces).float() / 255
    return erase(x, generator, p=0.25)


def erase(x: torch.Tensor, generator: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """Random erasing: blank a rectangle of 2-20% of the area in about half the images."""
    n, _, h, w = x.shape
    rand = torch.rand(n, 5, generator=generator)
    area = (0.02 + rand[:, 0] * 0.18) * h * w
    aspect = torch.exp((rand[:, 1] * 2 - 1) * math.log(3))
    eh = (area * aspect).sqrt().clamp(max=h)
    ew = (area / aspect).sqrt().clamp(max=w)
    top = rand[:, 2] * (h - eh)
    left = rand[:, 3] * (w - ew)
    rows = torch.arange(h).view(1, h, 1)
    cols = torch.arange(w).view(1, 1, w)
    box = (
        (rows >= top.view(n, 1, 1))
        & (rows < (top + eh).view(n, 1, 1))
        & (cols >= left.view(n, 1, 1))
        & (cols < (left + ew).view(n, 1, 1))
    )
    box &= (rand[:, 4] < p).view(n, 1, 1)
    return x.masked_fill(box.unsqueeze(1), 0.5)
