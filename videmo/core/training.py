"""videmo train's options (TrainConfig) and their choices: each option a field with its spec, like analyze's."""

from __future__ import annotations

from dataclasses import MISSING, dataclass
from pathlib import Path

from videmo.core.errors import VidemoError
from videmo.core.options import (
    ARCHITECTURES,
    CROP_MARGIN,
    CROP_MARGINS,
    CROP_SHIFT,
    CROP_SHIFTS,
    LAYOUTS,
    MAX_IMAGE_SIZE,
    RESIDUALS,
    VGG_VARIANTS,
    words,
)
from videmo.core.spec import flag_of, numeric, option, optional, specs

# Training's choices.
NORMALIZATIONS = {
    "unit": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),  # the paper: pixels scaled to [0, 1]
    "centered": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


LABEL_MODES = ("majority", "probability", "crossentropy")


NOISY_LABEL_MODES = ("none", "discard", "reweight", "relabel")


AUGMENTATIONS = ("none", "basic", "strong", "paper", "video", "video-hard")


BALANCES = ("none", "weights", "sampler")


OPTIMIZERS = ("adamw", "adam", "sgd")


SCHEDULES = ("cosine", "step", "constant")


PRESETS = {
    "paper": dict(
        arch="awei-vgg",
        image_size=224,
        channels=3,
        normalize="unit",
        batch_size=8,
        epochs=20,
        optimizer="adam",
        lr=1e-4,
        weight_decay=0.0,
        schedule="constant",
        warmup_epochs=0.0,
        augment="none",
        balance="none",
        label_smoothing=0.0,
    ),
}


MAX_LR = 10.0  # far past any rate that trains; above float32's range the optimizer itself fails


@dataclass
class TrainConfig:
    """``videmo train``'s options: everything a run needs, stored in its checkpoints (resume, --init)."""

    data: str = option(MISSING, "Dataset folder (RAF-DB, FER+, numbered or class folders) or FER2013 CSV.", path=True)
    layout: str | None = option(None, "Force a dataset layout instead of detecting it.", choices=LAYOUTS)
    arch: str = option(
        "awei-vgg",
        "cnn: the five convolutions; awei: with the residual branch; awei-vgg: with the VGG branch too.",
        choices=ARCHITECTURES,
    )
    vgg: str = option("vgg16", "The VGG branch's depth.", choices=VGG_VARIANTS)
    residual: str = option(
        "one-stage", "The paper's one 32x32-pooled jump, or its proposed two-stage path (blocks 1->3->5).", choices=RESIDUALS
    )
    image_size: int = option(64, "Input side in pixels.", low=32, high=MAX_IMAGE_SIZE)
    channels: int = option(1, "One grey or three RGB input channels (the command's --grey/--rgb).", command=False)
    normalize: str = option("unit", "unit: pixels in [0,1] (the paper).", choices=tuple(NORMALIZATIONS))
    pretrained: str = option("none", "VGG branch start: imagenet, none or a state-dict FILE.")
    init: str | None = option(
        None,
        "Start from this videmo checkpoint's weights (fine-tuning; 'default': the shipped model); its "
        "architecture and preprocessing must be this run's, its input size may grow (32-63 px fit a 32 px "
        "model).",
        path=True,
    )
    freeze_vgg: bool = option(False, "Keep the VGG branch's weights fixed.")
    epochs: int = option(20, "Epochs to train.", low=1, default_words="20; with --resume, the run's own")
    batch_size: int = option(64, "Images per step.", low=1)
    optimizer: str = option("adamw", "The optimiser.", choices=OPTIMIZERS)
    lr: float = option(1e-3, "Peak learning rate.", low=0, open_low=True, high=MAX_LR)
    weight_decay: float = option(0.05, "Weight decay.", low=0)
    momentum: float = option(0.9, "SGD's momentum.", command=False)
    schedule: str = option("cosine", "How the learning rate falls after warm-up.", choices=SCHEDULES)
    warmup_epochs: float = option(1.0, "Epochs of linear warm-up.", low=0)
    augment: str = option(
        "basic",
        "paper: the paper's rotations and partial crops alone; video: also turned, dim, side-lit, "
        "blurred, noisy, compressed and downscaled faces, as video shows them; video-hard: more of them, "
        "turned up to 60 degrees and darker.",
        choices=AUGMENTATIONS,
    )
    labels: str = option(
        "majority",
        "FER+'s votes: the majority label, a label drawn from the votes each epoch, or the vote shares as soft targets.",
        choices=LABEL_MODES,
    )
    equalize: bool = option(False, "Histogram-equalise every face (stored in the checkpoint: analysis does the same).")
    crop_margin: float = option(
        CROP_MARGIN,
        "How analyze crops video faces for this model: side = MTCNN box's longer side x (1 + margin).",
        low=CROP_MARGINS[0],
        high=CROP_MARGINS[1],
        default_words="FER2013's framing",
    )
    crop_shift: float = option(
        CROP_SHIFT,
        "And the crop's centre moved down by this x the box's longer side.",
        low=CROP_SHIFTS[0],
        high=CROP_SHIFTS[1],
        default_words="FER2013's framing",
    )
    crop_align: bool = option(
        False, "And each face turned upright by its eye line first (its training faces are nearly upright already).", switch=True
    )
    balance: str = option("weights", "Rare classes: weighted in the loss, drawn more often, or neither.", choices=BALANCES)
    sample_weights: str | None = option(
        None,
        "A CSV of image,weight rows (paths relative to --data): each epoch draws those training images that many "
        "times as often as the rest (weight 1), with replacement.",
        path=True,
    )
    label_smoothing: float = option(0.1, "Label smoothing.", low=0, high=1, open_high=True)
    mixup: float = option(
        0.0,
        "Mixup: each batch's faces and targets blended with the batch's own, shuffled, by a weight drawn "
        "from Beta(a, a) (0: off; 0.2-0.4 usual).",
        low=0,
    )
    noisy_labels: str = option(
        "none",
        "Samples whose labels look wrong: discard (small-loss selection), reweight (Self-Cure "
        "Network's importance weights) or relabel (and its relabelling).",
        choices=NOISY_LABEL_MODES,
    )
    noisy_rate: float = option(0.2, "discard: the share of each batch left out.", low=0, high=1, open_high=True)
    noisy_warmup: float = option(2.0, "Epochs over which the discarded share grows; relabelling starts after them.", low=0)
    amp: bool = option(False, "Mixed precision: fp16 on CUDA, bf16 + channels-last on CPUs with native bf16.")
    val_fraction: float = option(
        0.1, "Held out of train when the data has no val/test split.", low=0, open_low=True, high=1, open_high=True
    )
    seed: int = option(0, "Seed of the split, the order, augmentation and dropout.")
    device: str = option("auto", "auto, cpu or cuda[:N].")
    decode_threads: int = option(2, "Threads that decode the images (once, before training).", low=1)
    out: str = option(
        "runs/videmo/best.pt", "Best checkpoint; <its name without .pt>.last.pt (for --resume) and metrics.csv go beside it."
    )
    max_train_samples: int | None = option(
        None, "Use only N training images, drawn at random (fixed by --seed; quick trials).", low=1
    )
    bn_recalibration: int = option(
        4096, "Train images that re-estimate BatchNorm statistics before each validation (0: off).", low=0
    )
    quiet: bool = option(False, "No progress bars or per-epoch lines.")
    keep_epochs: bool = option(
        False, "Also keep each epoch's weights as <out stem>.epochN.pt (to average the late epochs' weights)."
    )

    @property
    def run_dir(self) -> Path:
        return Path(self.out).parent

    @property
    def last_path(self) -> Path:
        out = Path(self.out)
        return out.with_name(f"{out.stem}.last.pt")

    def epoch_path(self, epoch: int) -> Path:
        out = Path(self.out)
        return out.with_name(f"{out.stem}.epoch{epoch}.pt")

    def check(self) -> None:
        """What click checks on the command line, for the library's callers, who skip click: each
        choice and range from its option's spec; and the rules between options."""
        for f, spec in specs(TrainConfig):
            value = getattr(self, f.name)
            if value is None and optional(f):
                continue
            if spec.choices and value not in spec.choices:
                raise VidemoError(f"{flag_of(f, spec)} {value}: choose one of {', '.join(spec.choices)}")
            if spec.low is not None and numeric(f) and not spec.in_range(value):
                raise VidemoError(f"{flag_of(f, spec)} {words(value)}: must be {spec.bounds()}")
        if self.init and self.pretrained != "none":
            raise VidemoError(
                f"--init {self.init} and --pretrained {self.pretrained}: --init sets every weight, the VGG branch's too; give one"
            )


# What a resumed run takes from the command: where the data is now and how the run goes, not what it learns.
RESUME_TAKES = ("data", "quiet", "device", "decode_threads", "keep_epochs")
