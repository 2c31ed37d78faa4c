"""MTCNN's three networks run on our own terms: P-Net's first PReLU and max-pool by exact kernels of our own on large inputs, R- and O-Net in batches of bounded size, crops read from summed-area tables, and the pyramid's levels near known faces."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

from videmo.faces.areas import table_crops


def surroundings(boxes: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Where to look for the faces ``boxes`` (K,4) in the next frame: (K,5) regions, each box widened by
    NEAR of its longer side on every side and clipped to the image (height, width), and that side."""
    side = (boxes[:, 2:4] - boxes[:, 0:2]).amax(dim=1, keepdim=True)
    regions = torch.cat([boxes[:, 0:2] - side * NEAR, boxes[:, 2:4] + side * NEAR, side], dim=1)
    regions[:, [0, 2]] = regions[:, [0, 2]].clamp(0, shape[1])
    regions[:, [1, 3]] = regions[:, [1, 3]].clamp(0, shape[0])
    return regions


def level_parts(windows: list[torch.Tensor], shape: tuple[int, int], size: tuple[int, int], scale: float) -> torch.Tensor:
    """(P,5) parts (image, top, bottom, left, right) of a pyramid level of ``size`` and ``scale`` that cover
    the regions of ``windows`` (per image, (K,5) from ``surroundings``, in pixels of images of ``shape``)
    where that level's cells (12 / scale pixels) are within CELL_SIDES of the region's face.

    Each part starts at an even row and column, so that P-Net's 2x2 pooling pairs the rows and columns
    the whole level pairs, and all have the same even size (the largest part's, moved inward at the
    level's edges, or the whole level where that is smaller), so that P-Net sees them in one batch."""
    spans = []
    for image, regions in enumerate(windows):
        for x1, y1, x2, y2, face in regions.tolist():
            if CELL_SIDES[0] * face <= MTCNN_MIN_FACE / scale <= CELL_SIDES[1] * face:
                spans.append(
                    (
                        image,
                        int(y1 * size[0] / shape[0]) // 2 * 2,
                        math.ceil(y2 * size[0] / shape[0]),
                        int(x1 * size[1] / shape[1]) // 2 * 2,
                        math.ceil(x2 * size[1] / shape[1]),
                    )
                )
    if not spans:
        return torch.zeros((0, 5), dtype=torch.long)
    spans = torch.tensor(spans)
    parts = [spans[:, 0]]
    for first, last, length in ((1, 2, size[0]), (3, 4, size[1])):
        extent = min(length, int((spans[:, last] - spans[:, first]).max() + 1) // 2 * 2)
        start = torch.minimum(spans[:, first], torch.tensor(length - extent) // 2 * 2)
        parts += [start, start + extent]
    parts = torch.stack(parts, dim=1)
    if (parts[:, 2] - parts[:, 1]).min() < MTCNN_MIN_FACE or (parts[:, 4] - parts[:, 3]).min() < MTCNN_MIN_FACE:
        return torch.zeros((0, 5), dtype=torch.long)  # the level is smaller than P-Net's window
    return parts


def cell_boxes(offsets: torch.Tensor, probs: torch.Tensor, scale: float, origins: torch.Tensor):
    """facenet-pytorch's ``generateBoundingBox`` for P-Net's cells of parts of a level, each part's first
    cell being the level's cell ``origins`` (N,2: row, column): (M,9) boxes, scores and offsets, and
    which part each one is from."""
    where = torch.nonzero(probs >= STAGE_THRESHOLDS[0])
    cells = (where[:, 1:] + origins[where[:, 0]]).to(offsets.dtype).flip(1)  # x, y
    corners = torch.cat([((2 * cells + 1) / scale).floor(), ((2 * cells + 12) / scale).floor()], dim=1)
    score = probs[where[:, 0], where[:, 1], where[:, 2]]
    regression = offsets.permute(0, 2, 3, 1)[where[:, 0], where[:, 1], where[:, 2]]
    return torch.cat([corners, score[:, None], regression], dim=1), where[:, 0]


def level_by_interpolation(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A pyramid level by area interpolation (the GPU's way), from planar images, which it reads faster."""
    return F.interpolate(images.contiguous(), size=size, mode="area")


def crop_boxes(images: torch.Tensor, tables: torch.Tensor | None, boxes: torch.Tensor, image_of: torch.Tensor, size: int):
    """Each box's pixels, clipped to its image as facenet-pytorch clips them, area-resized to size x size.

    Boxes that lie wholly outside their image are dropped (with their rows of ``boxes`` and ``image_of``).
    On the CPU the crops come from the images' summed-area ``tables``: the same floats as area resizing
    each box on its own, at four reads per output pixel. On a GPU (no tables) one ``roi_align`` kernel
    replaces a launch per box; it averages ceil(bin) bilinear samples per output pixel, which is area
    resampling up to sub-pixel weights.
    """
    height, width = images.shape[2:]
    corners = boxes[:, :4].trunc()
    x1, y1 = corners[:, 0].clamp(min=1) - 1, corners[:, 1].clamp(min=1) - 1
    x2, y2 = corners[:, 2].clamp(max=width), corners[:, 3].clamp(max=height)
    inside = (x2 > x1) & (y2 > y1)
    regions = torch.stack([image_of.to(boxes.dtype), x1, y1, x2, y2], dim=1)[inside]
    boxes, image_of = boxes[inside], image_of[inside]
    if len(regions) == 0:
        return torch.zeros((0, 3, size, size), device=images.device), boxes, image_of
    if tables is None:  # aligned: pixel i spans [i, i + 1), so a region from x1 to x2 covers pixels x1..x2-1
        return roi_align(images, regions, output_size=size, sampling_ratio=0, aligned=True), boxes, image_of
    return table_crops(tables, regions.long(), size), boxes, image_of


def run_in_buckets(net, batch: torch.Tensor, smallest: int = 16) -> list[torch.Tensor]:
    """``net`` (a batch -> a tuple of tensors) over ``batch`` in batches whose sizes are powers of two from
    REFINE_BATCH down to ``smallest``, the last zero-padded: a bounded set of shapes for oneDNN."""
    outputs, start = [], 0
    while start < len(batch):
        size = min(REFINE_BATCH, max(smallest, 1 << (len(batch) - start).bit_length() - 1))
        part = batch[start : start + size]
        if size > len(part):
            part = torch.cat([part, part.new_zeros((size - len(part), *part.shape[1:]))])
        results = net(part.contiguous(memory_format=torch.channels_last))
        outputs.append([result[: len(batch) - start] for result in results])
        start += size
    return [torch.cat(parts) for parts in zip(*outputs)]


def pnet_forward(pnet, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """facenet-pytorch's ``PNet.forward`` on channels-last ``x``: on the CPU, over large inputs, its first
    PReLU and max-pool by ``prelu_`` and ``max_pool_2x2``, as torch's kernels for them crawl over its 10
    channels (benchmarks/detect_profile.py, see benchmarks/results/detect_profile_bf16.txt). The same
    floats; below PNET_FAST_PIXELS torch's own calls are quicker."""
    if x.device.type != "cpu" or x.shape[0] * x.shape[2] * x.shape[3] < PNET_FAST_PIXELS:
        return pnet(x)
    x = max_pool_2x2(prelu_(pnet.conv1(x), pnet.prelu1.weight))
    x = pnet.prelu3(pnet.conv3(pnet.prelu2(pnet.conv2(x))))
    return pnet.conv4_2(x), pnet.softmax4_1(pnet.conv4_1(x))


def prelu_(x: torch.Tensor, weight: torch.Tensor, rows: int = 8) -> torch.Tensor:
    """``F.prelu(x, weight)`` in place for channels-last ``x``, on a view of its memory as ``rows`` pixels'
    channels a row, with ``weight`` repeated to match: long rows that the CPU's vector units fill. The
    same floats: ``max(x, 0) + min(x, 0) * weight`` is x or x * weight exactly."""
    channels = x.shape[1]
    flat = x.permute(0, 2, 3, 1).reshape(-1)  # a view, x being channels-last
    whole = flat.numel() // (channels * rows) * (channels * rows)
    for part, slope in ((flat[:whole].view(-1, channels * rows), weight.repeat(rows)), (flat[whole:].view(-1, channels), weight)):
        negative = part.clamp(max=0)
        part.clamp_(min=0).addcmul_(negative, slope)
    return x


def max_pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """``F.max_pool2d(x, 2, 2, ceil_mode=True)`` of channels-last ``x``, as maxima of column pairs, then of
    row pairs (an odd last column or row taken alone), channels-last."""
    count, channels, height, width = x.shape
    cols = torch.empty((count, channels, height, (width + 1) // 2), dtype=x.dtype, memory_format=torch.channels_last)
    torch.maximum(x[..., : width // 2 * 2 : 2], x[..., 1::2], out=cols[..., : width // 2])
    if width % 2:
        cols[..., -1:] = x[..., -1:]
    out = torch.empty((count, channels, (height + 1) // 2, (width + 1) // 2), dtype=x.dtype, memory_format=torch.channels_last)
    torch.maximum(cols[:, :, : height // 2 * 2 : 2], cols[:, :, 1::2], out=out[:, :, : height // 2])
    if height % 2:
        out[:, :, -1:] = cols[:, :, -1:]
    return out


def normalise(images: torch.Tensor) -> torch.Tensor:
    """MTCNN's input scaling: 0..255 to about -1..1."""
    return (images - 127.5) * 0.0078125


# MTCNN's smallest face at its first pyramid level; asking for smaller ones only upsamples.
MTCNN_MIN_FACE = 12


STAGE_THRESHOLDS = (0.6, 0.7, 0.7)  # facenet-pytorch's defaults for P-, R- and O-Net


PNET_FAST_PIXELS = 1 << 14  # P-Net's inputs of this many pixels or more go through pnet_forward's own PReLU and max-pool


REFINE_BATCH = 32  # R-/O-Net's largest batch; small batches stay in cache


NEAR = 0.5  # between keyframes P-Net looks this far around each face of the frame before, in its sides


# ... on the pyramid levels whose cells are this many times that face's side: candidates much smaller
# or larger than the face do not become its box (0.5-2 lost a face of the example, as R-Net's
# regression grows a cell of a third of a face into it; 0.35-3 found every face the whole search found).
CELL_SIDES = (0.35, 3.0)
