"""What video does to a face that FER+'s frontal, well-lit, sharp 48 px crops never show: a turned
head, dim, gamma-shifted or side light, motion and defocus blur, sensor noise, block compression and
a face too small for its crop, as batched operations on float (N, C, H, W) images in [0, 1].

Each degradation strikes an image with its own chance (``CHANCES``), and a share of the images
(``UNTOUCHED``) is spared them all, so that the model still sees clean faces. Every random number
comes from the generator passed in, in a fixed number of draws per batch, so the same generator
state gives the same batch. Sizes in pixels are those of a 48 px face, scaled to the image's size.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

CHANCES = {
    "turn": 0.5,
    "roll": 0.3,
    "dark": 0.35,
    "side_light": 0.3,
    "motion_blur": 0.2,
    "defocus": 0.2,
    "noise": 0.35,
    "jpeg": 0.35,
    "low_res": 0.3,
}
# video-hard: the faces FER lacks most (profile, dark, blurred, small) struck more often and further
HARD_CHANCES = {**CHANCES, "turn": 0.7, "dark": 0.6, "side_light": 0.5, "motion_blur": 0.35, "defocus": 0.35, "low_res": 0.45}
HARD_TURN_DEGREES = (60.0, 35.0)
HARD_DARK_LEVEL = (0.1, 1.0)
UNTOUCHED = 0.2  # the share of the images spared the photometric degradations (light .. low resolution)
TURN_DEGREES = (35.0, 20.0)  # yaw, pitch: the most apparent turn of the face
ROLL_DEGREES = 25.0  # a rolled head's tilt (the affine jitter alone tilts up to 15 degrees)
TURN_DISTANCE = 3.0  # the face plane's distance from the camera, in face half-widths: how strong the perspective is
DARK_LEVEL, GAMMA = (0.25, 1.0), (0.6, 2.2)
SIDE_LIGHT_DARK = (0.3, 1.0)  # the light ramp's factor at the face's dark side
MOTION_PX, DEFOCUS_SIGMA_PX = (3.0, 7.0), (0.5, 1.5)
NOISE_SIGMA = (0.01, 0.06)  # before the darkness factor (up to 1.5x for a black face)
JPEG_QUALITY = (20.0, 70.0)
LOW_RES_PX = (12, 32)  # the face's side in the frame, before the crop enlarges it back to 48
LOW_RES_STEPS = 6  # sizes drawn from this many evenly spaced ones (batched by size)
# The JPEG standard's luminance quantisation table (quality 50).
JPEG_LUMA = torch.tensor(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=torch.float32,
)
DRAWS = (
    "yaw",
    "pitch",
    "level",
    "gamma",
    "ramp_angle",
    "ramp_side",
    "ramp_dark",
    "motion_length",
    "motion_angle",
    "sigma",
    "noise",
    "quality",
    "size",
)


def draw_video(
    n: int, generator: torch.Generator, chances: dict[str, float] = CHANCES
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Which degradations strike each of ``n`` images (boolean per name of ``chances``) and their
    strengths (uniform in [0, 1) per name of DRAWS), in a fixed number of draws."""
    strike = torch.rand(len(chances), n, generator=generator) < torch.tensor(list(chances.values())).unsqueeze(1)
    spared = torch.rand(n, generator=generator) < UNTOUCHED
    chosen = {name: row if name in ("turn", "roll") else row & ~spared for name, row in zip(chances, strike)}
    return chosen, dict(zip(DRAWS, torch.rand(len(DRAWS), n, generator=generator)))


def between(u: torch.Tensor, bounds: tuple[float, float]) -> torch.Tensor:
    return bounds[0] + u * (bounds[1] - bounds[0])


def turn(grid: torch.Tensor, yaw: torch.Tensor, pitch: torch.Tensor) -> torch.Tensor:
    """Sampling grid (N, H, W, 2) of a face plane turned by ``yaw`` then ``pitch`` (radians) in front of
    a camera at TURN_DISTANCE: the far side narrows and shrinks, the near one widens (a homography)."""
    for axis, angle in ((0, yaw), (1, pitch)):
        cos, sin = (f(angle).view(-1, 1, 1) for f in (torch.cos, torch.sin))
        along, across = grid[..., axis], grid[..., 1 - axis]
        depth = cos - along * sin / TURN_DISTANCE  # the source point that projects to ``along``
        turned = torch.stack([along / depth, across * cos / depth], -1)
        grid = turned if axis == 0 else turned.flip(-1)
    return grid


def light(x: torch.Tensor, chosen: dict, u: dict, dark_level: tuple[float, float] = DARK_LEVEL) -> torch.Tensor:
    """Low light with a gamma shift, and side light: a horizontal to diagonal ramp that dims one side."""
    n, _, h, w = x.shape
    level = torch.where(chosen["dark"], between(u["level"], dark_level), 1.0).view(n, 1, 1, 1)
    gamma = torch.where(chosen["dark"], GAMMA[0] * (GAMMA[1] / GAMMA[0]) ** u["gamma"], 1.0).view(n, 1, 1, 1)  # log-uniform
    x = x.clamp(min=0) ** gamma * level
    angle = (u["ramp_angle"] * 2 - 1) * math.pi / 4 + torch.where(u["ramp_side"] < 0.5, 0.0, math.pi)
    cols, rows = torch.linspace(-1, 1, w).view(1, 1, w), torch.linspace(-1, 1, h).view(1, h, 1)
    cos, sin = torch.cos(angle).view(n, 1, 1), torch.sin(angle).view(n, 1, 1)
    ramp = ((cols * cos + rows * sin) / (cos.abs() + sin.abs()) + 1) / 2  # 0 at the dark side, 1 at the lit one
    dark = torch.where(chosen["side_light"], between(u["ramp_dark"], SIDE_LIGHT_DARK), 1.0).view(n, 1, 1)
    return x * (dark + (1 - dark) * ramp).unsqueeze(1)


def filtered(x: torch.Tensor, kernels: torch.Tensor, which: torch.Tensor) -> torch.Tensor:
    """``x`` with the images ``which`` convolved with their own kernel (N, K, K), edges replicated."""
    index = which.nonzero().squeeze(1)
    if len(index) == 0:
        return x
    c, r = x.shape[1], kernels.shape[-1] // 2
    part = F.pad(x[index], (r, r, r, r), mode="replicate").reshape(1, len(index) * c, x.shape[2] + 2 * r, x.shape[3] + 2 * r)
    weight = kernels[index].repeat_interleave(c, 0).unsqueeze(1)
    x = x.clone()
    x[index] = F.conv2d(part, weight, groups=len(index) * c).view(len(index), c, x.shape[2], x.shape[3])
    return x


def blur(x: torch.Tensor, chosen: dict, u: dict) -> torch.Tensor:
    """Motion blur (a line kernel in a random direction) and defocus blur (a Gaussian)."""
    px = x.shape[-1] / 48
    r = max(1, math.ceil(MOTION_PX[1] * px / 2))
    offsets = torch.arange(-r, r + 1, dtype=torch.float32)
    dy, dx = offsets.view(1, -1, 1), offsets.view(1, 1, -1)
    half = ((between(u["motion_length"], MOTION_PX) * px - 1) / 2).view(-1, 1, 1)
    cos, sin = (f(u["motion_angle"] * math.pi).view(-1, 1, 1) for f in (torch.cos, torch.sin))
    along = (dx * cos + dy * sin).clamp(-half, half)
    line = (1 - ((dx - along * cos) ** 2 + (dy - along * sin) ** 2).sqrt()).clamp(min=0)
    x = filtered(x, line / line.sum((1, 2), keepdim=True), chosen["motion_blur"])
    sigma = (between(u["sigma"], DEFOCUS_SIGMA_PX) * px).view(-1, 1, 1)
    gauss = torch.exp(-(dx**2 + dy**2) / (2 * sigma**2))
    return filtered(x, gauss / gauss.sum((1, 2), keepdim=True), chosen["defocus"])


def dct_matrix(size: int = 8) -> torch.Tensor:
    k, m = torch.arange(size, dtype=torch.float32).view(-1, 1), torch.arange(size, dtype=torch.float32).view(1, -1)
    d = torch.cos(math.pi * (2 * m + 1) * k / (2 * size)) * math.sqrt(2 / size)
    d[0] /= math.sqrt(2)
    return d


def jpeg(x: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """Each channel of ``x`` compressed as a JPEG of ``quality`` (1..100 per image) compresses its
    luminance: 8x8 blocks' DCT coefficients quantised with the standard table, scaled by quality."""
    n, c, h, w = x.shape
    ph, pw = -h % 8, -w % 8
    blocks = F.pad(x * 255 - 128, (0, pw, 0, ph), mode="replicate")
    bh, bw = (h + ph) // 8, (w + pw) // 8
    blocks = blocks.view(n, c, bh, 8, bw, 8).transpose(3, 4)
    scale = torch.where(quality < 50, 5000 / quality, 200 - 2 * quality).view(n, 1, 1, 1, 1, 1)
    table = ((JPEG_LUMA * scale + 50) / 100).floor().clamp(1, 255)
    d = dct_matrix()
    coefficients = d @ blocks @ d.T
    blocks = d.T @ ((coefficients / table).round() * table) @ d
    return ((blocks.transpose(3, 4).reshape(n, c, h + ph, w + pw)[..., :h, :w] + 128) / 255).clamp(0, 1)


def sensor(x: torch.Tensor, chosen: dict, u: dict, generator: torch.Generator) -> torch.Tensor:
    """A face too small in the frame (downscaled, then enlarged back, bilinear), with its sensor noise
    (stronger in dark faces) and its compression applied at the small size, as a camera records it."""
    n, _, h, w = x.shape
    noise = torch.randn(x.shape, generator=generator)
    sigma = between(u["noise"], NOISE_SIGMA) * (1 + (0.5 - x.mean((1, 2, 3))).clamp(min=0))
    sigma = torch.where(chosen["noise"], sigma, 0.0).view(n, 1, 1, 1)
    quality = between(u["quality"], JPEG_QUALITY).round()
    steps = torch.linspace(LOW_RES_PX[0] / 48, LOW_RES_PX[1] / 48, LOW_RES_STEPS)
    sizes = torch.where(
        chosen["low_res"], (steps[(u["size"] * LOW_RES_STEPS).long().clamp(max=LOW_RES_STEPS - 1)] * h).round(), h
    )
    out = x.clone()
    for size in sizes.unique().tolist():
        index = (sizes == size).nonzero().squeeze(1)
        side = (int(size), max(1, round(size * w / h)))
        part = (
            x[index]
            if side == (h, w)
            else F.interpolate(x[index], size=side, mode="bilinear", antialias=True, align_corners=False)
        )
        part = (part + noise[index, :, : side[0], : side[1]] * sigma[index]).clamp(0, 1)
        compress = chosen["jpeg"][index].view(-1, 1, 1, 1)
        part = torch.where(compress, jpeg(part, quality[index]), part) if compress.any() else part
        out[index] = part if side == (h, w) else F.interpolate(part, size=(h, w), mode="bilinear", align_corners=False)
    return out.clamp(0, 1)


def degrade(
    x: torch.Tensor, chosen: dict, u: dict, generator: torch.Generator, dark_level: tuple[float, float] = DARK_LEVEL
) -> torch.Tensor:
    """The photometric degradations, in the order a camera applies them: light, optics, sensor, codec."""
    return sensor(blur(light(x, chosen, u, dark_level), chosen, u), chosen, u, generator)
