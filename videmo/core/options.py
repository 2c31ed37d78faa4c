"""What each command can be told: one options object per command, and the choices it offers.

Torch-free on purpose: the CLI builds and checks its options from here before any model is
imported, so a usage error answers at once, and every stage imports the object it reads without
importing the wiring. A value the command line would refuse raises VidemoError here too, so the
library (``videmo.analyze(...)``) refuses what ``videmo analyze`` refuses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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


# How FER2013's own face finder framed its faces, in MTCNN's terms (see ``classify.framing``): measured
# by running videmo's MTCNN on the FER2013 val faces (benchmarks/crop_framing.py). A checkpoint stores
# the crop it was trained with; these are the defaults of ``videmo train``.
CROP_MARGIN = -0.04
CROP_SHIFT = -0.01
CROP_MARGINS, CROP_SHIFTS = (-0.5, 3.0), (-1.0, 1.0)  # the ranges train takes and a checkpoint may store

MAX_THREADS = (
    256  # more torch threads or lanes than any machine has cores only wait; tens of thousands abort the process (OpenMP)
)
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
    detect_every: int = option(
        4,
        "Search the whole of each chunk's first frame and every Nth after it for faces (and any frame after "
        "a cut or a gap of over 0.15 s), and in between only near the faces of the frame before (a new face "
        "is found at the next such frame). 1: search every frame whole.",
        low=1,
    )
    margin: float | None = option(None, "Crop side = longer box side x (1 + margin) [default: the model's own crop].", low=-0.5)
    align: bool | None = option(
        None,
        "Turn each face upright by its eye line before the crop [default: as the model was made to be used].",
        switch=True,
    )
    mirror: bool = option(
        True,
        "Average a face with its mirror image where its top two emotions are close, which settles close calls more accurately.",
        switch=True,
    )
    batch_size: int = option(64, "Faces per classifier step (with --mirror, its close calls run again mirrored).", low=1)
    chunk: int = option(16, "Frames decoded and detected together.", low=1)
    bin_s: float = option(1.0, "Timeline bin, seconds.", flag="--bin", low=0, open_low=True)
    smooth_s: float = option(
        SMOOTH_S,
        "Seconds of the centred window that smooths each face's probabilities for episodes (0: none).",
        flag="--smooth",
        low=0,
    )
    min_episode_s: float = option(
        MIN_EPISODE_S, "Episodes shorter than this many seconds merge into their neighbours.", flag="--min-episode", low=0
    )
    device: str = option("auto", "auto, cpu or cuda[:N].")
    precision: str = option("auto", "auto: bf16 on CPUs with native bf16, fp16 on CUDA, else fp32.", choices=PRECISIONS)
    runtime: str = option(
        "auto",
        "What runs the classifier: auto is ONNX Runtime where it runs fp32 on the CPU (CPUs without native "
        "bf16, or --precision fp32), torch elsewhere.",
        choices=RUNTIMES,
    )
    annotate: bool = option(False, "Also write annotated.mp4: each face boxed and labelled, at the analysed rate.")
    plots: bool = option(True, "Write timeline.png and faces.png (--no-plots: the tables alone, for large batches).", switch=True)
    start_s: float | None = option(
        None,
        "Analyse from this time in the video on, seconds [default: its start]; times stay the video's own.",
        flag="--start",
        low=0,
    )
    end_s: float | None = option(
        None,
        "Analyse the frames before this time in the video, seconds [default: to its end].",
        flag="--end",
        low=0,
        open_low=True,
    )
    threads: int | None = option(
        None, "Torch threads [default: one per core]; with --ray use --cpus-per-worker.", low=1, high=MAX_THREADS
    )
    lanes: int | None = option(
        None,
        "Chunks labelled at once, each in a thread, sharing the torch threads [default: on the CPU one "
        "per thread, up to 4; on a GPU 1].",
        low=1,
        high=MAX_THREADS,
    )
    max_yaw: float | None = option(
        MAX_YAW,
        "Face-frames turned further than this many degrees are unreadable: their rows stay, "
        "marked, and they are left out of episodes, summaries, the batch tables and the report "
        "(--max-yaw 90 and the two below at 0: keep every face).",
        low=0,
        high=90,
    )
    min_sharpness: float | None = option(
        MIN_SHARPNESS, "And those whose crop is less sharp than this (frames.csv's sharpness).", low=0, high=1
    )
    min_brightness: float | None = option(
        MIN_BRIGHTNESS, "And those whose crop is darker than this (frames.csv's brightness).", low=0, high=1
    )

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

    output: str = option(
        "videmo-results",
        "Each video's results go to OUTPUT/<video stem>/ (OUTPUT/<video stem>-<hash of its path>/ when two videos share a name).",
        short="-o",
    )
    overwrite: bool = option(False, "Redo videos whose results exist.")
    report: bool = option(True, "Do not write OUTPUT/report.html, the page of the whole batch.", flag="--no-report")
    quiet: bool = option(False, "No progress bars.", short="-q")
    ray: str | None = option(
        None,
        "Run on Ray, one video per task: a local instance, or the cluster at ADDRESS (auto, ray://HOST:PORT). Needs videmo[ray].",
        flag_value="local",
    )
    workers: int | None = option(
        None, "With --ray: actors, each holding the models [default: as many as the cluster fits].", low=1
    )
    cpus_per_worker: float | None = option(
        None, "With --ray: CPUs (and torch threads) per actor [default: 1].", low=0, open_low=True
    )
    gpus_per_worker: float | None = option(
        None, "With --ray: GPUs per actor [default: 1 if the cluster has GPUs, else 0].", low=0
    )


# Input sides a checkpoint may declare, and train take: the paper's model takes 224 px; far larger would build
# a head of billions of weights.
MAX_IMAGE_SIZE = 4096


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
