"""What a checkpoint's metadata must hold before a model is built from it or run: its input size, classes, crop, calibration and normalisation, and weights that fit them."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from videmo.core.emotions import CLASSES
from videmo.core.errors import VidemoError, printable
from videmo.core.options import CROP_MARGINS, CROP_SHIFTS, MAX_IMAGE_SIZE, words
from videmo.model.awei import Awei


def stored_words(value: object) -> str:
    """A value read from a checkpoint's metadata as a message shows it: a text quoted ('32', which is not the number 32), None as 'not set'."""
    if isinstance(value, str):
        return f"'{printable(value)}'"
    return "not set" if value is None else printable(str(value))


def check_meta(path: Path, meta: dict[str, Any]) -> None:
    """A CheckpointError where the metadata's input size, class list or normalisation is not one a model is built from or runs with."""
    size, classes = meta["image_size"], meta["classes"]
    if not isinstance(size, int) or isinstance(size, bool) or not 32 <= size <= MAX_IMAGE_SIZE:
        raise CheckpointError(
            f"{path}: checkpoint metadata describes no valid model (image size {stored_words(size)}: "
            f"a whole number of pixels from 32 to {MAX_IMAGE_SIZE} is needed)"
        )
    if not isinstance(classes, (list, tuple)) or list(classes) != list(
        CLASSES
    ):  # the outputs are read in this order, whatever it names
        raise CheckpointError(
            f"{path}: checkpoint metadata describes no valid model (classes {printable(repr(classes))[:80]}: "
            f"videmo's seven in RAF-DB's order, {', '.join(CLASSES)}, are needed)"
        )
    crop = meta.get("crop")  # how analyze frames each face for this model (None: checkpoints from before it was stored)
    if crop is not None:
        ranges = {"margin": CROP_MARGINS, "shift": CROP_SHIFTS}
        fits = isinstance(crop, dict) and all(
            isinstance(crop.get(k), (int, float)) and not isinstance(crop.get(k), bool) and low <= crop[k] <= high
            for k, (low, high) in ranges.items()
        )
        fits = fits and isinstance(crop.get("align", False), bool)
        if not fits:  # NaN fails the comparisons too
            raise CheckpointError(
                f"{path}: checkpoint metadata describes no valid model (crop {printable(repr(crop))[:80]}: "
                f"a margin from {words(CROP_MARGINS[0])} to {words(CROP_MARGINS[1])} and a shift from "
                f"{words(CROP_SHIFTS[0])} to {words(CROP_SHIFTS[1])} are needed, and align, where given, true or false)"
            )
    calibration = meta.get("calibration")  # the temperature of the confidence column (None: 1)
    if calibration is not None:
        temperature = calibration.get("temperature") if isinstance(calibration, dict) else None
        if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) or not 0 < temperature < math.inf:
            raise CheckpointError(
                f"{path}: checkpoint metadata describes no valid model (calibration {printable(repr(calibration))[:80]}: "
                "a temperature above 0 is needed)"
            )
    channels = meta["channels"]
    for key in ("mean", "std") if channels in (1, 3) else ():  # (other counts: build_model says why) the normalisation of
        # every face: a wrong one fails each video, or labels faces from NaN
        values = meta[key]
        numbers = isinstance(values, (list, tuple)) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
        )
        if (
            not numbers
            or len(values) not in (1, channels)
            or not all(math.isfinite(v) and (key == "mean" or v > 0) for v in values)
        ):
            raise CheckpointError(
                f"{path}: checkpoint metadata describes no valid model ({key} {printable(repr(values))[:80]}: "
                f"{'one' if channels == 1 else f'1 or {channels}'} finite number{'s' if channels > 1 else ''}"
                f"{', above 0,' if key == 'std' else ''} for its {channels} channel{'s' if channels > 1 else ''} is needed)"
            )


def head_mismatch(model: Awei, meta: dict[str, Any], state: dict[str, Any]) -> str | None:
    """Which of the metadata's class count and input size the weights of the fully connected head contradict."""
    layers = [(name, module) for name, module in model.head.named_children() if isinstance(module, torch.nn.Linear)]
    first, last = (f"head.{layers[0][0]}.weight", layers[0][1]), (f"head.{layers[-1][0]}.weight", layers[-1][1])
    weights = state.get(last[0])
    if torch.is_tensor(weights) and weights.dim() == 2 and weights.shape[0] != last[1].out_features:
        return f"it names {len(meta['classes'])} classes, the weights have {weights.shape[0]} outputs"
    weights = state.get(first[0])
    if torch.is_tensor(weights) and weights.dim() == 2 and weights.shape[1] != first[1].in_features:
        return (
            f"its image size of {meta['image_size']} px gives {first[1].in_features} features, "
            f"the weights take {weights.shape[1]}: they were trained at another input size"
        )
    return None


class CheckpointError(VidemoError):
    pass
