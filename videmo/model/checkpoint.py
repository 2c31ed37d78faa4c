"""The videmo checkpoint: one ``.pt`` file with the weights and everything needed to use them.

Layout (all plain types, so ``torch.load(..., weights_only=True)`` reads it and no code runs)::

    {"format": "videmo-checkpoint", "format_version": 1,
     "meta": {...see Checkpoint.meta...}, "state_dict": {...}}
"""

from __future__ import annotations

import datetime
import importlib.util
import os
import pickle
import pickletools
import re
import stat
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from videmo.core.emotions import CLASSES
from videmo.core.errors import VidemoError
from videmo.core.files import file_sha256, written_atomically
from videmo.core.version import __version__
from videmo.model.awei import Awei
from videmo.model.checks import CheckpointError, check_meta, head_mismatch, stored_words

FORMAT = "videmo-checkpoint"
FORMAT_VERSION = 1
# The repository's models/ folder is installed as the package ``videmo_models`` (pyproject.toml),
# so a wheel carries the default model as well as a checkout does.
MODELS_PACKAGE = "videmo_models"
DEFAULT_MODEL_NAME = "awei-vgg11bn-ferplus-48px-grey-eq-video.pt"

REQUIRED_META = ("arch", "image_size", "channels", "mean", "std", "classes")


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model, ready for inference, and its metadata."""

    model: Awei
    meta: dict[str, Any]
    path: Path | None = None
    sha256: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.stem if self.path else self.meta.get("name", "unnamed")


def model_meta(model: Awei, mean: list[float], std: list[float], **more: Any) -> dict[str, Any]:
    """The metadata that rebuilds ``model``; ``more`` adds provenance (data, metrics, ...)."""
    return {
        "arch": model.arch,
        "vgg": model.vgg_variant,
        "residual": model.residual_mode,
        "image_size": model.image_size,
        "channels": model.in_channels,
        "mean": list(mean),
        "std": list(std),
        "classes": list(CLASSES),
        "videmo_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **more,
    }


def build_model(meta: dict[str, Any]) -> Awei:
    return Awei(
        arch=meta["arch"],
        in_channels=meta["channels"],
        image_size=meta["image_size"],
        num_classes=len(meta["classes"]),
        vgg=meta.get("vgg") or "vgg16",
        residual=meta.get("residual") or "one-stage",  # checkpoints from before the option: the paper's one stage
    )


def save_checkpoint(path: str | os.PathLike, model: Awei, meta: dict[str, Any], half: bool = False, **extra: Any) -> None:
    """Write atomically: a crash mid-write never leaves a truncated file under ``path``.

    ``half`` stores floating-point weights as fp16 (half the size); they are widened to
    fp32 on load. ``extra`` holds training state for ``--resume`` (optimizer, RNG...).
    """
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "meta": meta, "state_dict": state, **extra}
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with written_atomically(path) as partial:
            torch.save(payload, partial)
    except OSError as e:  # a full disk, say: the epochs so far are in the last file written
        raise VidemoError(f"{path}: cannot write the checkpoint ({e.strerror or e})") from None
    except RuntimeError as e:  # torch's zip writer reports a failed write so (a disk that fills mid-file)
        cause = str(e).strip().splitlines()[0] if str(e).strip() else "write failed"
        raise VidemoError(f"{path}: cannot write the checkpoint (torch: {cause})") from None


def save_with_meta(source: str | os.PathLike, out: str | os.PathLike, changes: dict[str, Any]) -> None:
    """A copy of checkpoint ``source`` at ``out`` whose meta has ``changes``; its weights as they were stored."""
    payload = read_payload(source)
    payload = {**payload, "meta": {**payload["meta"], **changes}}
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with written_atomically(out) as partial:
            torch.save(payload, partial)
    except OSError as e:
        raise VidemoError(f"{out}: cannot write the checkpoint ({e.strerror or e})") from None


def read_payload(path: str | os.PathLike) -> dict[str, Any]:
    """The raw checkpoint dictionary, validated; never runs code from the file."""
    path = Path(path)
    check_regular_file(path)
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: checkpoint is empty (0 bytes)")
    try:
        with warnings.catch_warnings():  # torch warns (two lines) about pickle protocols it reads reluctantly
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        code = re.search(
            r"GLOBAL ([\w.]+) (was not an allowed global|whose module)", str(e)
        )  # torch words the two cases differently
        code = code.group(1) if code and zipfile.is_zipfile(path) else imported_name(path)
        if code:
            raise CheckpointError(
                f"{path}: refused to load: the file would import and run code ({code}), not just hold weights"
            ) from None
        raise CheckpointError(f"{path}: not a readable checkpoint, truncated or corrupt (unpickling failed)") from None
    except (
        RuntimeError,
        EOFError,
        zipfile.BadZipFile,
        ValueError,
        OSError,
        KeyError,
        IndexError,
        TypeError,
        AttributeError,
    ) as e:
        # KeyError and the like: torch's legacy (non-zip) loader reading a file that is no pickle at all, such as text
        with open(path, "rb") as f:
            head = f.read(2)
        if head != b"PK" and not head.startswith(b"\x80"):  # neither torch.save's zip file nor a pickle
            raise CheckpointError(
                f"{path}: not a checkpoint: the file is not one that torch.save writes (text, or another format?)"
            ) from None
        raise CheckpointError(f"{path}: not a readable checkpoint, truncated or corrupt ({load_failure(e)})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a videmo checkpoint (no '{FORMAT}' header)")
    version = payload.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(
            f"{path}: not a videmo checkpoint (format version {stored_words(version)}: a whole number is needed)"
        )
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version} is newer than this videmo reads ({FORMAT_VERSION}); upgrade videmo"
        )
    meta = payload.get("meta")
    if not isinstance(meta, dict) or any(key not in meta for key in REQUIRED_META):
        raise CheckpointError(f"{path}: checkpoint metadata is incomplete (needs {', '.join(REQUIRED_META)})")
    if not isinstance(payload.get("state_dict"), dict):
        raise CheckpointError(f"{path}: checkpoint holds no weights")
    return payload


# What the kinds of file that are not regular are called; reading one could block or never end (/dev/zero).
SPECIAL_FILES = (
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO, a named pipe"),
    (stat.S_ISSOCK, "a socket"),
)


def check_regular_file(path: Path) -> None:
    """A CheckpointError unless ``path`` (through its links) is a regular file this process may read:
    torch.load and the sha256 would read a device such as /dev/zero forever, and wait on a pipe."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint not found") from None
    except OSError as e:  # a loop of links, a name too long, a folder on the way that cannot be searched
        raise CheckpointError(f"{path}: cannot read the checkpoint ({e.strerror or e})") from None
    if stat.S_ISDIR(mode):
        raise CheckpointError(f"{path}: a folder, not a checkpoint file")
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in SPECIAL_FILES if test(mode)), "a special file")
        raise CheckpointError(f"{path}: not a regular file ({kind}), not a checkpoint; videmo never reads it")
    if not os.access(path, os.R_OK):
        raise CheckpointError(f"{path}: cannot read the checkpoint (permission denied)")


def load_failure(error: Exception) -> str:
    """What torch's loader said about a damaged torch.save zip file, in a few words (its messages run to
    several lines and ask for bug reports); the exception's type where it is not one of these."""
    text = str(error)
    if "does not match expected size" in text or "not resizable" in text or "overflow" in text:
        return "a tensor's declared size does not match its stored data"  # said before any memory is allocated for it
    missing = re.search(r"failed locating file ([^\s:]+)|hasRecord\(\"(\w+)\"\)", text)
    if missing:
        return f"the zip file lacks torch.save's entry {missing.group(1) or missing.group(2)}"
    if "central directory" in text:
        return "the zip file's directory is missing: the file was cut short"
    return type(error).__name__


def imported_name(path: Path) -> str | None:
    """The first module attribute that a plain pickle file (not torch.save's zip) would import when
    loaded, read from its opcodes without running any (torch's safe loader stops at newer pickle
    protocols before it gets that far)."""
    try:
        with open(path, "rb") as f:
            strings: list[str] = []
            for opcode, argument, _ in pickletools.genops(f):
                if opcode.name in ("GLOBAL", "INST"):
                    return str(argument).replace(" ", ".")
                if opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                    return f"{strings[-2]}.{strings[-1]}"
                if isinstance(argument, str):
                    strings.append(argument)
    except Exception:  # noqa: BLE001 -- not a readable pickle at all: nothing to name
        return None
    return None


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Load a checkpoint for inference (eval mode, fp32, on the CPU)."""
    path = Path(path)
    payload = read_payload(path)
    meta = payload["meta"]
    check_meta(path, meta)
    try:
        with torch.device("meta"):  # no memory and no random initialisation for weights about to be replaced
            model = build_model(meta)
    except (ValueError, KeyError, TypeError, RuntimeError) as e:
        raise CheckpointError(
            f"{path}: checkpoint metadata describes no valid model ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
        ) from None
    state = {k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}
    broken = [k for k, v in state.items() if torch.is_tensor(v) and v.is_floating_point() and not torch.isfinite(v).all()]
    if broken:  # a model with NaN weights labels every face NaN, and argmax makes that "surprise"
        raise CheckpointError(
            f"{path}: weights are not finite (NaN or infinite values in {broken[0]}"
            f"{f' and {len(broken) - 1} more tensors' if len(broken) > 1 else ''}): the training diverged or the file is damaged"
        )
    try:
        model.load_state_dict(state, assign=True)
    except RuntimeError as e:
        mismatch = head_mismatch(model, meta, state)
        if mismatch:
            raise CheckpointError(f"{path}: weights do not match the architecture in its metadata ({mismatch})") from None
        detail = str(e).strip().splitlines()
        reason = detail[1].strip() if len(detail) > 1 else detail[0]
        raise CheckpointError(f"{path}: weights do not match the architecture in its metadata ({reason})") from None
    model.eval()
    extra = {k: v for k, v in payload.items() if k not in ("format", "format_version", "meta", "state_dict")}
    return Checkpoint(model=model, meta=meta, path=path, sha256=file_sha256(path), extra=extra)


def weights_path(weights: str | os.PathLike | None) -> Path:
    """The checkpoint to use: ``weights``, or the shipped default model when None (a VidemoError
    when this install lacks it, a partial clone say)."""
    if weights is not None:
        return Path(weights)
    path = default_weights()
    if path is None:
        raise VidemoError("no weights: pass a checkpoint (--weights CHECKPOINT); no default model is installed in models/")
    return path


def default_weights() -> Path | None:
    """The shipped default model, when this install has it."""
    spec = importlib.util.find_spec(MODELS_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / DEFAULT_MODEL_NAME
        if path.is_file():
            return path
    return None


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
