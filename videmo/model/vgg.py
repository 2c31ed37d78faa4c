"""Pretrained ImageNet weights for the VGG branch: torchvision's weights API online, a file offline."""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn

from videmo.core.errors import VidemoError


def load_vgg_weights(features: nn.Module, variant: str, source: str) -> None:
    """Load ImageNet weights into a VGG ``features`` module.

    ``source`` is ``imagenet`` (torchvision's weights, downloaded once into its cache) or the
    path of a saved state dict: a whole torchvision VGG's (``features.0.weight``...) or its
    ``features`` part alone (``0.weight``...). Classifier weights in the file are ignored.
    """
    if source == "imagenet":
        state = imagenet_state_dict(variant)
        origin = f"torchvision's {variant} ImageNet weights"
    else:
        path = Path(source)
        if not path.is_file():
            raise VidemoError(f"--pretrained {source}: no such file (use imagenet, none or a VGG state-dict file)")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # any unreadable or unsafe file gets the same one-line answer
            raise VidemoError(f"{path}: not a loadable VGG state dict ({type(e).__name__})") from None
        origin = str(path)
    if not isinstance(state, dict):
        raise VidemoError(f"{origin}: expected a state dict")
    features_state = {k.removeprefix("features."): v for k, v in state.items() if not k.startswith("classifier.")}
    try:
        features.load_state_dict(features_state)
    except RuntimeError as e:  # its first line only names the module; the second says what does not fit
        detail = str(e).strip().splitlines()
        reason = detail[1].strip() if len(detail) > 1 else detail[0]
        raise VidemoError(f"{origin}: does not fit {variant}'s conv layers ({reason})") from None


def imagenet_state_dict(variant: str) -> dict:
    """torchvision's weights, from torch's cache or downloaded into it (hash checked), loaded as
    tensors only: torch.hub's default would run whatever a tampered cache file holds."""
    weights = torchvision.models.get_model_weights(variant).IMAGENET1K_V1
    try:
        return weights.get_state_dict(progress=True, check_hash=True, weights_only=True)
    except OSError as e:  # URLError is an OSError: no network, DNS failure, refused connection
        raise VidemoError(
            f"--pretrained imagenet: could not download {variant}'s ImageNet weights ({type(e).__name__}: {e}); "
            "offline, use --pretrained none or --pretrained FILE with a saved state dict"
        ) from None
    except Exception as e:  # a damaged or unsafe file in the cache
        cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        raise VidemoError(
            f"--pretrained imagenet: {cached} does not load as weights ({type(e).__name__}); delete it to download it again"
        ) from None
