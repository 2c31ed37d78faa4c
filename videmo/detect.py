"""Find faces with facenet-pytorch's MTCNN, a batch of frames at a time, on a scaled-down copy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .device import to_device

# MTCNN's smallest face at its first pyramid level; asking for smaller ones only upsamples.
MTCNN_MIN_FACE = 12


@dataclass
class Detection:
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels of the original frame
    score: float


def detection_scale(width: int, height: int, detect_width: int | None) -> float:
    """Factor from original to detection pixels; frames are only ever shrunk."""
    if not detect_width or detect_width >= width:
        return 1.0
    return detect_width / width


def to_original(boxes: np.ndarray, scale: float, width: int, height: int) -> np.ndarray:
    """Map (K, 4) boxes from detection pixels back to the original frame, clipped to it."""
    mapped = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) / scale
    mapped[:, [0, 2]] = mapped[:, [0, 2]].clip(0, width)
    mapped[:, [1, 3]] = mapped[:, [1, 3]].clip(0, height)
    return mapped


class FaceDetector:
    def __init__(self, device: torch.device, detect_width: int | None = 640, min_face: int = 40, threshold: float = 0.9):
        from facenet_pytorch import MTCNN

        self.device = device
        self.detect_width = detect_width
        self.min_face = min_face
        self.threshold = threshold
        self.mtcnn = MTCNN(keep_all=True, device=device, post_process=False).eval()
        # Its frames arrive channels-last; with channels-last weights its convs and max-pools
        # run about twice as fast on the CPU, and give the same boxes.
        self.mtcnn.to(memory_format=torch.channels_last)

    def detect(self, frames: np.ndarray) -> list[list[Detection]]:
        """Faces in each of ``frames`` (uint8 N,H,W,3), boxes in original pixels."""
        height, width = frames.shape[1:3]
        scale = detection_scale(width, height, self.detect_width)
        # Kept channels-last (NHWC in memory) throughout: MTCNN's many small crops are an order of
        # magnitude faster to resize from channels-last images than from planar ones.
        # Frame by frame when shrinking, so that a chunk of 4K frames never exists in float whole.
        images = to_device(frames, self.device).permute(0, 3, 1, 2)
        if scale != 1.0:
            size = (max(1, round(height * scale)), max(1, round(width * scale)))
            images = torch.cat([F.interpolate(image[None].float(), size=size, mode="area") for image in images])
            images = images.contiguous(memory_format=torch.channels_last)
        images = images.float().permute(0, 2, 3, 1)
        self.mtcnn.min_face_size = max(MTCNN_MIN_FACE, int(self.min_face * scale))
        boxes, probs = self.mtcnn.detect(images)
        found = []
        for frame_boxes, frame_probs in zip(boxes, probs):
            if frame_boxes is None:
                found.append([])
                continue
            original = to_original(frame_boxes, scale, width, height)
            keep = [
                Detection(tuple(float(v) for v in box), float(p))
                for box, p in zip(original, frame_probs)
                if p is not None and p >= self.threshold and min(box[2] - box[0], box[3] - box[1]) >= self.min_face
            ]
            found.append(keep)
        return found
