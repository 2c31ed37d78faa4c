"""Crop faces and label their emotion, in batches across frames and faces."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

from videmo.model.checkpoint import Checkpoint
from videmo.model.device import autocast, memory_format_for, to_device
from videmo.model.inference import equalize, logits_of
from videmo.model.runtime import inference_model

# ITU-R BT.601 luma, the weights PIL uses for "L": the grey training images were made this way.
LUMA = (0.299, 0.587, 0.114)


@dataclass
class FaceLabels:
    """What the classifier says of K faces, and how each face looked to it."""

    # (K, 7) float64: softmax(logits / T) at the checkpoint's temperature T (calibration.py): an estimate of how
    # annotators' votes would split, whose top value says how often the top emotion is right
    probabilities: np.ndarray
    confidence: np.ndarray  # (K,) that top value
    brightness: np.ndarray  # (K,) mean grey of the crop the model saw, before equalisation, 0..1
    sharpness: np.ndarray  # (K,) mean absolute difference of neighbouring pixels of that crop, 0..1

    @classmethod
    def none(cls, classes: int) -> FaceLabels:
        return cls(np.zeros((0, classes)), np.zeros(0), np.zeros(0), np.zeros(0))


def square_crop_boxes(boxes: np.ndarray, margin: float, shift: float = 0.0) -> np.ndarray:
    """Square boxes around each face box's centre, side = longer side x (1 + margin), moved down
    by ``shift`` x the longer side (up where negative)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2 + shift * side
    half = side * (1 + margin) / 2
    return np.stack([cx - half, cy - half, cx + half, cy + half], axis=1)


def eye_line_angles(points: np.ndarray | None, count: int) -> np.ndarray:
    """Each face's eye-line angle in radians, clockwise as the image shows it (O-Net's points: eye on the
    image's left first, then the one on its right), 0 where a face has no points."""
    if points is None:
        return np.zeros(count)
    points = np.asarray(points, dtype=np.float64).reshape(-1, 5, 2)
    eyes = points[:, 1] - points[:, 0]
    return np.nan_to_num(np.arctan2(eyes[:, 1], eyes[:, 0]))


def upright(crops: torch.Tensor, angles: np.ndarray, size: int) -> torch.Tensor:
    """The middle 1/sqrt(2) of (K, C, 2S, 2S) crops, turned by ``angles`` so that each eye line lies level,
    at (K, C, S, S). The outer crops hold the inner square at any angle, at a finer pixel than the
    output's, so the bilinear sampling here does not alias."""
    theta = torch.as_tensor(angles, dtype=torch.float32, device=crops.device)
    cos, sin = torch.cos(theta) / np.sqrt(2), torch.sin(theta) / np.sqrt(2)
    zero = torch.zeros_like(cos)
    affine = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    grid = F.affine_grid(affine, [len(crops), crops.shape[1], size, size], align_corners=False)
    return F.grid_sample(crops, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def framing(boxes: np.ndarray, image_side: float) -> tuple[float, float]:
    """The (margin, shift) of ``square_crop_boxes`` that turns face boxes found in square face
    images of side ``image_side`` back into those images: medians over the faces, so the crop
    of a video face frames it as the training faces were framed."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    return float(np.median(image_side / side - 1)), float(np.median((image_side / 2 - cy) / side))


class EmotionClassifier:
    """Runs a checkpoint's model on face crops: by ONNX Runtime where it runs fp32 on the CPU, else by
    torch in bf16 on CPUs with native bf16 and fp16 on CUDA (``runtime`` and ``precision`` auto, see
    ``runtime.resolve_runtime``).
    ``threads``: ONNX Runtime's threads per call (each lane calls with its own)."""

    def __init__(
        self,
        checkpoint: Checkpoint,
        device: torch.device,
        precision: str = "auto",
        batch_size: int = 64,
        margin: float | None = None,
        mirror: bool = True,
        runtime: str = "auto",
        threads: int = 1,
        align: bool | None = None,
    ):
        self.meta = checkpoint.meta
        self.mirror = mirror
        self.device = device
        self.model, self.precision, self.runtime, self.note = inference_model(
            checkpoint.model, device, precision, runtime, threads
        )
        self.batch_size = batch_size
        crop = self.meta.get("crop") or {"margin": 0.2, "shift": 0.0}  # checkpoints before the crop was stored used 0.2
        self.margin = float(crop["margin"]) if margin is None else margin
        self.shift = float(crop["shift"])
        # turn each face upright by its eye line before the crop (the checkpoint says whether it was trained so)
        self.align = bool(crop.get("align", False)) if align is None else align
        self.equalize = bool(self.meta.get("equalize", False))
        self.size = int(self.meta["image_size"])
        self.channels = int(self.meta["channels"])
        self.mean = torch.tensor(self.meta["mean"], device=device, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(self.meta["std"], device=device, dtype=torch.float32).view(1, -1, 1, 1)
        self.luma = torch.tensor(LUMA, device=device).view(1, 3, 1, 1)
        self.temperature = float((self.meta.get("calibration") or {}).get("temperature", 1.0))

    def crops(
        self, frames: torch.Tensor, frame_of_face: np.ndarray, boxes: np.ndarray, points: np.ndarray | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised model inputs (K, C, S, S) for faces ``boxes`` in ``frames`` (uint8 N,H,W,3), and
        each crop's grey (K, 1, S, S, 0..255) before equalisation, which says how the face was seen.
        With ``align``, each face is turned about its crop's centre until its eye line (from ``points``,
        (K, 5, 2)) is level.

        One roi_align call per frame crops and resizes all its faces, averaging over each output
        pixel's footprint (so large faces are not aliased); outside the frame is black. Only the
        part of the frame around its faces goes to float: on large frames converting the whole
        frame would take most of the classifier's time.
        """
        squares = square_crop_boxes(boxes, self.margin, self.shift)
        side = self.size
        if self.align:  # a square sqrt(2) larger holds the turned one; cut at twice the pixels, then turned
            squares = square_crop_boxes(squares, np.sqrt(2) - 1)
            side = 2 * self.size
        height, width = frames.shape[1:3]
        crops = torch.empty((len(boxes), 3, side, side), device=frames.device)
        for frame in np.unique(frame_of_face):
            mine = np.flatnonzero(frame_of_face == frame)
            (left, top), (right, bottom) = squares[mine, :2].min(axis=0), squares[mine, 2:].max(axis=0)
            # Two spare pixels around the squares: roi_align's bilinear samples then never reach
            # the region's edge unless it is the frame's, and the crops equal the whole frame's.
            top, left = (int(np.clip(np.floor(v) - 2, 0, size - 1)) for v, size in ((top, height), (left, width)))
            bottom, right = (
                int(np.clip(np.ceil(v) + 2, start + 1, size)) for v, start, size in ((bottom, top, height), (right, left, width))
            )
            region = frames[int(frame), top:bottom, left:right].permute(2, 0, 1)[None].float()
            rois = torch.as_tensor(squares[mine] - [left, top, left, top], dtype=torch.float32, device=frames.device)
            rois = F.pad(rois, (1, 0))  # column 0: the index of the image in its batch of one
            crops[torch.as_tensor(mine, device=frames.device)] = roi_align(
                region, rois, output_size=side, spatial_scale=1.0, sampling_ratio=-1, aligned=True
            )
        if self.align:
            crops = upright(crops, eye_line_angles(points, len(boxes)), self.size)
        grey = (crops * self.luma).sum(dim=1, keepdim=True).round().clamp(0, 255)
        crops = grey if self.channels == 1 else crops.round().clamp(0, 255)  # the model was trained on uint8 images
        if self.equalize:
            crops = equalize(crops.to(torch.uint8)).float()
        return (crops / 255 - self.mean) / self.std, grey

    @torch.inference_mode()
    def classify(
        self, frames: np.ndarray, frame_of_face: np.ndarray, boxes: np.ndarray, points: np.ndarray | None = None
    ) -> FaceLabels:
        """The emotion probabilities of the faces ``boxes`` in ``frames`` (with their five ``points``, (K, 5, 2),
        where the crops are aligned), with each one's confidence and how it was seen."""
        if len(boxes) == 0:
            return FaceLabels.none(len(self.meta["classes"]))
        frames_tensor = to_device(frames, self.device)
        memory_format = memory_format_for(self.device, self.precision)
        logits, seen = [], []
        for start in range(0, len(boxes), self.batch_size):
            part = slice(start, start + self.batch_size)
            batch, grey = self.crops(frames_tensor, frame_of_face[part], boxes[part], None if points is None else points[part])
            with autocast(self.device, self.precision):
                logits.append(logits_of(self.model, batch, memory_format, self.mirror).float())
            seen.append(seen_measures(grey))
        logits = torch.cat(logits)
        brightness, sharpness = (torch.cat(m).double().cpu().numpy() for m in zip(*seen))
        probabilities = torch.softmax(logits / self.temperature, dim=1).double().cpu().numpy()
        return FaceLabels(probabilities, probabilities.max(axis=1), brightness, sharpness)


def seen_measures(grey: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Brightness (mean grey) and sharpness (mean absolute difference of horizontal and vertical
    neighbours) of (K, 1, S, S) crops in 0..255, both on a 0..1 scale. At the model's input size a small
    face, scaled up to it, reads as blurred as a blurred one: both lack the detail the model needs."""
    grey = grey.float() / 255
    across = (grey[..., :, 1:] - grey[..., :, :-1]).abs().mean(dim=(1, 2, 3))
    down = (grey[..., 1:, :] - grey[..., :-1, :]).abs().mean(dim=(1, 2, 3))
    return grey.mean(dim=(1, 2, 3)), (across + down) / 2
