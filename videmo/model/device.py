"""Where and in which precision the network runs."""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from videmo.core.errors import VidemoError
from videmo.core.options import PRECISIONS


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` is the first CUDA GPU when there is one, else the CPU."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise VidemoError(f"--device {spec}: expected auto, cpu or cuda[:N]") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise VidemoError(f"--device {spec}: no CUDA GPU is available here; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise VidemoError(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s) here")
    elif device.type != "cpu":
        raise VidemoError(f"--device {spec}: expected auto, cpu or cuda[:N]")
    return device


def cpu_has_fast_bf16() -> bool:
    """bf16 only pays on CPUs with native bf16 matrix units (AMX or AVX512-BF16)."""
    cpu = torch.cpu
    return bool(
        getattr(cpu, "_is_amx_tile_supported", lambda: False)() or getattr(cpu, "_is_avx512_bf16_supported", lambda: False)()
    )


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto``: fp16 on CUDA, bf16 on CPUs that run it natively, else fp32."""
    if precision not in PRECISIONS:
        raise VidemoError(f"--precision {precision}: choose one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        if precision == "fp16" and device.type == "cpu":
            raise VidemoError("--precision fp16 needs a CUDA device; use bf16 or fp32 on the CPU")
        return precision
    if device.type == "cuda":
        return "fp16"
    return "bf16" if cpu_has_fast_bf16() else "fp32"


def to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """A tensor of ``array`` on ``device``; to a GPU through pinned memory, so the copy runs asynchronously."""
    tensor = torch.from_numpy(array)
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor


def autocast(device: torch.device, precision: str):
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def memory_format_for(device: torch.device, precision: str) -> torch.memory_format:
    """Channels-last where autocast runs (mixed precision needs it to pay), and on the CPU in fp32
    too, where oneDNN's convolutions run faster in it (training and inference alike)."""
    return torch.channels_last if precision != "fp32" or device.type == "cpu" else torch.contiguous_format


def prepare_model(model: torch.nn.Module, device: torch.device, precision: str) -> torch.nn.Module:
    """Move to ``device``, in the memory format its inputs will have (``memory_format_for``)."""
    return model.to(device).to(memory_format=memory_format_for(device, precision))
