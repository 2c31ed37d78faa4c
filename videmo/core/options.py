"""What each command can be told: one options object per command, and the choices it offers.

Torch-free on purpose: the CLI builds and checks its options from here before any model is
imported, so a usage error answers at once, and every stage imports the object it reads without
importing the wiring. A value the command line would refuse raises VidemoError here too, so the
library (``videmo.analyze(...)``) refuses what ``videmo analyze`` refuses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from videmo.core.errors import VidemoError

# The classifier (models.Awei), where it runs (device), and the datasets train and evaluate read (data).
ARCHITECTURES = ("cnn", "awei", "awei-vgg")
RESIDUALS = ("one-stage", "two-stage")
VGG_VARIANTS = ("vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
RUNTIMES = ("auto", "torch", "onnx")  # what runs the classifier (see runtime.resolve_runtime)
LAYOUTS = ("rafdb", "ferplus", "numbered", "folders", "fer-csv")
SPLITS = ("train", "val", "test")

# Training's choices.
NORMALIZATIONS = {
    "unit": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),  # the paper: pixels scaled to [0, 1]
    "centered": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
LABEL_MODES = ("majority", "probability", "crossentropy")
NOISY_LABEL_MODES = ("none", "discard", "reweight", "relabel")
AUGMENTATIONS = ("none", "basic", "strong", "paper")
BALANCES = ("none", "weights", "sampler")
OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("cosine", "step", "constant")
PRESETS = {
    "paper": dict(arch="awei-vgg", image_size=224, channels=3, normalize="unit", batch_size=8, epochs=20,
                  optimizer="adam", lr=1e-4, weight_decay=0.0, schedule="constant", warmup_epochs=0.0,
                  augment="none", balance="none", label_smoothing=0.0),
}

# How FER2013's own face finder framed its faces, in MTCNN's terms (see ``classify.framing``): measured
# by running videmo's MTCNN on the FER2013 val faces (benchmarks/crop_framing.py). A checkpoint stores
# the crop it was trained with; these are the defaults of ``videmo train``.
CROP_MARGIN = -0.04
CROP_SHIFT = -0.01
CROP_MARGINS, CROP_SHIFTS = (-0.5, 3.0), (-1.0, 1.0)  # the ranges train takes and a checkpoint may store

SMOOTH_S = 0.5  # see the README: what the real videos showed
MIN_EPISODE_S = 0.5


@dataclass(frozen=True)
class AnalyzeOptions:
    """``videmo analyze``'s options, as the stages read them."""

    weights: str | None = None  # None: the shipped default model
    fps: float | None = None  # analyse about this many frames per second of video
    every: int | None = None  # or every Nth frame
    detect_width: int = 640  # frames wider than this are shrunk for detection
    min_face: int = 40  # pixels of the original frame
    det_threshold: float = 0.9
    detect_every: int = 4  # the whole MTCNN pyramid on every Kth frame of a chunk, only near the faces found in between (see detect)
    margin: float | None = None  # crop side = longer box side x (1 + margin); None: the checkpoint's own crop
    mirror: bool = True  # a close call is labelled by the mean of its and its mirror image's logits (see inference.logits_of)
    batch_size: int = 64  # faces per classifier step
    chunk: int = 16  # frames decoded and detected together
    bin_s: float = 1.0
    smooth_s: float = SMOOTH_S  # centred window that smooths each face's probabilities before episodes are cut
    min_episode_s: float = MIN_EPISODE_S  # shorter episodes merge into their neighbours
    device: str = "auto"
    precision: str = "auto"
    runtime: str = "auto"  # auto: ONNX Runtime where the classifier runs fp32 on the CPU, torch elsewhere (runtime.resolve_runtime)
    annotate: bool = False  # also write annotated.mp4
    plots: bool = True  # write timeline.png and faces.png (a large batch can skip them: report.html then shows none)
    start_s: float | None = None  # analyse the frames from this time in the video on (None: from its start)
    end_s: float | None = None  # and before this one (None: to its end); frames keep the video's own times
    threads: int | None = None  # torch threads while analysing (None: the process's count when the Analyzer is made)
    lanes: int | None = None  # chunks detected and classified at once, each in its own thread (None: see lanes.default_lanes)

    def __post_init__(self) -> None:
        """Refuse what ``videmo analyze`` refuses, in the same words: a chunk of 0 looped for ever, and
        fps with every failed on each video after the models had loaded."""
        if self.fps is not None and self.every is not None:
            raise VidemoError("fps and every cannot be used together: give --fps or --every, not both")
        for name, (low, open_low, high) in OPTION_RANGES.items():
            value = getattr(self, name)
            if value is None and name in OPTIONAL:
                continue
            if isinstance(value, str):
                raise VidemoError(f"{name}: a number, not the text '{value}'")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise VidemoError(f"{name} {words(value)}: not a finite number")
            if value < low or (open_low and value == low) or (high is not None and value > high):
                bounds = f"{'above' if open_low else 'at least'} {low}" + (f" and at most {high}" if high is not None else "")
                raise VidemoError(f"{name} {words(value)}: must be {bounds}")
        if self.start_s is not None and self.end_s is not None and self.end_s <= self.start_s:
            raise VidemoError(f"--start {words(self.start_s)} and --end {words(self.end_s)}: the end must come after the start")
        if self.precision not in PRECISIONS:
            raise VidemoError(f"--precision {self.precision}: choose one of {', '.join(PRECISIONS)}")
        if self.runtime not in RUNTIMES:
            raise VidemoError(f"--runtime {self.runtime}: choose one of {', '.join(RUNTIMES)}")


# Input sides a checkpoint may declare, and train take: the paper's model takes 224 px; far larger would build
# a head of billions of weights.
MAX_IMAGE_SIZE = 4096
MAX_LR = 10.0  # far past any rate that trains; above float32's range the optimizer itself fails
MAX_THREADS = 256  # more torch threads or lanes than any machine has cores only wait; tens of thousands abort the process (OpenMP)
# Each number option's range, as the CLI checks it: (lowest, whether the lowest is excluded, highest or None).
OPTION_RANGES = {"fps": (0, True, None), "every": (1, False, None), "detect_width": (64, False, None), "min_face": (1, False, None),
                 "det_threshold": (0, False, 1), "detect_every": (1, False, None), "margin": (-0.5, False, None), "batch_size": (1, False, None),
                 "chunk": (1, False, None), "bin_s": (0, True, None), "smooth_s": (0, False, None),
                 "min_episode_s": (0, False, None), "threads": (1, False, MAX_THREADS), "lanes": (1, False, MAX_THREADS),
                 "start_s": (0, False, None), "end_s": (0, True, None)}
OPTIONAL = ("fps", "every", "margin", "threads", "lanes", "start_s", "end_s")  # None: not set


def words(value: object) -> str:
    """A setting's value as a message shows it, never as Python writes it: 'not set' for None, no '.0'
    on a whole number, a text as it is."""
    if value is None:
        return "not set"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass
class TrainConfig:
    """``videmo train``'s options: everything a run needs, stored in its checkpoints (resume, --init)."""

    data: str
    layout: str | None = None
    arch: str = "awei-vgg"
    vgg: str = "vgg16"
    residual: str = "one-stage"
    image_size: int = 64
    channels: int = 1
    normalize: str = "unit"
    pretrained: str = "none"
    init: str | None = None  # a videmo checkpoint whose weights the run starts from (fine-tuning)
    freeze_vgg: bool = False
    epochs: int = 20
    batch_size: int = 64
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.05
    momentum: float = 0.9
    schedule: str = "cosine"
    warmup_epochs: float = 1.0
    augment: str = "basic"
    labels: str = "majority"
    equalize: bool = False
    crop_margin: float = CROP_MARGIN
    crop_shift: float = CROP_SHIFT
    balance: str = "weights"
    label_smoothing: float = 0.1
    noisy_labels: str = "none"  # what videmo.noisy does with samples whose labels look wrong
    noisy_rate: float = 0.2  # discard: the share of each batch left out once warmed up
    noisy_warmup: float = 2.0  # epochs before relabelling starts, over which the discarded share grows
    amp: bool = False
    val_fraction: float = 0.1
    seed: int = 0
    device: str = "auto"
    decode_threads: int = 2
    out: str = "runs/videmo/best.pt"
    max_train_samples: int | None = None
    bn_recalibration: int = 4096  # unaugmented train images that re-estimate BatchNorm statistics each epoch; 0: off
    quiet: bool = False

    @property
    def run_dir(self) -> Path:
        return Path(self.out).parent

    @property
    def last_path(self) -> Path:
        out = Path(self.out)
        return out.with_name(f"{out.stem}.last.pt")

    def check(self) -> None:
        """The rules that click cannot state (the library's callers skip click)."""
        for flag, value, choices in (("--normalize", self.normalize, NORMALIZATIONS), ("--augment", self.augment, AUGMENTATIONS),
                                     ("--labels", self.labels, LABEL_MODES), ("--balance", self.balance, BALANCES),
                                     ("--optimizer", self.optimizer, OPTIMIZERS), ("--schedule", self.schedule, SCHEDULES),
                                     ("--noisy-labels", self.noisy_labels, NOISY_LABEL_MODES)):
            if value not in choices:
                raise VidemoError(f"{flag} {value}: choose one of {', '.join(choices)}")
        if self.epochs < 1 or self.batch_size < 1:
            raise VidemoError("--epochs and --batch-size must be at least 1")
        if not 0 <= self.noisy_rate < 1 or self.noisy_warmup < 0:
            raise VidemoError("--noisy-rate must be at least 0 and below 1, --noisy-warmup at least 0")
        if not 0 < self.val_fraction < 1:
            raise VidemoError("--val-fraction must be between 0 and 1")
        if self.init and self.pretrained != "none":
            raise VidemoError(f"--init {self.init} and --pretrained {self.pretrained}: --init sets every weight, the VGG branch's too; give one")


# What a resumed run takes from the command: where the data is now and how the run goes, not what it learns.
RESUME_TAKES = ("data", "quiet", "device", "decode_threads")
