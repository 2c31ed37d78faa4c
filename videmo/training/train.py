"""Train an Awei model on a labelled face dataset; keep the best checkpoint by validation accuracy.

The loop reads top to bottom: data -> model -> optimiser -> per epoch (train, validate, log,
checkpoint). Every epoch writes ``<out stem>.last.pt`` (weights, optimiser, epoch, history) so that a
run stopped at any moment resumes with ``--resume`` and loses at most the epoch in progress.
Shuffling, augmentation and dropout are seeded per epoch, so a resumed run on the CPU ends
with the same weights as an uninterrupted one. What a resume reads back and ``--init``'s weights are
``run_state``'s; the optimiser, LR schedule and BatchNorm recalibration are ``optimise``'s.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from videmo.core.emotions import CLASSES
from videmo.core.errors import VidemoError, check_creatable
from videmo.core.training import NORMALIZATIONS, RESUME_TAKES, TrainConfig
from videmo.model.awei import HIDDEN_UNITS, Awei
from videmo.model.checkpoint import count_parameters, model_meta, save_checkpoint
from videmo.model.device import autocast, memory_format_for, prepare_model, resolve_device, resolve_precision
from videmo.model.inference import equalize, predict
from videmo.model.vgg import load_vgg_weights
from videmo.training.augment import augment, epoch_order, epoch_targets, equalizes_per_batch, mixup
from videmo.training.calibration import fit_temperature
from videmo.training.datasets import NO_LABEL, Dataset, draw_weights, format_counts, load_dataset, read_sample_weights
from videmo.training.images import decode_image, decode_samples
from videmo.training.metrics import scores
from videmo.training.noisy import NoisyLabels
from videmo.training.optimise import class_weights, learning_rate, make_optimizer, move_optimizer_state, recalibrate_batch_norm
from videmo.training.run_state import read_resume_state, resumed_out, weights_to_start_from, write_metrics_csv


def train(config: TrainConfig, resume: str | None = None, command: str = "", epochs: int | None = None) -> dict:
    """Run the training; returns the best checkpoint's metrics. A resumed run keeps its own settings
    (but RESUME_TAKES) and length, unless ``epochs`` sets another (the cosine schedule is then
    recomputed for it)."""
    state = None
    if resume:
        state = read_resume_state(resume)
        kept = {k: v for k, v in state["config"].items() if k in {f.name for f in fields(TrainConfig)}}
        overrides = {
            "epochs": epochs or kept["epochs"],
            "out": resumed_out(resume, kept["out"]),
            **{name: getattr(config, name) for name in RESUME_TAKES},
        }
        config = TrainConfig(**{**kept, **overrides})
    config.check()
    if Path(config.out).is_dir():
        raise VidemoError(
            f"--out {config.out}: is a folder; give the checkpoint's file name (for example {Path(config.out) / 'best.pt'})"
        )
    check_creatable(Path(config.out), "--out")  # before the data loads and the first epoch runs
    say = (lambda *a: None) if config.quiet else (lambda *a: print(*a, flush=True))
    if state is not None and state["epoch"] >= config.epochs:  # before the data loads
        say(
            f"nothing to train: {resume} has trained {state['epoch']} epochs, and --epochs is {config.epochs}; "
            "a larger --epochs goes on"
        )
        return state["best"]
    device = resolve_device(config.device)
    precision = resolve_precision("auto", device) if config.amp else "fp32"
    start_weights = weights_to_start_from(config) if config.init and state is None else None  # before the data loads

    dataset = load_dataset(config.data, config.layout)
    listed_weights = read_sample_weights(config.sample_weights, dataset) if config.sample_weights else {}
    say(f"dataset {dataset.root} ({dataset.layout} layout)\n{format_counts(dataset)}")
    for note in dataset.notes:
        say(f"note: {note}")
    train_x, train_y, train_votes, train_sources, val_x, val_y, val_source = prepare_splits(dataset, config, say)
    weights = None
    if config.sample_weights:
        weights, note = draw_weights(listed_weights, train_sources, config.sample_weights)
        say(note)
    say(
        f"training on {len(train_y)} images ({config.labels} labels), validating on {len(val_y)} ({val_source}); "
        f"{config.image_size} px {'grey' if config.channels == 1 else 'RGB'}{', equalised' if config.equalize else ''}; "
        f"device {device}, precision {precision}"
    )

    torch.manual_seed(config.seed)  # the initial weights: the same seed starts from the same model
    model = Awei(config.arch, config.channels, config.image_size, len(CLASSES), config.vgg, residual=config.residual)
    if config.arch == "awei-vgg" and config.pretrained != "none" and state is None:
        load_vgg_weights(model.vgg, config.vgg, config.pretrained)
    if start_weights is not None:
        model.load_state_dict(start_weights)
        say(f"starting from the weights of {config.init}")
    if config.freeze_vgg and model.vgg is not None:
        model.vgg.requires_grad_(False)
    given = train_votes.argmax(1) if config.labels != "majority" else train_y
    noisy = NoisyLabels(config.noisy_labels, len(train_y), HIDDEN_UNITS, config.noisy_rate, config.noisy_warmup, given)
    optimizer = make_optimizer([model, noisy], config)
    start_epoch, best, history = 0, {"accuracy": -1.0}, []
    if state is not None:
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, best, history = state["epoch"], state["best"], state["history"]
        if "noisy" in state:
            noisy.load_state_dict(state["noisy"])
        say(f"resuming {resume} after epoch {start_epoch}")
    prepare_model(model, device, precision)
    noisy.to(device)
    move_optimizer_state(optimizer, device)
    say(f"model {config.arch}{'+' + config.vgg if model.vgg is not None else ''}: {count_parameters(model):,} parameters")

    per_class = torch.bincount(train_y, minlength=len(CLASSES)).float() if config.labels == "majority" else train_votes.sum(0)
    loss_weights = class_weights(per_class).to(device) if config.balance == "weights" else None
    mean, std = (torch.tensor(v[: config.channels], device=device).view(1, -1, 1, 1) for v in NORMALIZATIONS[config.normalize])
    steps_per_epoch = math.ceil(len(train_y) / config.batch_size)
    calibration = torch.randperm(len(train_y), generator=torch.Generator().manual_seed(config.seed))[: config.bn_recalibration]
    per_batch = equalizes_per_batch(config.augment, config.equalize)  # train_x is then not equalised yet
    calibration_x = equalize(train_x[calibration]) if per_batch else train_x[calibration]
    metrics_path = config.run_dir / "metrics.csv"
    for epoch in range(start_epoch, config.epochs):
        started = time.time()
        generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
        torch.manual_seed(config.seed * 100_003 + epoch)  # dropout
        order = epoch_order(train_votes.argmax(1) if config.labels != "majority" else train_y, config.balance, generator, weights)
        targets = noisy.targets(epoch_targets(train_y, train_votes, config.labels, generator))
        model.train()
        total_loss, total_hits, seen = 0.0, 0, 0
        bar = tqdm(
            range(steps_per_epoch),
            desc=f"epoch {epoch + 1}/{config.epochs}",
            unit="batch",
            disable=True if config.quiet else None,
            leave=False,
        )
        for step in bar:
            lr = learning_rate(config, epoch + step / steps_per_epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr
            index = order[step * config.batch_size : (step + 1) * config.batch_size]
            images = augment(train_x[index], config.augment, generator, per_batch).to(device, non_blocking=True)
            images = ((images - mean) / std).contiguous(memory_format=memory_format_for(device, precision))
            labels = targets[index].to(device, non_blocking=True)
            if config.mixup > 0:
                images, labels = mixup(images, labels, config.mixup, generator)
            with autocast(device, precision):
                hidden = model.hidden(images)
                logits = model.head[-1](hidden)
            loss = noisy.loss(
                logits.float(), hidden, labels, index, epoch + step / steps_per_epoch, loss_weights, config.label_smoothing
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(labels)
            total_hits += int((logits.argmax(1) == (labels if labels.ndim == 1 else labels.argmax(1))).sum())
            seen += len(labels)
            bar.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{total_hits / seen:.3f}")
        bar.close()
        recalibrate_batch_norm(model, calibration_x, mean, std, device, precision, config.batch_size * 2)
        val_loss, val_scores, val_logits = validate(model, val_x, val_y, mean, std, device, precision, config.batch_size * 2)
        row = {
            "epoch": epoch + 1,
            "train_loss": total_loss / seen,
            "train_accuracy": total_hits / seen,
            "val_loss": val_loss,
            "val_accuracy": val_scores.accuracy,
            "val_macro_f1": val_scores.macro_f1,
            **{f"val_recall_{c}": r for c, r in zip(CLASSES, val_scores.recall)},
            "lr": learning_rate(config, epoch + 1 - 1e-9),
            "seconds": time.time() - started,
        }
        history.append(row)
        say(format_epoch(row))
        diverged(model, row, best, config)
        improved = val_scores.accuracy > best["accuracy"]
        if improved:
            # with the temperature of the probabilities analyze writes, fitted on the validation faces (calibration.py)
            best = {
                "epoch": epoch + 1,
                **val_scores.as_dict(),
                "val_loss": val_loss,
                "temperature": fit_temperature(val_logits, val_y),
            }
        meta = final_meta(model, config, dataset, best, history, command)
        if improved:
            save_checkpoint(config.out, model, meta)
        save_checkpoint(
            config.last_path,
            model,
            meta,
            optimizer=optimizer.state_dict(),
            train_state={
                "epoch": epoch + 1,
                "best": best,
                "history": history,
                "config": asdict(config),
                "noisy": noisy.state_dict(),
            },
        )
        if config.keep_epochs:
            save_checkpoint(config.epoch_path(epoch + 1), model, meta)
        write_metrics_csv(metrics_path, history)
        if config.noisy_labels != "none":
            noisy.write_table(config.run_dir / "noisy.csv", train_sources)
    say(
        f"best: epoch {best.get('epoch')}, val accuracy {best['accuracy']:.4f}, macro-F1 {best.get('macro_f1', 0):.4f} -> {config.out}"
    )
    return best


def prepare_splits(dataset: Dataset, config: TrainConfig, say):
    """Decoded train (images, labels, votes, the images' paths) and validation (images, labels) tensors.

    Validation is the val split, else test, else a held-out fraction; it scores labelled faces only,
    and so does training in ``majority`` mode (the soft modes also learn from FER+'s faces without
    a majority).
    """
    train_samples = [s for s in dataset.split("train") if config.labels != "majority" or s.label != NO_LABEL]
    if not train_samples:
        raise VidemoError(f"{dataset.root}: the dataset has no training split")
    val_source = next((name for name in ("val", "test") if dataset.split(name)), None)
    if val_source is None:
        generator = torch.Generator().manual_seed(config.seed)
        order = torch.randperm(len(train_samples), generator=generator).tolist()
        n_val = max(1, round(config.val_fraction * len(train_samples)))
        val_samples = [train_samples[i] for i in order[:n_val]]
        train_samples = [train_samples[i] for i in order[n_val:]]
        val_source = f"{config.val_fraction:.0%} of train, seed {config.seed}"
    else:
        val_samples = [s for s in dataset.split(val_source) if s.label != NO_LABEL]
        val_source = f"the {val_source} split"
    if config.max_train_samples and config.max_train_samples < len(train_samples):
        generator = torch.Generator().manual_seed(config.seed + 1)
        keep = torch.randperm(len(train_samples), generator=generator)[: config.max_train_samples].sort().values
        train_samples = [train_samples[i] for i in keep.tolist()]
    progress = not config.quiet
    train_x, train_y, train_votes, skipped_train = decode_samples(
        train_samples, config.image_size, config.channels, config.decode_threads, progress, report=say
    )
    val_x, val_y, _, skipped_val = decode_samples(
        val_samples, config.image_size, config.channels, config.decode_threads, progress, report=say
    )
    kept = (
        train_samples
        if not skipped_train
        else [s for s in train_samples if decode_image(s.source, config.image_size, config.channels) is not None]
    )  # a second pass only then
    train_sources = [str(s.source) if isinstance(s.source, Path) else f"CSV row of pixels {i}" for i, s in enumerate(kept)]
    if skipped_train or skipped_val:
        say(f"skipped {skipped_train + skipped_val} unreadable images ({skipped_train} train, {skipped_val} validation)")
    if len(train_y) == 0 or len(val_y) == 0:
        raise VidemoError(f"{dataset.root}: no readable images in the {'training' if len(train_y) == 0 else 'validation'} data")
    taught = torch.unique(train_votes.argmax(1) if config.labels != "majority" else train_y)
    if len(taught) < 2:
        raise VidemoError(
            f"{dataset.root}: the training images are all of one class ({CLASSES[int(taught[0])]}): "
            "a model trained on them would answer it for every face"
        )
    if config.equalize:  # video's degradations come first: its batches are equalised after them (augment)
        train_x, val_x = train_x if equalizes_per_batch(config.augment, True) else equalize(train_x), equalize(val_x)
    return train_x, train_y, train_votes, train_sources, val_x, val_y, val_source


def validate(model, images, labels, mean, std, device, precision, batch_size):
    logits = predict(model, images, mean, std, device, precision, batch_size)
    loss = float(F.cross_entropy(logits, labels))
    return loss, scores(labels, logits.argmax(1), len(CLASSES)), logits


def diverged(model: Awei, row: dict, best: dict, config: TrainConfig) -> None:
    """A VidemoError, before this epoch's weights are saved anywhere, where its loss or weights are no
    longer finite: every later epoch would be NaN too, and a NaN checkpoint saved as the best would
    only fail later, in every command that loads it. The best and resume files of earlier epochs stay."""
    weights_finite = all(bool(torch.isfinite(p).all()) for p in model.parameters())
    if math.isfinite(row["train_loss"]) and weights_finite:
        return
    kept = (
        f"the best of the epochs before, epoch {best['epoch']}, is in {config.out}; "
        if "epoch" in best
        else "no checkpoint was written; "
    )
    raise VidemoError(
        f"the training diverged in epoch {row['epoch']} (train loss {row['train_loss']}"
        f"{'' if weights_finite else ', weights not finite'}): "
        f"{kept}lower --lr (now {config.lr:g}) or --weight-decay (now {config.weight_decay:g})"
    )


def final_meta(model: Awei, config: TrainConfig, dataset: Dataset, best: dict, history: list, command: str) -> dict:
    mean, std = NORMALIZATIONS[config.normalize]
    calibration = {"temperature": best["temperature"], "data": "the run's validation split"} if "temperature" in best else None
    return model_meta(
        model,
        mean[: config.channels],
        std[: config.channels],
        crop={"margin": config.crop_margin, "shift": config.crop_shift, "align": config.crop_align},
        equalize=config.equalize,
        trained_on=dataset.describe(),
        metrics=best,
        epochs_trained=len(history),
        history=history,
        train_config=asdict(config),
        pretrained=config.pretrained,
        command=command,
        **({"calibration": calibration} if calibration else {}),
    )


def format_epoch(row: dict) -> str:
    recalls = " ".join(f"{c[:4]}={row[f'val_recall_{c}']:.2f}" for c in CLASSES)
    return (
        f"epoch {row['epoch']:>3}  train loss {row['train_loss']:.4f} acc {row['train_accuracy']:.4f}  "
        f"val loss {row['val_loss']:.4f} acc {row['val_accuracy']:.4f} macro-F1 {row['val_macro_f1']:.4f}  "
        f"lr {row['lr']:.2e}  {row['seconds']:.0f}s\n           recall {recalls}"
    )
