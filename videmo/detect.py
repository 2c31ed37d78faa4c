"""Find faces with facenet-pytorch's MTCNN networks, a batch of frames at a time, on a scaled-down copy.

The three networks and their weights are facenet-pytorch's; the driver that runs them is ours.
With ``every`` K > 1 it finds faces once, then follows them: the whole pyramid (P-Net over every
scale, most of MTCNN's cost) runs on keyframes only (a chunk's first frame, every K-th after it, a
cut, and any frame where a followed face is lost); in between, each face's box in the previous
frame goes straight to R-Net and O-Net, which move it onto the face and say whether it is still
one. A face that appears between keyframes is found at the next one.
It follows facenet-pytorch's ``detect_face`` step for step (same pyramid, thresholds, regressions
and suppressions, and on the CPU the same boxes) with these differences: the refinement networks
see batches of 32 or a smaller power of two (small batches stay in cache, twice as fast per box, and
a bounded set of shapes for oneDNN), frames wider than ``detect_width`` are shrunk by PIL's box
filter on the CPU (see ``shrunk``), the pyramid is resized from planar images, O-Net's landmarks
are left unused, on a GPU the candidate boxes are cropped by one ``roi_align`` call, and on the CPU
the boxes of a frame they cover many times over come from its summed-area table (the same floats).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import batched_nms, roi_align

from .device import to_device
from .track import cuts_in

# MTCNN's smallest face at its first pyramid level; asking for smaller ones only upsamples.
MTCNN_MIN_FACE = 12
STAGE_THRESHOLDS = (0.6, 0.7, 0.7)  # facenet-pytorch's defaults for P-, R- and O-Net
PYRAMID_FACTOR = 0.709
# P-Net sees a pyramid level a few frames at a time, about this many pixels: its memory-bound
# PReLUs and max-pools then work in cache (1.5x faster at 640x360 than 16 frames at once).
PNET_PIXELS = 1 << 20
REFINE_BATCH = 32  # R-/O-Net batch size (the rest: the next power of two >= 16); small batches stay in cache
# An image whose boxes cover more than this many times its own area is cropped from its summed-area
# table: area resizing reads every pixel of a box (8 ms for one of the boxes of a whole 640 x 360
# frame that the pyramid's coarse levels propose), the table four per output pixel, for about the
# cost of area-resizing two frames' worth of pixels to build it.
TABLE_COVER = 2.0


@dataclass
class Detection:
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels of the original frame
    score: float


def detection_scale(width: int, detect_width: int | None) -> float:
    """Factor from original to detection pixels; frames are only ever shrunk."""
    if not detect_width or detect_width >= width:
        return 1.0
    return detect_width / width


def shrunk(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``frame`` (uint8 H, W, 3) area-resampled to ``size`` (height, width), as uint8.

    On the CPU, PIL's box filter beats torch's area resize of a float copy 3x at 1080p (19 ms a frame
    against 6.7: that resize was a sixth of detecting a 1080p frame), and a whole factor, such as
    1080p to 640 x 360, it reduces in 2.6 ms. Both average the pixels each output pixel covers; at a
    whole factor they agree to rounding (within 0.7 of 255), between them PIL weighs the pixels that a
    bin covers in part by the part it covers, where torch's bins take such pixels whole."""
    from PIL import Image

    height, width = frame.shape[:2]
    image = Image.fromarray(np.ascontiguousarray(frame))
    if height % size[0] == 0 and width % size[1] == 0 and height // size[0] == width // size[1]:
        return np.asarray(image.reduce(width // size[1]))
    return np.asarray(image.resize((size[1], size[0]), Image.BOX))


def to_original(boxes: np.ndarray, scale: float, width: int, height: int) -> np.ndarray:
    """Map (K, 4) boxes from detection pixels back to the original frame, clipped to it."""
    mapped = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) / scale
    mapped[:, [0, 2]] = mapped[:, [0, 2]].clip(0, width)
    mapped[:, [1, 3]] = mapped[:, [1, 3]].clip(0, height)
    return mapped


class FaceDetector:
    def __init__(self, device: torch.device, detect_width: int | None = 640, min_face: int = 40, threshold: float = 0.9,
                 every: int = 1):
        from facenet_pytorch.models.mtcnn import ONet, PNet, RNet

        self.device = device
        self.every = every  # the whole pyramid on every K-th frame of a chunk, faces followed in between
        self.crop_in_one_call = device.type == "cuda"
        self.detect_width = detect_width
        self.min_face = min_face
        self.threshold = threshold
        # Frames arrive channels-last; with channels-last weights the convs and max-pools run about
        # twice as fast on the CPU and give the same boxes.
        self.pnet, self.rnet, self.onet = (
            net().eval().to(device, memory_format=torch.channels_last) for net in (PNet, RNet, ONet)
        )

    @torch.inference_mode()
    def detect(self, frames: np.ndarray, cuts: np.ndarray | None = None) -> list[list[Detection]]:
        """Faces in each of ``frames`` (uint8 N,H,W,3), boxes in original pixels. ``cuts`` (N bools) says which
        frames follow a cut, where the decoder knows (FrameBatch.cuts); else the frames are taken as consecutive."""
        height, width = frames.shape[1:3]
        scale = detection_scale(width, self.detect_width)
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        if scale != 1.0 and self.device.type == "cpu":
            frames = np.stack([shrunk(frame, size) for frame in frames])
        images = to_device(frames, self.device).permute(0, 3, 1, 2)
        if scale != 1.0 and self.device.type != "cpu":
            # Frame by frame, so that a chunk of 4K frames never exists in float whole; from planar
            # copies, which area resizing reads 1.3x faster than channels-last ones.
            images = torch.cat([F.interpolate(image.contiguous()[None].float(), size=size, mode="area") for image in images])
        images = images.float().contiguous(memory_format=torch.channels_last)
        min_face = max(MTCNN_MIN_FACE, int(self.min_face * scale))
        per_frame = (self.find_boxes(images, min_face) if self.every <= 1
                     else self.find_and_follow(images, cuts if cuts is not None else cuts_in(frames), min_face))
        found = []
        for boxes in per_frame:
            original = to_original(boxes[:, :4], scale, width, height)
            found.append([
                Detection(tuple(float(v) for v in box), float(score))
                for box, score in zip(original, boxes[:, 4])
                if score >= self.threshold and min(box[2] - box[0], box[3] - box[1]) >= self.min_face
            ])
        return found

    def find_and_follow(self, images: torch.Tensor, cuts: np.ndarray, min_face: int) -> list[np.ndarray]:
        """Per frame, find_rows' rows: the whole pyramid on keyframes and after a cut, the faces followed in between."""
        found, followed = [], np.zeros((0, 5))
        for i in range(len(images)):
            boxes = None
            if i % self.every and len(followed) and not cuts[i]:
                boxes = self.follow(images[i:i + 1], followed)
                if len(boxes) < len(followed):
                    boxes = None  # a face was lost (or two merged): look at the whole frame again
            if boxes is None:
                boxes = self.find_rows(images[i:i + 1], min_face)[0]
            found.append(boxes)
            # Every face O-Net accepts is followed, those below the reported score or size too: a face
            # whose score hovers about the threshold is then still reported wherever it passes it.
            followed = boxes
        return found

    def follow(self, image: torch.Tensor, previous: np.ndarray) -> np.ndarray:
        """``step`` twice: the second from where the first moved each crop, so that a face that moved
        or grew since the previous frame is refined from a crop placed as the pyramid would place it."""
        return self.step(image, self.step(image, previous))

    def step(self, image: torch.Tensor, previous: np.ndarray) -> np.ndarray:
        """Where the faces ``previous`` (K,9 rows of find_rows, detection pixels) are in ``image`` (1,3,H,W).

        O-Net sees each face's crop of the previous frame (the square it refined there) and moves the
        box onto the face where it is now; the crop for the next frame moves and grows with the face,
        so that O-Net keeps seeing the face placed in its crop as the pyramid's stages placed it."""
        from facenet_pytorch.models.utils.detect_face import batched_nms_numpy, bbreg

        rows = torch.as_tensor(previous, dtype=image.dtype, device=image.device)
        squares = torch.cat([rows[:, 5:9], rows[:, :4]], dim=1)  # crop_boxes reads its first four columns
        crops, squares, image_of = crop_boxes(image, squares, torch.zeros(len(rows), dtype=torch.long, device=image.device), 48)
        if len(squares) == 0:
            return np.zeros((0, 9))
        offsets, _, probabilities = run_in_buckets(self.onet, normalise(crops))
        keep = probabilities[:, 1] > STAGE_THRESHOLDS[2]
        squares, offsets, image_of = squares[keep], offsets[keep], image_of[keep]
        boxes = bbreg(torch.cat([squares[:, :4].clone(), probabilities[keep, 1:2]], dim=1), offsets)
        keep = batched_nms_numpy(boxes[:, :4], boxes[:, 4], image_of, 0.7, "Min")
        boxes, squares = boxes[keep], squares[keep]
        growth = (side(boxes) / side(squares[:, 4:8]).clamp(min=1e-6))[:, None]
        centre = centres(boxes) + (centres(squares[:, :4]) - centres(squares[:, 4:8])) * growth
        half = (squares[:, 2:3] - squares[:, 0:1]) * growth / 2
        return torch.cat([boxes, centre - half, centre + half], dim=1).cpu().numpy()

    def find_boxes(self, images: torch.Tensor, min_face: int) -> list[np.ndarray]:
        """MTCNN's three stages over float (N,3,H,W) images in 0..255: per image, (K,5) boxes and scores."""
        return [rows[:, :5] for rows in self.find_rows(images, min_face)]

    def find_rows(self, images: torch.Tensor, min_face: int) -> list[np.ndarray]:
        """find_boxes' boxes and scores, and the squares O-Net refined them from (K,9): what ``follow`` moves on."""
        boxes, image_of = self.propose(images, min_face)
        boxes, image_of = self.refine(images, boxes, image_of, self.rnet, 24, STAGE_THRESHOLDS[1])
        boxes, image_of = self.refine(images, boxes, image_of, self.onet, 48, STAGE_THRESHOLDS[2], final=True)
        boxes, image_of = boxes.cpu().numpy(), image_of.cpu().numpy()
        return [boxes[image_of == i] for i in range(len(images))]

    def propose(self, images: torch.Tensor, min_face: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Stage 1: P-Net over an image pyramid whose first level maps ``min_face`` to 12 px."""
        from facenet_pytorch.models.utils.detect_face import generateBoundingBox, rerec

        height, width = images.shape[2:]
        scale, side = MTCNN_MIN_FACE / min_face, min(height, width) * MTCNN_MIN_FACE / min_face
        planar = images.contiguous()  # area resizing is twice as fast from planar images
        candidates, image_of = [], []
        while side >= MTCNN_MIN_FACE:
            size = (int(height * scale + 1), int(width * scale + 1))
            group = max(1, PNET_PIXELS // (size[0] * size[1]))
            outputs = []
            for start in range(0, len(planar), group):
                level = F.interpolate(planar[start:start + group], size=size, mode="area")
                outputs.append(self.pnet(normalise(level).contiguous(memory_format=torch.channels_last)))
            offsets, probs = (torch.cat(parts) for parts in zip(*outputs))
            level_boxes, level_images = generateBoundingBox(offsets, probs[:, 1], scale, STAGE_THRESHOLDS[0])
            keep = batched_nms(level_boxes[:, :4], level_boxes[:, 4], level_images, 0.5)
            candidates.append(level_boxes[keep]), image_of.append(level_images[keep])
            scale, side = scale * PYRAMID_FACTOR, side * PYRAMID_FACTOR
        if not candidates:  # frames smaller than a face
            return images.new_zeros((0, 5)), torch.zeros(0, dtype=torch.long, device=images.device)
        boxes, image_of = torch.cat(candidates), torch.cat(image_of)
        keep = batched_nms(boxes[:, :4], boxes[:, 4], image_of, 0.7)
        boxes, image_of = boxes[keep], image_of[keep]
        size = torch.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]] * 2, dim=1)
        regressed = boxes[:, :4] + boxes[:, 5:9] * size
        return rerec(torch.cat([regressed, boxes[:, 4:5]], dim=1)), image_of

    def refine(self, images, boxes, image_of, net, crop_size: int, threshold: float, final: bool = False):
        """Stages 2 and 3: score each box's crop, keep the likely faces, regress and suppress."""
        from facenet_pytorch.models.utils.detect_face import batched_nms_numpy, bbreg, rerec

        crops, boxes, image_of = crop_boxes(images, boxes, image_of, crop_size, one_call=self.crop_in_one_call)
        if len(boxes) == 0:
            return boxes, image_of
        outputs = run_in_buckets(net, normalise(crops))
        offsets, score = outputs[0], outputs[-1][:, 1]  # R-Net: offsets, probs; O-Net: offsets, landmarks, probs
        keep = score > threshold
        boxes = torch.cat([boxes[keep, :4], score[keep, None]], dim=1)
        image_of, offsets = image_of[keep], offsets[keep]
        if final:  # each face's box and score, and the square O-Net refined it from (that follow() moves on)
            squares = boxes[:, :4].clone()
            boxes = bbreg(boxes, offsets)
            keep = batched_nms_numpy(boxes[:, :4], boxes[:, 4], image_of, 0.7, "Min")
            return torch.cat([boxes[keep], squares[keep]], dim=1), image_of[keep]
        keep = batched_nms(boxes[:, :4], boxes[:, 4], image_of, 0.7)
        return rerec(bbreg(boxes[keep], offsets[keep])), image_of[keep]


def crop_boxes(images: torch.Tensor, boxes: torch.Tensor, image_of: torch.Tensor, size: int, one_call: bool = False):
    """Each box's pixels, clipped to its image as facenet-pytorch clips them, resized to size x size.

    Boxes that lie wholly outside their image are dropped (with their rows of ``boxes`` and ``image_of``).
    On the CPU a loop of small area resizes, exactly facenet-pytorch's, beats one ``roi_align`` call;
    on a GPU (``one_call``) one ``roi_align`` kernel replaces a launch per box; it averages ceil(bin)
    bilinear samples per output pixel, which is area resampling up to sub-pixel weights.
    """
    height, width = images.shape[2:]
    corners = boxes[:, :4].trunc()
    x1, y1 = corners[:, 0].clamp(min=1) - 1, corners[:, 1].clamp(min=1) - 1
    x2, y2 = corners[:, 2].clamp(max=width), corners[:, 3].clamp(max=height)
    inside = (x2 > x1) & (y2 > y1)
    regions = torch.stack([image_of.to(images.dtype), x1, y1, x2, y2], dim=1)[inside]
    boxes, image_of = boxes[inside], image_of[inside]
    if len(regions) == 0:
        return images.new_zeros((0, 3, size, size)), boxes, image_of
    if one_call:  # aligned: pixel i spans [i, i + 1), so a region from x1 to x2 covers pixels x1..x2-1
        return roi_align(images, regions, output_size=size, sampling_ratio=0, aligned=True), boxes, image_of
    # Area resizing is adaptive average pooling; called directly, it skips F.interpolate's checks,
    # which cost as much as the resize itself (about 50 of 100 us a box).
    regions = regions.long()
    area = (regions[:, 3] - regions[:, 1]) * (regions[:, 4] - regions[:, 2])
    covered = torch.zeros(len(images), dtype=torch.long).index_add_(0, regions[:, 0], area)
    by_table = covered[regions[:, 0]] > TABLE_COVER * height * width
    crops = images.new_empty((len(regions), images.shape[1], size, size))
    for row, (i, left, top, right, bottom) in zip(torch.nonzero(~by_table).flatten().tolist(), regions[~by_table].tolist()):
        crops[row] = F.adaptive_avg_pool2d(images[i, :, top:bottom, left:right], size)
    for i in regions[by_table, 0].unique().tolist():
        mine = torch.nonzero(by_table & (regions[:, 0] == i)).flatten()
        crops[mine] = table_crops(summed_area_table(images[i]), regions[mine, 1:], size)
    return crops, boxes, image_of


def summed_area_table(image: torch.Tensor) -> torch.Tensor:
    """(H + 1, W + 1, C) sums of the integer-valued float (C, H, W) ``image`` above and left of each corner;
    int32 where it holds them (up to 4K frames), as it gathers twice as fast as int64."""
    dtype = torch.int32 if image.shape[1] * image.shape[2] * 255 < 2 ** 31 else torch.int64
    table = image.new_zeros((image.shape[1] + 1, image.shape[2] + 1, image.shape[0]), dtype=dtype)
    table[1:, 1:] = image.permute(1, 2, 0).to(dtype).cumsum(0).cumsum(1)
    return table


def table_crops(table: torch.Tensor, regions: torch.Tensor, size: int) -> torch.Tensor:
    """``adaptive_avg_pool2d`` of each (left, top, right, bottom) region to size x size, from its image's
    summed-area table: the same windows (floor(k n / size) to ceil((k + 1) n / size)), their sums
    exact, divided as that kernel divides (by the window's height, then its width): the same floats.
    Detection's images hold whole numbers (uint8 frames, shrunk to uint8), which makes the sums exact."""
    k = torch.arange(size)
    left, top, right, bottom = (column[:, None] for column in regions.unbind(1))
    height, width = bottom - top, right - left
    row_start, row_end = top + k * height // size, top - (-(k + 1) * height // size)
    col_start, col_end = left + k * width // size, left - (-(k + 1) * width // size)
    pixels = table.view(-1, table.shape[2])

    def corner(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:  # (K, size, size, C); one row per pixel: 2x advanced indexing's speed
        return pixels.index_select(0, (rows[:, :, None] * table.shape[1] + cols[:, None, :]).flatten()).view(len(rows), size, size, -1)

    sums = corner(row_end, col_end) - corner(row_start, col_end) - corner(row_end, col_start) + corner(row_start, col_start)
    crops = sums.permute(0, 3, 1, 2).float()
    return crops / (row_end - row_start).float()[:, None, :, None] / (col_end - col_start).float()[:, None, None, :]


def run_in_buckets(net, batch: torch.Tensor) -> list[torch.Tensor]:
    """``net`` (a batch -> a tuple of tensors) over ``batch`` in chunks of REFINE_BATCH; the last is zero-padded to a power of two."""
    outputs = []
    for start in range(0, len(batch), REFINE_BATCH):
        part = batch[start:start + REFINE_BATCH]
        padded = max(16, 1 << (len(part) - 1).bit_length())
        if padded > len(part):
            part = torch.cat([part, part.new_zeros((padded - len(part), *part.shape[1:]))])
        results = net(part.contiguous(memory_format=torch.channels_last))
        outputs.append([result[: min(REFINE_BATCH, len(batch) - start)] for result in results])
    return [torch.cat(parts) for parts in zip(*outputs)]


def side(boxes: torch.Tensor) -> torch.Tensor:
    """Each (x1, y1, x2, y2, ...) box's geometric mean side."""
    return ((boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)).sqrt()


def centres(boxes: torch.Tensor) -> torch.Tensor:
    return (boxes[:, :2] + boxes[:, 2:4]) / 2


def normalise(images: torch.Tensor) -> torch.Tensor:
    """MTCNN's input scaling: 0..255 to about -1..1."""
    return (images - 127.5) * 0.0078125
