"""Face images for training and evaluation: decoded once into memory as uint8 tensors, the same way
for every dataset layout."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .checkpoint import CLASSES
from .data import Sample


def decode_image(source: Path | bytes, image_size: int, channels: int) -> np.ndarray | None:
    """One image as uint8 (channels, size, size); None when it cannot be read."""
    try:
        if isinstance(source, bytes):
            image = Image.frombytes("L", (48, 48), source)
        else:
            with Image.open(source) as opened:
                opened.load()
                image = opened.copy()
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return None
    if image.mode in ("RGBA", "LA", "P", "PA"):
        image = composite_on_white(image)
    image = image.convert("L" if channels == 1 else "RGB")
    if image.size != (image_size, image_size):
        image = image.resize((image_size, image_size), Image.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    return array[None] if channels == 1 else array.transpose(2, 0, 1)


def composite_on_white(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def decode_samples(samples: list[Sample], image_size: int, channels: int, workers: int = 2, progress: bool = True):
    """Decode once into memory: (uint8 images N,C,S,S, int64 labels, float32 vote shares N,7, number skipped).

    Samples without votes get a one-hot row for their label.
    """
    from tqdm import tqdm

    with ThreadPoolExecutor(max(1, workers)) as pool:
        arrays = list(tqdm(pool.map(lambda s: decode_image(s.source, image_size, channels), samples),
                           total=len(samples), desc="decoding images", unit="img", disable=None if progress else True, leave=False))
    kept = [(a, s) for a, s in zip(arrays, samples) if a is not None]
    skipped = len(samples) - len(kept)
    if not kept:
        return (torch.zeros((0, channels, image_size, image_size), dtype=torch.uint8), torch.zeros(0, dtype=torch.long),
                torch.zeros((0, len(CLASSES))), skipped)
    images = torch.from_numpy(np.stack([a for a, _ in kept]))
    labels = torch.tensor([s.label for _, s in kept], dtype=torch.long)
    votes = torch.tensor([s.votes or one_hot(s.label) for _, s in kept], dtype=torch.float32)
    return images, labels, votes, skipped


def one_hot(label: int) -> tuple[float, ...]:
    return tuple(float(i == label) for i in range(len(CLASSES)))
