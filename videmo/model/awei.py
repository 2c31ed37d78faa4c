"""The Awei classifier of "Emotion recognition based on ResNet and transfer learning".

Three variants, as in the paper's ablation:

- ``cnn``: five 3x3 conv layers (32..512 filters, ReLU, 2x2 max-pool after each);
- ``awei``: plus a residual branch (one 3x3 conv to 512 channels on the input,
  max-pooled to the fifth conv's output size) summed with the fifth conv's output;
- ``awei-vgg``: plus the flattened conv features of a VGG, summed with the
  flattened ``awei`` features.

All three end in dropout 0.5, a 1792-unit fully connected layer and a 7-way output.
At 224 px every branch gives 7x7x512 = 25088 features.

``residual="two-stage"`` is the paper's proposed next step, its one 32x32-pooled jump split in two:
the first conv block's output (32 channels at 1/2 size) -> 3x3 conv to 128 channels -> max-pool to
the third block's grid (4x4 at multiples of 32), added to the third block's output; that sum -> 3x3
conv to 512 channels -> max-pool to the fifth block's grid (4x4 again), added to the fifth block's
output. Each jump pools 16 positions instead of 1024, which is the information the paper says the
single jump loses; the jumps start from conv features, not from the raw pixels, so that each adds
to the layers it skips what they already compute at that depth.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from videmo.core.options import ARCHITECTURES, RESIDUALS, VGG_VARIANTS

CONV_WIDTHS = (32, 64, 128, 256, 512)
HIDDEN_UNITS = 1792


def feature_grid(image_size: int) -> int:
    """Side of the feature map after five 2x2 max-pools (floor division at each)."""
    side = image_size
    for _ in CONV_WIDTHS:
        side //= 2
    return side


def conv_stack(in_channels: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in CONV_WIDTHS:
        layers += [nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        in_channels = width
    return nn.Sequential(*layers)


STRIP_ROWS = 8  # input rows the residual conv computes at once


class ResidualBranch(nn.Module):
    """A 3x3 conv to 512 channels on the input, max-pooled over the whole image to the
    fifth conv's output grid.

    The conv's full-resolution output is 512 channels at input size (about 100 MB per
    224 px face), so it is computed in strips of 8 input rows, each pooled at once into
    its band of output rows: the whole map never exists. The
    bands are exactly adaptive max-pooling's windows, so for sizes that are multiples
    of 32 this equals a 32x32 max-pool.
    """

    def __init__(self, in_channels: int, out_channels: int = 512):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        height = x.shape[-2]
        padded = F.pad(x, (0, 0, 1, 1))  # rows only: the conv pads columns itself
        bands = []
        for row in range(grid[0]):
            top = (row * height) // grid[0]
            bottom = -(-((row + 1) * height) // grid[0])
            pooled = None
            for strip in range(top, bottom, STRIP_ROWS):  # a few rows at a time: a batch of faces stays small
                rows = F.conv2d(
                    padded[..., strip : min(strip + STRIP_ROWS, bottom) + 2, :], self.conv.weight, self.conv.bias, padding=(0, 1)
                )
                rows = F.adaptive_max_pool2d(rows, (1, grid[1]))
                pooled = rows if pooled is None else torch.maximum(pooled, rows)
            bands.append(pooled)
        return torch.cat(bands, dim=-2)


class Jump(nn.Module):
    """One stage of the two-stage residual path: a 3x3 conv, then a max-pool to the target grid."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        return F.adaptive_max_pool2d(self.conv(x), grid)


# VGG's conv layers per depth, as in torchvision (its layer indices, so its ImageNet weights load):
# a number is a 3x3 conv to that many channels (then batch norm in the _bn variants, then ReLU), M a 2x2 max-pool.
VGG_LAYERS = {
    "vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg13": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
}


def vgg_features(variant: str) -> nn.Sequential:
    """VGG's conv part (before its fully connected layers), untrained, initialised as torchvision does.

    Built here rather than by torchvision, which builds the whole network, its 120 million
    parameters of fully connected layers included, only for them to be thrown away. Pretrained
    weights are loaded separately by ``videmo.model.vgg.load_vgg_weights``.
    """
    if variant not in VGG_VARIANTS:
        raise ValueError(f"unknown VGG variant {variant!r}; choose one of {', '.join(VGG_VARIANTS)}")
    layers: list[nn.Module] = []
    in_channels = 3
    for width in VGG_LAYERS[variant.removesuffix("_bn")]:
        if width == "M":
            layers.append(nn.MaxPool2d(2, 2))
            continue
        conv = nn.Conv2d(in_channels, width, 3, padding=1)
        if not conv.weight.is_meta:  # a checkpoint being loaded (built on the meta device) replaces them anyway
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(conv.bias)
        layers += (
            [conv, nn.BatchNorm2d(width), nn.ReLU(inplace=True)] if variant.endswith("_bn") else [conv, nn.ReLU(inplace=True)]
        )
        in_channels = width
    return nn.Sequential(*layers)


class Awei(nn.Module):
    def __init__(
        self,
        arch: str = "awei-vgg",
        in_channels: int = 3,
        image_size: int = 224,
        num_classes: int = 7,
        vgg: str = "vgg16",
        dropout: float = 0.5,
        residual: str = "one-stage",
    ):
        super().__init__()
        if arch not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
        if residual not in RESIDUALS:
            raise ValueError(f"unknown residual path {residual!r}; choose one of {', '.join(RESIDUALS)}")
        if in_channels not in (1, 3):
            raise ValueError(f"in_channels must be 1 (grey) or 3 (RGB), not {in_channels}")
        if feature_grid(image_size) < 1:
            raise ValueError(f"image size {image_size} is too small: it must be at least 32 px")
        self.arch = arch
        self.image_size = image_size
        self.in_channels = in_channels
        self.features = conv_stack(in_channels)
        self.residual_mode = residual if arch != "cnn" else None
        self.residual = ResidualBranch(in_channels) if self.residual_mode == "one-stage" else None
        self.jumps = (
            nn.ModuleList([Jump(CONV_WIDTHS[0], CONV_WIDTHS[2]), Jump(CONV_WIDTHS[2], CONV_WIDTHS[4])])
            if self.residual_mode == "two-stage"
            else None
        )
        self.vgg_variant = vgg if arch == "awei-vgg" else None
        self.vgg = vgg_features(vgg) if self.vgg_variant else None
        self.feature_size = CONV_WIDTHS[-1] * feature_grid(image_size) ** 2
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(self.feature_size, HIDDEN_UNITS),
            nn.ReLU(inplace=True),
            nn.Linear(HIDDEN_UNITS, num_classes),
        )

    def fused_features(self, x: torch.Tensor) -> torch.Tensor:
        """The (N, 512, g, g) feature map that the head flattens (their flattened sum)."""
        if self.jumps is not None:  # blocks 1 | 2-3 | 4-5 of the conv stack, three layers (conv, ReLU, pool) each
            first = self.features[0:3](x)
            third = self.features[3:9](first)
            third = third + self.jumps[0](first, third.shape[-2:])
            features = self.features[9:15](third)
            features = features + self.jumps[1](third, features.shape[-2:])
        else:
            features = self.features(x)
        if self.residual is not None:
            features = features + self.residual(x, features.shape[-2:])
        if self.vgg is not None:
            rgb = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
            features = features + self.vgg(rgb)
        return features

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """The 1792 hidden units, which the last layer maps to logits (``--noisy-labels`` weighs samples by them)."""
        return self.head[:-1](self.fused_features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.fused_features(x))
