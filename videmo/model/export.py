"""The classifier written as an ONNX graph from its weights: batch norm folded into the convolutions, layer by layer, at a fixed input size (onnx.Graph builds it)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from videmo.model.awei import STRIP_ROWS, Awei
from videmo.model.onnx import WINOGRAD_MIN_CHANNELS, Graph


def folded(conv: nn.Conv2d, norm: nn.BatchNorm2d | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The conv's weight and bias with an inference-mode batch norm after it folded in."""
    weight, bias = (
        conv.weight.detach().float(),
        conv.bias.detach().float() if conv.bias is not None else torch.zeros(conv.out_channels),
    )
    if norm is None:
        return weight, bias
    scale = norm.weight.detach().float() / torch.sqrt(norm.running_var.float() + norm.eps)
    return weight * scale.view(-1, 1, 1, 1), (bias - norm.running_mean.float()) * scale + norm.bias.detach().float()


def plain_conv(conv: nn.Conv2d) -> bool:
    """The only conv these graphs write (and the only one the Awei models build): 3x3, stride 1, padding 1."""
    return (
        tuple(conv.kernel_size) == (3, 3)
        and tuple(conv.stride) == (1, 1)
        and conv.padding == (1, 1)
        and tuple(conv.dilation) == (1, 1)
        and conv.groups == 1
        and conv.padding_mode == "zeros"
    )


def plain_pool(pool: nn.MaxPool2d) -> bool:
    """The only max-pool these graphs write: 2x2, stride 2, no padding, floor mode."""

    def pair(value) -> tuple:
        return tuple(value) if isinstance(value, (tuple, list)) else (value, value)

    return (
        pair(pool.kernel_size) == (2, 2)
        and pair(pool.stride) == (2, 2)
        and pair(pool.padding) == (0, 0)
        and pair(pool.dilation) == (1, 1)
        and not pool.ceil_mode
    )


def sequential(graph: Graph, x: str, layers: nn.Sequential, in_channels: int, side: int) -> tuple[str, int]:
    """Conv (+ batch norm) + ReLU (+ 2x2 max-pool) layers, as conv_stack and VGG build them; the output
    (N, C, S, S) and its side. A first conv that expects three channels from one grey channel gets its
    weights summed over them (the model repeats grey to RGB for VGG: the same arithmetic)."""
    modules, pixel_major, i = list(layers), False, 0
    while i < len(modules):
        module = modules[i]
        if isinstance(module, nn.Conv2d):
            if not plain_conv(module):
                raise ValueError(f"no ONNX form for {module}")
            norm = modules[i + 1] if i + 1 < len(modules) and isinstance(modules[i + 1], nn.BatchNorm2d) else None
            weight, bias = folded(module, norm)
            if weight.shape[1] != in_channels:
                weight = weight.sum(dim=1, keepdim=True)
            in_channels, after = weight.shape[0], i + 1 + (norm is not None)
            relu = after < len(modules) and isinstance(modules[after], nn.ReLU)
            pool = relu and after + 1 < len(modules) and isinstance(modules[after + 1], nn.MaxPool2d)
            if relu and weight.shape[1] >= WINOGRAD_MIN_CHANNELS:
                if not pixel_major:
                    x, pixel_major = graph.transpose(x), True
                x, side = graph.winograd_conv(x, weight, bias, side, pool)
                i = after + 1 + pool
                continue
            if pixel_major:
                x, pixel_major = graph.transpose(x), False
            x = graph.conv(x, weight, bias)
        elif isinstance(module, nn.ReLU):
            x = graph.op("Relu", [x])
        elif isinstance(module, nn.MaxPool2d):
            if not plain_pool(module):
                raise ValueError(f"no ONNX form for {module}")
            x, side = graph.max_pool(x), side // 2
        elif not isinstance(module, nn.BatchNorm2d):
            raise ValueError(f"no ONNX form for {type(module).__name__}")
        i += 1
    return (graph.transpose(x) if pixel_major else x), side


def residual_branch(graph: Graph, x: str, conv: nn.Conv2d, side: int, grid: int) -> str:
    """models.ResidualBranch: the 3x3 conv in strips of STRIP_ROWS input rows, each pooled at once into its band."""
    padded = graph.op("Pad", [x, graph.constant(np.array([0, 0, 1, 0, 0, 0, 1, 0]))])
    weight, bias = folded(conv, None)
    bands = []
    for row in range(grid):
        top, bottom = row * side // grid, -(-(row + 1) * side // grid)
        strips = []
        for strip in range(top, bottom, STRIP_ROWS):
            stop = min(strip + STRIP_ROWS, bottom)
            rows = graph.conv(graph.rows(padded, strip, stop + 2, 2), weight, bias, pads=(0, 1, 0, 1))
            strips.append(graph.adaptive_max_pool(rows, (stop - strip, side), (1, grid)))
        bands.append(strips[0] if len(strips) == 1 else graph.op("Max", strips))
    return bands[0] if len(bands) == 1 else graph.op("Concat", bands, axis=2)


def onnx_model(model: Awei) -> Graph:
    """The ONNX graph of ``model`` at its input size, for any batch size: input ``x`` (N, C, S, S), output ``logits``."""
    from onnx import helper

    if type(model) is not Awei:
        raise ValueError(f"no ONNX form for {type(model).__name__}")
    graph, side = Graph(), model.image_size
    if model.jumps is not None:
        first, half = sequential(graph, "x", model.features[0:3], model.in_channels, side)
        third, eighth = sequential(graph, first, model.features[3:9], 32, half)
        jump = graph.conv(first, *folded(model.jumps[0].conv, None))
        third = graph.op("Add", [third, graph.adaptive_max_pool(jump, (half, half), (eighth, eighth))])
        features, grid = sequential(graph, third, model.features[9:15], 128, eighth)
        jump = graph.conv(third, *folded(model.jumps[1].conv, None))
        features = graph.op("Add", [features, graph.adaptive_max_pool(jump, (eighth, eighth), (grid, grid))])
    else:
        features, grid = sequential(graph, "x", model.features, model.in_channels, side)
    if model.residual is not None:
        features = graph.op("Add", [features, residual_branch(graph, "x", model.residual.conv, side, grid)])
    if model.vgg is not None:
        vgg, _ = sequential(graph, "x", model.vgg, model.in_channels, side)
        features = graph.op("Add", [features, vgg])
    x = graph.op("Flatten", [features], axis=1)
    linears = [m for m in model.head if isinstance(m, nn.Linear)]
    for i, linear in enumerate(linears):
        x = graph.op(
            "Gemm",
            [x, graph.constant(linear.weight.detach().float().numpy()), graph.constant(linear.bias.detach().float().numpy())],
            transB=1,
        )
        x = graph.op("Relu", [x]) if i < len(linears) - 1 else x
    graph.nodes.append(helper.make_node("Identity", [x], ["logits"]))
    return graph
