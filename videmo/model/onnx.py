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
            options.add_external_initializers(
                list(self.external), [onnxruntime.OrtValue.ortvalue_from_numpy(a) for a in self.external.values()]
            )
        model = helper.make_model(
            helper.make_graph(self.nodes, "videmo", inputs, outputs, self.weights),
            opset_imports=[helper.make_opsetid("", OPSET)],
            producer_name="videmo",
        )
        return onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

    def op(self, kind: str, inputs: list[str], hint: str | None = None, **attributes) -> str:
        from onnx import helper

        out = self.name(hint or kind.lower())
        self.nodes.append(helper.make_node(kind, inputs, [out], **attributes))
        return out

    def conv(self, x: str, weight: torch.Tensor, bias: torch.Tensor, pads: tuple[int, int, int, int] = (1, 1, 1, 1)) -> str:
        return self.op(
            "Conv",
            [x, self.constant(weight.numpy().astype(np.float32)), self.constant(bias.numpy().astype(np.float32))],
            kernel_shape=list(weight.shape[-2:]),
            pads=list(pads),
        )

    def max_pool(self, x: str) -> str:
        return self.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])

    def rows(self, x: str, start: int, stop: int, axis: int) -> str:
        return self.op(
            "Slice", [x, self.constant(np.array([start])), self.constant(np.array([stop])), self.constant(np.array([axis]))]
        )

    def reshape(self, x: str, shape: list[int]) -> str:
        return self.op("Reshape", [x, self.constant(np.array(shape))])

    def transpose(self, x: str) -> str:
        """(N, C, H, W) <-> (H, W, N, C): the same permutation either way."""
        return self.op("Transpose", [x], perm=[2, 3, 0, 1])

    def tile_rows(self, x: str, axis: int, size: int, step: int, tiles: int) -> str:
        """The ``size`` overlapping rows of ``tiles`` tiles along ``axis`` of ``x``, stacked on a new first
        axis: the k-th holds rows k, k + step, ... (one per tile), each a strided slice of whole rows."""
        rows = [
            self.op(
                "Unsqueeze",
                [
                    self.op(
                        "Slice",
                        [
                            x,
                            self.constant(np.array([k])),
                            self.constant(np.array([k + step * (tiles - 1) + 1])),
                            self.constant(np.array([axis])),
                            self.constant(np.array([step])),
                        ],
                    ),
                    self.constant(np.array([0])),
                ],
            )
            for k in range(size)
        ]
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
        v = self.op(
            "MatMul", [self.constant(bt.astype(np.float32)), self.reshape(self.tile_rows(x, 0, size, m, tiles), [size, -1])]
        )
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
            y = self.op(
                "ReduceMax",
                [self.reshape(self.rows(self.rows(y, 0, 2 * side, 0), 0, 2 * side, 1), [side, 2, side, 2, -1])],
                axes=[1, 3],
                keepdims=0,
            )
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
            cells = [
                self.op(
                    "ReduceMax",
                    [self.rows(band, col * size[1] // grid[1], -(-(col + 1) * size[1] // grid[1]), 3)],
                    axes=[2, 3],
                    keepdims=1,
                )
                for col in range(grid[1])
            ]
            bands.append(cells[0] if len(cells) == 1 else self.op("Concat", cells, axis=3))
        return bands[0] if len(bands) == 1 else self.op("Concat", bands, axis=2)


def import_onnxruntime():
    """The onnxruntime module, its telemetry off (read once, at its import): ONNX Runtime 1.32 keeps a
    device id under HOME and, where HOME cannot be written, says so on stderr at the first session."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime

    return onnxruntime
