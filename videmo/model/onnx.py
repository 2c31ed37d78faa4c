"""The classifier on ONNX Runtime: the CPU's fast path for analysis and evaluation.

torch runs the Awei network well below what the cores can do (its pools, batch norms, ReLUs and
weight casts between the convolutions take a large share of the time); ONNX Runtime runs the
same network in fp32 with batch norm folded into the convolutions, so its logits are torch's fp32
logits to rounding (tested) and no label changes.

Its 3x3 convolutions past the first layer are Winograd's minimal filtering F(m x m, 3 x 3) (Lavin
and Gray, 2016): each m x m tile of outputs comes from an (m+2)^2 tile of inputs by (m+2)^2 products
per channel pair instead of 9 m^2, a fifth to a half of the multiplications, as batched matrix
products that ONNX Runtime runs at the machine's matmul rate. On an fp32-only CPU, where the
classifier was already at that rate, this cut its time sharply (``benchmarks/classify_only.py``,
see ``benchmarks/results/HISTORY.md``). The tile size m (2, 3, 4 or 6) is chosen
per layer from its side and width; fp32 rounding grows with m (a layer's error against float64 is
below a direct conv's at small m and above it at m = 6: tests/test_runtime.py bounds it per m), and
the shipped model's logits stay within rounding of torch's. Between Winograd layers the maps
are kept pixel-major (H, W, N, C), so that every step moves whole (N, C) blocks: the tiles are
gathered by strided slices and laid out again by one transpose (in a channel-major (C, N, H, W)
layout the transposes of the tiles' few pixels took a large share of the time, and the network ran
slower: ``benchmarks/results/classify_pairs.txt``); a 2x2 max-pool after a layer is taken inside its
output tiles where m is even.

The graph is written here from the model's weights for its fixed input size (graph and session are
quick to build at start-up), rather than exported by ``torch.onnx``: the exporter is far slower, and the residual
branch's pooling windows follow from the input size, which a fixed size makes plain slices. The residual branch's
full-resolution map (512 channels at input size) is computed in strips of rows, as the torch module
does, so that it never exists whole. A model this module cannot write (another architecture) stays
on torch: ``build_runtime`` says why.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from videmo.model.awei import STRIP_ROWS, Awei
from videmo.model.winograd import winograd_matrices, winograd_tile

OPSET = 17
EXTERNAL_ELEMENTS = 4096  # weights this large are handed to ONNX Runtime in place (see Graph)
WINOGRAD_MIN_CHANNELS = 16  # the first layers (1 or 3 input channels) stay direct: there is nothing to batch


class Graph:
    """An ONNX graph under construction: nodes in order, weights as initialisers, names made unique.

    Weight arrays (float32, EXTERNAL_ELEMENTS or more) stay outside the graph, in ``external``: ONNX
    Runtime reads them where they are, where copying the Winograd layers' large transformed filters
    into the graph and out again would slow every start."""

    def __init__(self) -> None:
        self.nodes: list = []
        self.weights: list = []
        self.external: dict[str, np.ndarray] = {}
        self.count = 0

    def name(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def constant(self, array: np.ndarray, hint: str = "w") -> str:
        from onnx import TensorProto, numpy_helper

        name, array = self.name(hint), np.ascontiguousarray(array)
        if array.dtype != np.float32 or array.size < EXTERNAL_ELEMENTS:
            self.weights.append(numpy_helper.from_array(array, name))
            return name
        tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=array.shape, data_location=TensorProto.EXTERNAL)
        for key, value in (("location", name), ("offset", "0"), ("length", str(array.nbytes))):
            tensor.external_data.add(key=key, value=value)
        self.weights.append(tensor)
        self.external[name] = array
        return name

    def session(self, inputs: list, outputs: list, threads: int = 1):
        """An ONNX Runtime session of this graph with these input and output value infos. It reads the
        ``external`` weights in place, so the graph must live as long as the session."""
        from onnx import helper

        onnxruntime = import_onnxruntime()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # its warnings are not the user's business
        options.enable_cpu_mem_arena = False  # an arena keeps each lane's largest batch (the residual strips) for good
        if self.external:
            options.add_external_initializers(list(self.external), [onnxruntime.OrtValue.ortvalue_from_numpy(a) for a in self.external.values()])
        model = helper.make_model(helper.make_graph(self.nodes, "videmo", inputs, outputs, self.weights),
                                  opset_imports=[helper.make_opsetid("", OPSET)], producer_name="videmo")
        return onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

    def op(self, kind: str, inputs: list[str], hint: str | None = None, **attributes) -> str:
        from onnx import helper

        out = self.name(hint or kind.lower())
        self.nodes.append(helper.make_node(kind, inputs, [out], **attributes))
        return out

    def conv(self, x: str, weight: torch.Tensor, bias: torch.Tensor, pads: tuple[int, int, int, int] = (1, 1, 1, 1)) -> str:
        return self.op("Conv", [x, self.constant(weight.numpy().astype(np.float32)), self.constant(bias.numpy().astype(np.float32))],
                       kernel_shape=list(weight.shape[-2:]), pads=list(pads))

    def max_pool(self, x: str) -> str:
        return self.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])

    def rows(self, x: str, start: int, stop: int, axis: int) -> str:
        return self.op("Slice", [x, self.constant(np.array([start])), self.constant(np.array([stop])), self.constant(np.array([axis]))])

    def reshape(self, x: str, shape: list[int]) -> str:
        return self.op("Reshape", [x, self.constant(np.array(shape))])

    def transpose(self, x: str) -> str:
        """(N, C, H, W) <-> (H, W, N, C): the same permutation either way."""
        return self.op("Transpose", [x], perm=[2, 3, 0, 1])

    def tile_rows(self, x: str, axis: int, size: int, step: int, tiles: int) -> str:
        """The ``size`` overlapping rows of ``tiles`` tiles along ``axis`` of ``x``, stacked on a new first
        axis: the k-th holds rows k, k + step, ... (one per tile), each a strided slice of whole rows."""
        rows = [self.op("Unsqueeze", [self.op("Slice", [x, self.constant(np.array([k])), self.constant(np.array([k + step * (tiles - 1) + 1])),
                                                        self.constant(np.array([axis])), self.constant(np.array([step]))]),
                                      self.constant(np.array([0]))]) for k in range(size)]
        return self.op("Concat", rows, axis=0)

    def winograd_conv(self, x: str, weight: torch.Tensor, bias: torch.Tensor, side: int, pool: bool) -> tuple[str, int]:
        """ReLU(3x3 conv, padding 1), then a 2x2 max-pool if ``pool``, of the (S, S, N, C) map ``x`` by
        Winograd's F(m x m, 3 x 3); the (S', S', N, C') output and its side.

        Every step moves whole (N, C) pixels: the tiles' rows and then columns are strided slices, their
        transforms (B^T d B, A^T M A) products along the first axis, and the output's tiles are laid out
        by one transpose of (N, C) blocks."""
        out_channels, in_channels = weight.shape[:2]
        m = winograd_tile(side, out_channels)
        bt, g, at = winograd_matrices(m)
        size, tiles = m + 2, -(-side // m)
        padded = tiles * m + 2  # the layer's padding, and the last tiles' (whose outputs past the side are dropped)
        x = self.op("Pad", [x, self.constant(np.array([1, 1, 0, 0, padded - side - 1, padded - side - 1, 0, 0]))])
        # Input transform, rows then columns: (size, tiles, padded, N, C) -> (bx, ay, ty, tx, N, C), ax and
        # ay being the transformed column and row of a tile.
        v = self.op("MatMul", [self.constant(bt.astype(np.float32)), self.reshape(self.tile_rows(x, 0, size, m, tiles), [size, -1])])
        v = self.tile_rows(self.reshape(v, [size, tiles, padded, -1, in_channels]), 2, size, m, tiles)
        v = self.op("MatMul", [self.constant(bt.astype(np.float32)), self.reshape(v, [size, -1])])
        # Per tile position (ax, ay), a (N * tiles, in) by (in, out) matrix product, on the filters G g G^T
        # (transformed in float64, (m+2)^2 / 9 times the size of the 3x3 ones).
        u = torch.from_numpy(np.kron(g, g)) @ weight.double().reshape(-1, 9).T  # [ay * size + ax, k * in + c]
        u = u.reshape(size, size, out_channels, in_channels).permute(1, 0, 3, 2).reshape(size * size, in_channels, out_channels)
        y = self.op("MatMul", [self.reshape(v, [size * size, -1, in_channels]), self.constant(u.float().contiguous().numpy())])
        # Output transform, columns then rows: (mx, my, ty, tx, N, out).
        y = self.reshape(self.op("MatMul", [self.constant(at.astype(np.float32)), self.reshape(y, [size, -1])]), [m, size, -1])
        y = self.op("MatMul", [self.constant(at.astype(np.float32)), y])
        per_tile, pool_after = m, pool  # outputs per tile side; a pool still to take after the tiles are laid out
        if pool and m % 2 == 0:  # each tile holds (m/2)^2 whole pooling windows
            per_tile, pool_after, side = m // 2, False, side // 2
            y = self.op("ReduceMax", [self.reshape(y, [per_tile, 2, per_tile, 2, -1])], axes=[1, 3], keepdims=0)
        y = self.op("Transpose", [self.reshape(y, [per_tile, per_tile, tiles, tiles, -1])], perm=[2, 1, 3, 0, 4])
        y = self.reshape(y, [tiles * per_tile, tiles * per_tile, -1, out_channels])
        if pool_after:  # floor mode: an odd last row and column are left out
            side //= 2
            y = self.op("ReduceMax", [self.reshape(self.rows(self.rows(y, 0, 2 * side, 0), 0, 2 * side, 1), [side, 2, side, 2, -1])],
                        axes=[1, 3], keepdims=0)
            y = self.reshape(y, [side, side, -1, out_channels])
        elif tiles * per_tile != side:
            y = self.rows(self.rows(y, 0, side, 0), 0, side, 1)
        # The bias and ReLU after the pooling: both commute with a max.
        y = self.op("Add", [y, self.constant(bias.numpy().astype(np.float32))])
        return self.op("Relu", [y]), side

    def adaptive_max_pool(self, x: str, size: tuple[int, int], grid: tuple[int, int]) -> str:
        """torch's adaptive_max_pool2d from ``size`` to ``grid``: window i spans floor(i*in/out) to ceil((i+1)*in/out)."""
        if size == grid:
            return x
        if grid == (1, 1):
            return self.op("GlobalMaxPool", [x])
        if size[0] % grid[0] == 0 and size[1] % grid[1] == 0:
            kernel = [size[0] // grid[0], size[1] // grid[1]]
            return self.op("MaxPool", [x], kernel_shape=kernel, strides=kernel)
        bands = []
        for row in range(grid[0]):
            band = self.rows(x, row * size[0] // grid[0], -(-(row + 1) * size[0] // grid[0]), 2)
            cells = [self.op("ReduceMax", [self.rows(band, col * size[1] // grid[1], -(-(col + 1) * size[1] // grid[1]), 3)],
                             axes=[2, 3], keepdims=1) for col in range(grid[1])]
            bands.append(cells[0] if len(cells) == 1 else self.op("Concat", cells, axis=3))
        return bands[0] if len(bands) == 1 else self.op("Concat", bands, axis=2)


def folded(conv: nn.Conv2d, norm: nn.BatchNorm2d | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The conv's weight and bias with an inference-mode batch norm after it folded in."""
    weight, bias = conv.weight.detach().float(), conv.bias.detach().float() if conv.bias is not None else torch.zeros(conv.out_channels)
    if norm is None:
        return weight, bias
    scale = norm.weight.detach().float() / torch.sqrt(norm.running_var.float() + norm.eps)
    return weight * scale.view(-1, 1, 1, 1), (bias - norm.running_mean.float()) * scale + norm.bias.detach().float()


def plain_conv(conv: nn.Conv2d) -> bool:
    """The only conv these graphs write (and the only one the Awei models build): 3x3, stride 1, padding 1."""
    return (tuple(conv.kernel_size) == (3, 3) and tuple(conv.stride) == (1, 1) and conv.padding == (1, 1)
            and tuple(conv.dilation) == (1, 1) and conv.groups == 1 and conv.padding_mode == "zeros")


def plain_pool(pool: nn.MaxPool2d) -> bool:
    """The only max-pool these graphs write: 2x2, stride 2, no padding, floor mode."""
    def pair(value) -> tuple:
        return tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    return (pair(pool.kernel_size) == (2, 2) and pair(pool.stride) == (2, 2) and pair(pool.padding) == (0, 0)
            and pair(pool.dilation) == (1, 1) and not pool.ceil_mode)


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
        x = graph.op("Gemm", [x, graph.constant(linear.weight.detach().float().numpy()), graph.constant(linear.bias.detach().float().numpy())],
                     transB=1)
        x = graph.op("Relu", [x]) if i < len(linears) - 1 else x
    graph.nodes.append(helper.make_node("Identity", [x], ["logits"]))
    return graph


def import_onnxruntime():
    """The onnxruntime module, its telemetry off (read once, at its import): ONNX Runtime 1.32 keeps a
    device id under HOME and, where HOME cannot be written, says so on stderr at the first session."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime

    return onnxruntime
