"""What each command can be told: one options object per command, and the choices it offers.

Torch-free on purpose: the CLI builds and checks its options from here before any model is
imported, so a usage error answers at once, and every stage imports the object it reads without
importing the wiring. A value the command line would refuse raises VidemoError here too, so the
library (``videmo.analyze(...)``) refuses what ``videmo analyze`` refuses.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass
from pathlib import Path

from videmo.core.errors import VidemoError
from videmo.core.spec import flag_of, numeric, option, optional, specs

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
AUGMENTATIONS = ("none", "basic", "strong", "paper", "video")
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

MAX_THREADS = 256  # more torch threads or lanes than any machine has cores only wait; tens of thousands abort the process (OpenMP)
# Which face-frames are unreadable (see docs/outputs.md): the limits measured on the development set of
# video faces and on degraded FER+ faces (benchmarks/devset.py, benchmarks/readability.py).
MAX_YAW, MIN_SHARPNESS, MIN_BRIGHTNESS = 45.0, 0.02, 0.15
SMOOTH_S = 0.5  # see the README: what the real videos showed
MIN_EPISODE_S = 0.5


@dataclass(frozen=True)
class AnalyzeOptions:
    """``videmo analyze``'s options, as the stages read them (summary.json's settings, in this order)."""

    weights: str | None = option(None, "Checkpoint to use (default: the shipped model).", short="-w", path=True)
    fps: float | None = option(None, "Analyse about this many frames per second of video.", low=0, open_low=True)
    every: int | None = option(None, "Analyse every Nth frame.", low=1)
    detect_width: int = option(640, "Detect faces on a copy at most this wide.", low=64)
    min_face: int = option(40, "Smallest face side, in original pixels.", low=1)
    det_threshold: float = option(0.9, "Minimum face detection confidence.", low=0, high=1)
    detect_every: int = option(4, "Search the whole of each chunk's first frame and every Nth after it for faces (and any frame after "
                               "a cut or a gap of over 0.15 s), and in between only near the faces of the frame before (a new face "
                               "is found at the next such frame). 1: search every frame whole.", low=1)
    margin: float | None = option(None, "Crop side = longer box side x (1 + margin) [default: the model's own crop].", low=-0.5)
    mirror: bool = option(True, "Average a face with its mirror image where its top two emotions are close, which settles close "
                          "calls more accurately.", switch=True)
    batch_size: int = option(64, "Faces per classifier step (with --mirror, its close calls run again mirrored).", low=1)
    chunk: int = option(16, "Frames decoded and detected together.", low=1)
    bin_s: float = option(1.0, "Timeline bin, seconds.", flag="--bin", low=0, open_low=True)
    smooth_s: float = option(SMOOTH_S, "Seconds of the centred window that smooths each face's probabilities for episodes (0: none).",
                             flag="--smooth", low=0)
    min_episode_s: float = option(MIN_EPISODE_S, "Episodes shorter than this many seconds merge into their neighbours.",
                                  flag="--min-episode", low=0)
    device: str = option("auto", "auto, cpu or cuda[:N].")
    precision: str = option("auto", "auto: bf16 on CPUs with native bf16, fp16 on CUDA, else fp32.", choices=PRECISIONS)
    runtime: str = option("auto", "What runs the classifier: auto is ONNX Runtime where it runs fp32 on the CPU (CPUs without native "
                          "bf16, or --precision fp32), torch elsewhere.", choices=RUNTIMES)
    annotate: bool = option(False, "Also write annotated.mp4: each face boxed and labelled, at the analysed rate.")
    plots: bool = option(True, "Write timeline.png and faces.png (--no-plots: the tables alone, for large batches).", switch=True)
    start_s: float | None = option(None, "Analyse from this time in the video on, seconds [default: its start]; times stay the "
                                   "video's own.", flag="--start", low=0)
    end_s: float | None = option(None, "Analyse the frames before this time in the video, seconds [default: to its end].",
                                 flag="--end", low=0, open_low=True)
    threads: int | None = option(None, "Torch threads [default: one per core]; with --ray use --cpus-per-worker.", low=1,
                                 high=MAX_THREADS)
    lanes: int | None = option(None, "Chunks labelled at once, each in a thread, sharing the torch threads [default: on the CPU one "
                               "per thread, up to 4; on a GPU 1].", low=1, high=MAX_THREADS)
    max_yaw: float | None = option(MAX_YAW, "Face-frames turned further than this many degrees are unreadable: their rows stay, "
                                   "marked, and they are left out of episodes, summaries, the batch tables and the report "
                                   "(--max-yaw 90 and the two below at 0: keep every face).", low=0, high=90)
    min_sharpness: float | None = option(MIN_SHARPNESS, "And those whose crop is less sharp than this (frames.csv's sharpness).",
                                         low=0, high=1)
    min_brightness: float | None = option(MIN_BRIGHTNESS, "And those whose crop is darker than this (frames.csv's brightness).",
                                          low=0, high=1)

    def __post_init__(self) -> None:
        """Refuse what ``videmo analyze`` refuses, in the same words: a chunk of 0 looped for ever, and
        fps with every failed on each video after the models had loaded."""
        if self.fps is not None and self.every is not None:
            raise VidemoError("fps and every cannot be used together: give --fps or --every, not both")
        for f, spec in specs(AnalyzeOptions):
            value = getattr(self, f.name)
            if value is None and optional(f):
                continue
            if numeric(f):
                if isinstance(value, str):
                    raise VidemoError(f"{f.name}: a number, not the text '{value}'")
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise VidemoError(f"{f.name} {words(value)}: not a finite number")
                if not spec.in_range(value):
                    raise VidemoError(f"{f.name} {words(value)}: must be {spec.bounds()}")
            if spec.choices and value not in spec.choices:
                raise VidemoError(f"{flag_of(f, spec)} {value}: choose one of {', '.join(spec.choices)}")
        if self.start_s is not None and self.end_s is not None and self.end_s <= self.start_s:
            raise VidemoError(f"--start {words(self.start_s)} and --end {words(self.end_s)}: the end must come after the start")


@dataclass(frozen=True)
class BatchOptions:
    """How a batch of videos is run, beside what each video's analysis is told (``videmo analyze``'s
    other options, and ``videmo.analyze_many``'s keywords)."""

    output: str = option("videmo-results", "Each video's results go to OUTPUT/<video stem>/ (OUTPUT/<video stem>-<hash of its path>/ "
                         "when two videos share a name).", short="-o")
    overwrite: bool = option(False, "Redo videos whose results exist.")
    report: bool = option(True, "Do not write OUTPUT/report.html, the page of the whole batch.", flag="--no-report")
    quiet: bool = option(False, "No progress bars.", short="-q")
    ray: str | None = option(None, "Run on Ray, one video per task: a local instance, or the cluster at ADDRESS (auto, "
                             "ray://HOST:PORT). Needs videmo[ray].", flag_value="local")
    workers: int | None = option(None, "With --ray: actors, each holding the models [default: as many as the cluster fits].", low=1)
    cpus_per_worker: float | None = option(None, "With --ray: CPUs (and torch threads) per actor [default: 1].", low=0, open_low=True)
    gpus_per_worker: float | None = option(None, "With --ray: GPUs per actor [default: 1 if the cluster has GPUs, else 0].", low=0)


# Input sides a checkpoint may declare, and train take: the paper's model takes 224 px; far larger would build
# a head of billions of weights.
MAX_IMAGE_SIZE = 4096
MAX_LR = 10.0  # far past any rate that trains; above float32's range the optimizer itself fails


def words(value: object) -> str:
    """A setting's value as a message shows it, never as Python writes it: 'not set' for None, no '.0'
    on a whole number, a text as it is; a number of 16 digits or more (or a tiny one) in powers of ten, as
    '1e+308', never its hundreds of digits."""
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int) and abs(value) >= 10**16:
        digits = str(abs(value))
        return f"{'-' if value < 0 else ''}{digits[0]}{'.' + digits[1:4].rstrip('0') if digits[1:4].strip('0') else ''}e+{len(digits) - 1}"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    if isinstance(value, float):
        return repr(float(value))  # the shortest form that reads back: 0.5, 2.25, 1e+308, 1e-300, inf
    return str(value)


@dataclass
class TrainConfig:
    """``videmo train``'s options: everything a run needs, stored in its checkpoints (resume, --init)."""

    data: str = option(MISSING, "Dataset folder (RAF-DB, FER+, numbered or class folders) or FER2013 CSV.", path=True)
    layout: str | None = option(None, "Force a dataset layout instead of detecting it.", choices=LAYOUTS)
    arch: str = option("awei-vgg", "cnn: the five convolutions; awei: with the residual branch; awei-vgg: with the VGG branch too.",
                       choices=ARCHITECTURES)
    vgg: str = option("vgg16", "The VGG branch's depth.", choices=VGG_VARIANTS)
    residual: str = option("one-stage", "The paper's one 32x32-pooled jump, or its proposed two-stage path (blocks 1->3->5).",
                           choices=RESIDUALS)
    image_size: int = option(64, "Input side in pixels.", low=32, high=MAX_IMAGE_SIZE)
    channels: int = option(1, "One grey or three RGB input channels (the command's --grey/--rgb).", command=False)
    normalize: str = option("unit", "unit: pixels in [0,1] (the paper).", choices=tuple(NORMALIZATIONS))
    pretrained: str = option("none", "VGG branch start: imagenet, none or a state-dict FILE.")
    init: str | None = option(None, "Start from this videmo checkpoint's weights (fine-tuning; 'default': the shipped model); its "
                              "architecture and preprocessing must be this run's, its input size may grow (32-63 px fit a 32 px "
                              "model).", path=True)
    freeze_vgg: bool = option(False, "Keep the VGG branch's weights fixed.")
    epochs: int = option(20, "Epochs to train.", low=1, default_words="20; with --resume, the run's own")
    batch_size: int = option(64, "Images per step.", low=1)
    optimizer: str = option("adamw", "The optimiser.", choices=OPTIMIZERS)
    lr: float = option(1e-3, "Peak learning rate.", low=0, open_low=True, high=MAX_LR)
    weight_decay: float = option(0.05, "Weight decay.", low=0)
    momentum: float = option(0.9, "SGD's momentum.", command=False)
    schedule: str = option("cosine", "How the learning rate falls after warm-up.", choices=SCHEDULES)
    warmup_epochs: float = option(1.0, "Epochs of linear warm-up.", low=0)
    augment: str = option("basic", "paper: the paper's rotations and partial crops alone; video: also turned, dim, side-lit, "
                          "blurred, noisy, compressed and downscaled faces, as video shows them.", choices=AUGMENTATIONS)
    labels: str = option("majority", "FER+'s votes: the majority label, a label drawn from the votes each epoch, or the vote shares "
                         "as soft targets.", choices=LABEL_MODES)
    equalize: bool = option(False, "Histogram-equalise every face (stored in the checkpoint: analysis does the same).")
    crop_margin: float = option(CROP_MARGIN, "How analyze crops video faces for this model: side = MTCNN box's longer side x "
                                "(1 + margin).", low=CROP_MARGINS[0], high=CROP_MARGINS[1], default_words="FER2013's framing")
    crop_shift: float = option(CROP_SHIFT, "And the crop's centre moved down by this x the box's longer side.", low=CROP_SHIFTS[0],
                               high=CROP_SHIFTS[1], default_words="FER2013's framing")
    balance: str = option("weights", "Rare classes: weighted in the loss, drawn more often, or neither.", choices=BALANCES)
    label_smoothing: float = option(0.1, "Label smoothing.", low=0, high=1, open_high=True)
    noisy_labels: str = option("none", "Samples whose labels look wrong: discard (small-loss selection), reweight (Self-Cure "
                               "Network's importance weights) or relabel (and its relabelling).", choices=NOISY_LABEL_MODES)
    noisy_rate: float = option(0.2, "discard: the share of each batch left out.", low=0, high=1, open_high=True)
    noisy_warmup: float = option(2.0, "Epochs over which the discarded share grows; relabelling starts after them.", low=0)
    amp: bool = option(False, "Mixed precision: fp16 on CUDA, bf16 + channels-last on CPUs with native bf16.")
    val_fraction: float = option(0.1, "Held out of train when the data has no val/test split.", low=0, open_low=True, high=1,
                                 open_high=True)
    seed: int = option(0, "Seed of the split, the order, augmentation and dropout.")
    device: str = option("auto", "auto, cpu or cuda[:N].")
    decode_threads: int = option(2, "Threads that decode the images (once, before training).", low=1)
    out: str = option("runs/videmo/best.pt", "Best checkpoint; <its name without .pt>.last.pt (for --resume) and metrics.csv go "
                      "beside it.")
    max_train_samples: int | None = option(None, "Use only N training images, drawn at random (fixed by --seed; quick trials).", low=1)
    bn_recalibration: int = option(4096, "Train images that re-estimate BatchNorm statistics before each validation (0: off).", low=0)
    quiet: bool = option(False, "No progress bars or per-epoch lines.")

    @property
    def run_dir(self) -> Path:
        return Path(self.out).parent

    @property
    def last_path(self) -> Path:
        out = Path(self.out)
        return out.with_name(f"{out.stem}.last.pt")

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
            raise VidemoError(f"--init {self.init} and --pretrained {self.pretrained}: --init sets every weight, the VGG branch's too; give one")


# What a resumed run takes from the command: where the data is now and how the run goes, not what it learns.
RESUME_TAKES = ("data", "quiet", "device", "decode_threads")
