"""Face images for training and evaluation: decoded once into memory as uint8 tensors, the same way
for every dataset layout."""

from __future__ import annotations

import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from videmo.core.emotions import CLASSES
from videmo.core.errors import printable
from videmo.training.datasets import Sample

MIN_SIDE = 8  # px: a smaller image (a 1x1 placeholder, an icon) is no face, and upscaled it teaches the model nothing
SKIPS_NAMED = 10  # unreadable images named one by one; the rest are counted in one line


def load_image(source: Path | bytes, image_size: int, channels: int) -> tuple[np.ndarray | None, str | None]:
    """One image as uint8 (channels, size, size), or None and why it cannot be used (for the skip note)."""
    try:
        if isinstance(source, bytes):
            image = Image.frombytes("L", (48, 48), source)
        else:
            if source.stat().st_size == 0:
                return None, "an empty file (0 bytes)"
            with Image.open(source) as opened:
                opened.load()
                image = opened.copy()
    except UnidentifiedImageError:
        return None, "not an image Pillow can read"
    except Image.DecompressionBombError:
        return None, f"too large (over {Image.MAX_IMAGE_PIXELS} pixels)"
    except OSError as e:
        return None, f"cannot read ({e.strerror})" if e.strerror else "truncated or damaged image data"
    except ValueError as e:
        return None, f"damaged image data ({e})"
    if min(image.size) < MIN_SIDE:
        return None, f"{image.size[0]}x{image.size[1]} px, too small for a face (at least {MIN_SIDE} px a side)"
    try:
        image = to_eight_bit(image)
        if image.mode in ("RGBA", "LA", "P", "PA"):
            image = composite_on_white(image)
        image = image.convert("L" if channels == 1 else "RGB")
    except (OSError, ValueError) as e:  # a mode Pillow cannot convert (LAB, a damaged palette)
        return None, f"its pixel format ({image.mode}) cannot be converted ({e})"
    if image.size != (image_size, image_size):
        image = image.resize((image_size, image_size), Image.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    return (array[None] if channels == 1 else array.transpose(2, 0, 1)), None


def decode_image(source: Path | bytes, image_size: int, channels: int) -> np.ndarray | None:
    """One image as uint8 (channels, size, size); None when it cannot be used (see ``load_image``)."""
    return load_image(source, image_size, channels)[0]


def to_eight_bit(image: Image.Image) -> Image.Image:
    """16-bit and 32-bit grey images scaled to 8 bits: Pillow's own conversion clips them, so that a
    16-bit face (values up to 65535) would become a white square. Float images are taken as 0..1
    where they stay in it."""
    if not (image.mode.startswith("I") or image.mode == "F"):
        return image
    pixels = np.nan_to_num(np.asarray(image).astype(np.float64))
    if image.mode.startswith("I;16") or (image.mode == "I" and pixels.max() > 255):  # 16 bits (PNG, TIFF)
        pixels /= 257
    elif image.mode == "F" and pixels.max() <= 1:
        pixels *= 255
    return Image.fromarray(np.clip(pixels, 0, 255).round().astype(np.uint8), "L")


def composite_on_white(image: Image.Image) -> Image.Image:
    """A transparent image laid on white, as a viewer shows it (its hidden colours would otherwise show)."""
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def decode_samples(
    samples: list[Sample],
    image_size: int,
    channels: int,
    workers: int = 2,
    progress: bool = True,
    report: Callable[[str], None] | None = None,
):
    """Decode once into memory: (uint8 images N,C,S,S, int64 labels, float32 vote shares N,7, number skipped).

    Samples without votes get a one-hot row for their label. Each image skipped is named with why, in
    one line to ``report`` (by default to stderr beside the progress bar, and not at all without it),
    the first ``SKIPS_NAMED`` of them one by one and the rest in one line.
    """
    from tqdm import tqdm

    if report is None:
        report = (lambda line: tqdm.write(line, file=sys.stderr)) if progress else (lambda line: None)
    with ThreadPoolExecutor(max(1, workers)) as pool:
        loaded = list(
            tqdm(
                pool.map(lambda s: load_image(s.source, image_size, channels), samples),
                total=len(samples),
                desc="decoding images",
                unit="img",
                disable=None if progress else True,
                leave=False,
            )
        )
    kept = [(a, s) for (a, _), s in zip(loaded, samples) if a is not None]
    causes = [(s.source, cause) for (a, cause), s in zip(loaded, samples) if a is None]
    for source, cause in causes[:SKIPS_NAMED]:
        report(f"note: skipped {printable(str(source))}: {cause}")
    if len(causes) > SKIPS_NAMED:
        report(f"note: skipped {len(causes) - SKIPS_NAMED} more unreadable images")
    skipped = len(causes)
    if not kept:
        return (
            torch.zeros((0, channels, image_size, image_size), dtype=torch.uint8),
            torch.zeros(0, dtype=torch.long),
            torch.zeros((0, len(CLASSES))),
            skipped,
        )
    images = torch.from_numpy(np.stack([a for a, _ in kept]))
    labels = torch.tensor([s.label for _, s in kept], dtype=torch.long)
    votes = torch.tensor([s.votes or one_hot(s.label) for _, s in kept], dtype=torch.float32)
    return images, labels, votes, skipped


def one_hot(label: int) -> tuple[float, ...]:
    """A class as a vote share of 1 for it and 0 for the others."""
    return tuple(float(i == label) for i in range(len(CLASSES)))
