"""Find faces with facenet-pytorch's MTCNN networks, a batch of frames at a time, on a scaled-down copy.

The three networks and their weights are facenet-pytorch's; the driver that runs them is ours.
With ``every`` K > 1 it finds faces once, then looks only where they are: the whole pyramid (P-Net
over every scale of the whole frame, most of MTCNN's cost) runs on keyframes (a chunk's first frame,
every K-th after it, and after a cut); in between, the same three stages run only near the faces of
the frame before (each box widened by ``NEAR`` of its side, on the levels whose cells suit its size).
P-Net's cells there are the whole level's (to fp32 rounding), so a face that stays inside its window
gets the box and score the whole search gives it, except where candidates from outside the window
would have suppressed its own; a face that appears between keyframes is found at the next one.
It follows facenet-pytorch's ``detect_face`` step for step (same pyramid, thresholds, regressions
and suppressions, and on the CPU the same boxes) with these differences: the refinement networks
see batches of 32 or a smaller power of two (small batches stay in cache, faster per box, and
a bounded set of shapes for oneDNN), frames wider than ``detect_width`` are shrunk by PIL's box
filter on the CPU (see ``areas.shrunk``), O-Net's five points come back with each box, on the CPU the pyramid's
levels and the boxes' crops come from each frame's summed-area table (the same floats as area
resizing, in less time), and on a GPU the candidate boxes are cropped by one
``roi_align`` call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import batched_nms

from videmo.faces.areas import shrunk, summed_area_tables, table_level, table_parts
from videmo.faces.mtcnn import (
    MTCNN_MIN_FACE,
    STAGE_THRESHOLDS,
    cell_boxes,
    crop_boxes,
    level_by_interpolation,
    level_parts,
    normalise,
    pnet_forward,
    run_in_buckets,
    surroundings,
)
from videmo.model.device import to_device
from videmo.video.cuts import cuts_in

PYRAMID_FACTOR = 0.709
# P-Net sees a pyramid level a few frames at a time, at most about this many pixels (or one frame): its
# maps then stay in cache, and P-Net runs faster a pixel than in calls of up to 2^20 pixels (measured by
# benchmarks/detect_profile.py --pnet-pixels, see benchmarks/results/detect_profile_bf16.txt).
PNET_PIXELS = 1 << 18
# Frames at detection size are searched at most this many pixels at a time (a chunk of 640 x 360 frames
# at once, 4K ones two at a time): their summed-area tables (CPU) or float copies (GPU) take 12 bytes a pixel.
DETECT_PIXELS = 1 << 24
# Their smallest batches: below these R-Net slows per box and O-Net does not, so O-Net's rest goes in
# 8s and 4s rather than padded to 16 (the batch limits measured in benchmarks/results/tried_bf16.txt).
SMALLEST_BATCH = {24: 16, 48: 4}
FOLLOW_GAP_S = 0.15  # faces are followed from one frame to the next only if they lie at most this far apart


@dataclass
class Detection:
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels of the original frame
    score: float
    # O-Net's five points in the same pixels, (x, y) each: the eye and the mouth corner on the image's
    # left, then those on its right, between them the nose tip
    landmarks: tuple[tuple[float, float], ...] | None = None


def detection_scale(width: int, detect_width: int | None) -> float:
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
    def __init__(
        self, device: torch.device, detect_width: int | None = 640, min_face: int = 40, threshold: float = 0.9, every: int = 1
    ):
        from facenet_pytorch.models.mtcnn import ONet, PNet, RNet

        self.device = device
        self.every = every  # the whole pyramid on every K-th frame of a chunk, only near the faces found in between
        # On the CPU every area resize (pyramid levels, crops) reads the frame's summed-area table; on a
        # GPU the levels are area-interpolated and the crops taken by one roi_align call.
        self.use_tables = device.type == "cpu"
        self.detect_width = detect_width
        self.min_face = min_face
        self.threshold = threshold
        # Frames arrive channels-last; with channels-last weights the convs and max-pools run faster
        # on the CPU and give the same boxes.
        self.pnet, self.rnet, self.onet = (
            net().eval().to(device, memory_format=torch.channels_last) for net in (PNet, RNet, ONet)
        )

    @torch.inference_mode()
    def detect(
        self, frames: np.ndarray, cuts: np.ndarray | None = None, times: np.ndarray | None = None
    ) -> list[list[Detection]]:
        """Faces in each of ``frames`` (uint8 N,H,W,3), boxes in original pixels. ``cuts`` (N bools) says which
        frames follow a cut, where the decoder knows (FrameBatch.cuts), else they are looked for; ``times``
        (N seconds) where the frames lie, else they are taken as consecutive."""
        height, width = frames.shape[1:3]
        scale = detection_scale(width, self.detect_width)
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        group = max(1, DETECT_PIXELS // (size[0] * size[1]))
        if len(frames) > group:  # large frames (no --detect-width) a few at a time
            return [
                faces
                for start in range(0, len(frames), group)
                for faces in self.detect(*(None if a is None else a[start : start + group] for a in (frames, cuts, times)))
            ]
        if scale != 1.0 and self.use_tables:
            frames = np.stack([shrunk(frame, size) for frame in frames])
        images = to_device(frames, self.device).permute(0, 3, 1, 2)
        if not self.use_tables:  # on the CPU every pixel read goes through the tables: `images` gives only the frames' shape
            if scale != 1.0:
                # Frame by frame, so that a chunk of 4K frames never exists in float whole; from planar
                # copies, which area resizing reads faster than channels-last ones.
                images = torch.cat([F.interpolate(image.contiguous()[None].float(), size=size, mode="area") for image in images])
            images = images.float().contiguous(memory_format=torch.channels_last)
        tables = summed_area_tables(frames) if self.use_tables else None
        min_face = max(MTCNN_MIN_FACE, int(self.min_face * scale))
        if self.every <= 1:
            per_frame = self.find_boxes(images, tables, min_face)
        else:
            searched = cuts if cuts is not None else cuts_in(frames)
            if times is not None:  # frames far apart (--fps, --every, lost frames) are searched whole
                searched = searched | (np.diff(np.asarray(times, dtype=float), prepend=-np.inf) > FOLLOW_GAP_S)
            per_frame = self.find_and_follow(images, tables, searched, min_face)
        found = []
        for boxes in per_frame:
            original = to_original(boxes[:, :4], scale, width, height)
            points = np.stack([boxes[:, 5:10], boxes[:, 10:15]], axis=2) / scale  # (K, 5, 2): x, y
            found.append(
                [
                    Detection(tuple(float(v) for v in box), float(score), tuple((float(x), float(y)) for x, y in face_points))
                    for box, score, face_points in zip(original, boxes[:, 4], points)
                    if score >= self.threshold and min(box[2] - box[0], box[3] - box[1]) >= self.min_face
                ]
            )
        return found

    def find_and_follow(
        self, images: torch.Tensor, tables: torch.Tensor | None, searched: np.ndarray, min_face: int
    ) -> list[np.ndarray]:
        """Per frame, find_boxes' boxes: the whole pyramid on keyframes (every K-th frame of the chunk and
        those ``searched`` says: after a cut, after a gap), and in between the same three stages only near
        the faces of the frame before."""
        keyframes = [i for i in range(len(images)) if i % self.every == 0 or searched[i]]
        found = dict(zip(keyframes, self.find_boxes(images[keyframes], None if tables is None else tables[keyframes], min_face)))
        for i in range(len(images)):
            if i not in found:
                # Every face O-Net accepted is followed, those below the reported score or size too: a face
                # whose score hovers about the threshold is then still reported wherever it passes it.
                near = torch.as_tensor(found[i - 1][:, :4], dtype=torch.float32)
                found[i] = self.find_boxes(
                    images[i : i + 1],
                    None if tables is None else tables[i : i + 1],
                    min_face,
                    [surroundings(near, images.shape[2:])],
                )[0]
        return [found[i] for i in range(len(images))]

    def find_boxes(
        self, images: torch.Tensor, tables: torch.Tensor | None, min_face: int, windows: list[torch.Tensor] | None = None
    ) -> list[np.ndarray]:
        """MTCNN's three stages over (N,3,H,W) images in 0..255 (float, or where ``tables`` gives every pixel
        read, the frames as they came): per image, (K,5) boxes and scores.
        With ``windows`` (per image, (K,5) regions from ``surroundings``) P-Net looks only inside them."""
        boxes, image_of = self.propose(images, tables, min_face, windows)
        boxes, image_of = self.refine(images, tables, boxes, image_of, self.rnet, 24, STAGE_THRESHOLDS[1])
        boxes, image_of = self.refine(images, tables, boxes, image_of, self.onet, 48, STAGE_THRESHOLDS[2], final=True)
        boxes, image_of = boxes.cpu().numpy(), image_of.cpu().numpy()
        return [boxes[image_of == i] for i in range(len(images))]

    def propose(
        self, images: torch.Tensor, tables: torch.Tensor | None, min_face: int, windows: list[torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Stage 1: P-Net over an image pyramid whose first level maps ``min_face`` to 12 px, over whole
        levels or only over the parts of them that ``windows`` cover.

        The parts are chosen (``level_parts``) so that P-Net's cells in them are the whole level's cells."""
        from facenet_pytorch.models.utils.detect_face import rerec

        height, width = images.shape[2:]
        scale, side = MTCNN_MIN_FACE / min_face, min(height, width) * MTCNN_MIN_FACE / min_face
        candidates, image_of = [], []
        while side >= MTCNN_MIN_FACE:
            size = (int(height * scale + 1), int(width * scale + 1))
            found = []
            if windows is None:
                group = max(1, PNET_PIXELS // (size[0] * size[1]))
                for start in range(0, len(images), group):
                    frames = torch.arange(start, min(start + group, len(images)))
                    pixels = (
                        table_level(tables[start : start + group], (height, width), size)
                        if tables is not None
                        else level_by_interpolation(images[start : start + group], size)
                    )
                    found.append(self.cells(pixels, scale, frames, torch.zeros((len(frames), 2), dtype=torch.long)))
            else:
                parts = level_parts(windows, (height, width), size, scale)
                if len(parts):
                    if tables is not None:
                        pixels = table_parts(tables, parts, (height, width), size)
                    else:
                        whole = level_by_interpolation(images, size)
                        pixels = torch.stack(
                            [whole[i, :, top:bottom, left:right] for i, top, bottom, left, right in parts.tolist()]
                        )
                    found.append(self.cells(pixels, scale, parts[:, 0], parts[:, [1, 3]] // 2))
            if found:
                level_boxes, level_images = (torch.cat(parts) for parts in zip(*found))
                keep = batched_nms(level_boxes[:, :4], level_boxes[:, 4], level_images, 0.5)
                candidates.append(level_boxes[keep]), image_of.append(level_images[keep])
            scale, side = scale * PYRAMID_FACTOR, side * PYRAMID_FACTOR
        if not candidates:  # frames smaller than a face
            return torch.zeros((0, 5), device=images.device), torch.zeros(0, dtype=torch.long, device=images.device)
        boxes, image_of = torch.cat(candidates), torch.cat(image_of)
        keep = batched_nms(boxes[:, :4], boxes[:, 4], image_of, 0.7)
        boxes, image_of = boxes[keep], image_of[keep]
        size = torch.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]] * 2, dim=1)
        regressed = boxes[:, :4] + boxes[:, 5:9] * size
        return rerec(torch.cat([regressed, boxes[:, 4:5]], dim=1)), image_of

    def cells(self, pixels: torch.Tensor, scale: float, image_of: torch.Tensor, origins: torch.Tensor):
        """P-Net's candidates in (N,3,h,w) parts of a pyramid level of ``scale``, each from the image
        ``image_of`` and starting at the level's cell ``origins`` (N,2: row, column): (M,9) boxes, scores
        and offsets, and each one's image."""
        offsets, probs = pnet_forward(self.pnet, normalise(pixels).contiguous(memory_format=torch.channels_last))
        boxes, which = cell_boxes(offsets, probs[:, 1], scale, origins.to(offsets.device))
        return boxes, image_of.to(offsets.device)[which]

    def refine(self, images, tables, boxes, image_of, net, crop_size: int, threshold: float, final: bool = False):
        """Stages 2 and 3: score each box's crop, keep the likely faces, regress and suppress."""
        from facenet_pytorch.models.utils.detect_face import batched_nms_numpy, bbreg, rerec

        crops, boxes, image_of = crop_boxes(images, tables, boxes, image_of, crop_size)
        if len(boxes) == 0:
            return boxes, image_of
        outputs = run_in_buckets(net, normalise(crops), SMALLEST_BATCH[crop_size])
        offsets, score = outputs[0], outputs[-1][:, 1]  # R-Net: offsets, probs; O-Net: offsets, landmarks, probs
        keep = score > threshold
        boxes = torch.cat([boxes[keep, :4], score[keep, None]], dim=1)
        image_of, offsets = image_of[keep], offsets[keep]
        if final:  # O-Net's five points are fractions of the box it was given, as facenet-pytorch reads them
            points = outputs[1][keep]
            width, height = (boxes[:, 2] - boxes[:, 0] + 1)[:, None], (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
            points = torch.cat([width * points[:, :5] + boxes[:, :1] - 1, height * points[:, 5:] + boxes[:, 1:2] - 1], dim=1)
            boxes = bbreg(boxes, offsets)
            keep = batched_nms_numpy(boxes[:, :4], boxes[:, 4], image_of, 0.7, "Min")
            return torch.cat([boxes[keep], points[keep]], dim=1), image_of[keep]
        keep = batched_nms(boxes[:, :4], boxes[:, 4], image_of, 0.7)
        return rerec(bbreg(boxes[keep], offsets[keep])), image_of[keep]
