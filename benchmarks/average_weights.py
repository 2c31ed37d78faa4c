"""Average the weights of several epochs of one training run into one model (stochastic weight averaging
done after the run), re-estimate its BatchNorm statistics, and write it as a checkpoint that ``analyze``
can use: fp16 weights, FER+ Valid's scores as its metrics and the temperature fitted there.

    videmo train ... --epochs 10 --keep-epochs --out runs/new/best.pt
    python benchmarks/average_weights.py runs/new/best.epoch{6,7,8,9,10}.pt \\
        --data /tmp/data/ferplus --out runs/new/averaged.pt

The epochs late in a cosine schedule each sit somewhere in one wide basin; their mean lies nearer its
middle than any of them, which tends to hold up better on faces unlike the training ones. Each input is an
epoch's weights that ``videmo train --keep-epochs`` kept (or any checkpoint of the same architecture). It prints FER+
Valid's accuracy, as is and mirrored, of the result.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path

import torch

from videmo.model.checkpoint import build_model, read_payload, save_checkpoint, save_with_meta
from videmo.model.inference import equalize
from videmo.training.datasets import load_dataset
from videmo.training.evaluate import evaluate
from videmo.training.images import decode_samples
from videmo.training.optimise import recalibrate_batch_norm


def averaged_state(paths: list[Path]) -> tuple[dict, dict]:
    """The mean of the checkpoints' floating-point tensors (the last one's counters), and the last one's meta."""
    payloads = [read_payload(p) for p in paths]
    states = [p["state_dict"] for p in payloads]
    mean = {
        k: torch.stack([s[k].float() for s in states]).mean(0) if v.is_floating_point() else states[-1][k]
        for k, v in states[-1].items()
    }
    return mean, payloads[-1]["meta"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoints", nargs="+", type=Path)
    ap.add_argument("--data", required=True, help="the FER+ folder the run trained on (train: BatchNorm; val: scores)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--bn-images", type=int, default=4096, help="train images that re-estimate the BatchNorm statistics")
    args = ap.parse_args()

    state, meta = averaged_state(args.checkpoints)
    model = build_model(meta)
    model.load_state_dict(state)
    train = load_dataset(args.data).split("train")
    chosen = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[: args.bn_images]
    images = decode_samples([train[i] for i in chosen], meta["image_size"], meta["channels"], progress=False)[0]
    images = equalize(images) if meta.get("equalize") else images
    mean, std = (torch.tensor(meta[k]).view(1, -1, 1, 1) for k in ("mean", "std"))
    recalibrate_batch_norm(model, images, mean, std, torch.device("cpu"), "fp32", 256)
    model.eval()

    names = [p.name for p in args.checkpoints]
    averaged = {
        "checkpoints": names,
        "epochs": [read_payload(p).get("train_state", {}).get("epoch") for p in args.checkpoints],
        "bn_images": len(images),
        "command": "python benchmarks/average_weights.py " + " ".join(names) + f" --data {Path(args.data).name}",
    }
    save_checkpoint(args.out, model, {**meta, "averaged": averaged}, half=True)
    result, about = evaluate(args.data, str(args.out), "val", None, "cpu", "fp32", 256, progress=False, mirror=False)
    metrics = {**result.as_dict(), "epoch": None, "val_loss": None}
    calibration = {
        "temperature": about["fitted_temperature"],
        "data": Path(about["data"]).name,
        "split": about["split"],
        "images": about["images"],
        "ece_before": round(about["calibration"]["ece_uncalibrated"], 4),
        "fitted": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    save_with_meta(args.out, args.out, {"metrics": metrics, "calibration": calibration})
    mirrored = evaluate(args.data, str(args.out), "val", None, "cpu", "fp32", 256, progress=False, mirror=True)[0]
    print(
        f"{args.out}: mean of {len(names)} checkpoints; FER+ Valid accuracy {result.accuracy:.4f} as is, "
        f"{mirrored.accuracy:.4f} mirrored; temperature {about['fitted_temperature']:g}"
    )


if __name__ == "__main__":
    main()
