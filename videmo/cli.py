"""The ``videmo`` command: parses options and calls the library; errors become one line."""

from __future__ import annotations

import json
import math
import shlex
import sys

import click

from videmo.core.version import __version__
from videmo.core.errors import VidemoError, check_creatable, plural, printable
from videmo.core.options import ARCHITECTURES, AUGMENTATIONS, BALANCES, CROP_MARGINS, CROP_SHIFTS, LABEL_MODES, LAYOUTS, MAX_IMAGE_SIZE, MAX_LR, MAX_THREADS, NOISY_LABEL_MODES, NORMALIZATIONS, OPTIMIZERS, PRECISIONS, PRESETS, RESIDUALS, RUNTIMES, SCHEDULES, SPLITS, VGG_VARIANTS, AnalyzeOptions
from videmo.signals import one_line_errors


class Number(click.FloatRange):
    """A finite number, in range: click's FloatRange lets nan and inf through (every comparison with nan is false)."""

    name = "number"

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value} is not a finite number.", param, ctx)
        return number


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="videmo")
def main():
    """Seven-emotion analysis of every face in every analysed frame of a video."""


@main.command()
@click.option("--data", required=True, type=click.Path(), help="Dataset folder (RAF-DB, FER+, numbered or class folders) or FER2013 CSV.")
@click.option("--layout", type=click.Choice(LAYOUTS), help="Force a dataset layout instead of detecting it.")
@click.option("--labels", type=click.Choice(LABEL_MODES), default="majority", show_default=True,
              help="FER+'s votes: the majority label, a label drawn from the votes each epoch, or the vote shares as soft targets.")
@click.option("--preset", type=click.Choice(list(PRESETS)), help="paper: awei-vgg, 224 px RGB in [0,1], batch 8, 20 epochs, Adam 1e-4 constant, no augmentation, class weights or label smoothing; options given as well override it.")
@click.option("--arch", type=click.Choice(ARCHITECTURES), default="awei-vgg", show_default=True)
@click.option("--residual", type=click.Choice(RESIDUALS), default="one-stage", show_default=True,
              help="The paper's one 32x32-pooled jump, or its proposed two-stage path (blocks 1->3->5).")
@click.option("--vgg", type=click.Choice(VGG_VARIANTS), default="vgg16", show_default=True)
@click.option("--image-size", type=click.IntRange(32, MAX_IMAGE_SIZE), default=64, show_default=True, help="Input side in pixels.")
@click.option("--grey/--rgb", default=True, show_default=True, help="One grey or three RGB input channels.")
@click.option("--normalize", type=click.Choice(list(NORMALIZATIONS)), default="unit", show_default=True, help="unit: pixels in [0,1] (the paper).")
@click.option("--pretrained", default="none", show_default=True, help="VGG branch start: imagenet, none or a state-dict FILE.")
@click.option("--init", type=click.Path(), help="Start from this videmo checkpoint's weights (fine-tuning; 'default': the shipped model); its architecture and preprocessing must be this run's, its input size may grow (32-63 px fit a 32 px model).")
@click.option("--freeze-vgg", is_flag=True, help="Keep the VGG branch's weights fixed.")
@click.option("--epochs", type=click.IntRange(1), help="[default: 20; with --resume, the run's own]")
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True)
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), default="adamw", show_default=True)
@click.option("--lr", type=Number(0, MAX_LR, min_open=True), default=1e-3, show_default=True)
@click.option("--weight-decay", type=Number(0), default=0.05, show_default=True)
@click.option("--schedule", type=click.Choice(SCHEDULES), default="cosine", show_default=True)
@click.option("--warmup-epochs", type=Number(0), default=1.0, show_default=True)
@click.option("--augment", type=click.Choice(AUGMENTATIONS), default="basic", show_default=True,
              help="paper: the paper's rotations and partial crops alone.")
@click.option("--balance", type=click.Choice(BALANCES), default="weights", show_default=True)
@click.option("--label-smoothing", type=Number(0, 1, max_open=True), default=0.1, show_default=True)
@click.option("--noisy-labels", type=click.Choice(NOISY_LABEL_MODES), default="none", show_default=True,
              help="Samples whose labels look wrong: discard (small-loss selection), reweight (Self-Cure Network's importance weights) or relabel (and its relabelling); see the README.")
@click.option("--noisy-rate", type=Number(0, 1, max_open=True), default=0.2, show_default=True, help="discard: the share of each batch left out.")
@click.option("--noisy-warmup", type=Number(0), default=2.0, show_default=True, help="Epochs over which the discarded share grows; relabelling starts after them.")
@click.option("--amp", is_flag=True, help="Mixed precision: fp16 on CUDA, bf16 + channels-last on CPUs with native bf16.")
@click.option("--val-fraction", type=Number(0, 1, min_open=True, max_open=True), default=0.1, show_default=True, help="Held out of train when the data has no val/test split.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N].")
@click.option("--decode-threads", type=click.IntRange(1), default=2, show_default=True, help="Threads that decode the images (once, before training).")
@click.option("--out", default="runs/videmo/best.pt", show_default=True, help="Best checkpoint; <its name without .pt>.last.pt (for --resume) and metrics.csv go beside it.")
@click.option("--resume", type=click.Path(), help="Continue from a '*.last.pt' file with its settings (--data: where the data is now; --epochs: another length; others must match).")
@click.option("--max-train-samples", type=click.IntRange(1), help="Use only N training images, drawn at random (fixed by --seed; quick trials).")
@click.option("--equalize", is_flag=True, help="Histogram-equalise every face (stored in the checkpoint: analysis does the same).")
@click.option("--crop-margin", type=Number(*CROP_MARGINS),
              help="How analyze crops video faces for this model: side = MTCNN box's longer side x (1 + margin) [default: FER2013's framing].")
@click.option("--crop-shift", type=Number(*CROP_SHIFTS),
              help="And the crop's centre moved down by this x the box's longer side [default: FER2013's framing].")
@click.option("--bn-recalibration", type=click.IntRange(0), default=4096, show_default=True,
              help="Train images that re-estimate BatchNorm statistics before each validation (0: off).")
@click.option("--quiet", is_flag=True, help="No progress bars or per-epoch lines.")
@one_line_errors
def train(preset, grey, resume, **options):
    """Train cnn, awei or awei-vgg on labelled face images."""
    from videmo.model.checkpoint import weights_path
    from videmo.core.options import TrainConfig
    from videmo.training.train import resume_conflicts, train as run_training

    options["channels"] = 1 if grey else 3
    if options.get("init") == "default":
        options["init"] = str(weights_path(None))
    options = {k: v for k, v in options.items() if v is not None or k in ("layout", "max_train_samples")}
    context = click.get_current_context()
    given = {name for name in options if context.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE}
    if context.get_parameter_source("grey") is click.core.ParameterSource.COMMANDLINE:
        given.add("channels")
    if preset:  # the options given on the command line win: `--preset paper --epochs 2` is a quick trial of the recipe
        options.update({name: value for name, value in PRESETS[preset].items() if name not in given})
    if resume:  # the same command again with --resume continues; a changed setting would be silently ignored
        conflicts = resume_conflicts(resume, {name: value for name, value in options.items() if name in given})  # in the options' order
        if conflicts:
            raise VidemoError(f"--resume {resume}: a resumed run keeps its settings, and these differ: {'; '.join(conflicts)} "
                              "(--data, --epochs, --device, --decode-threads and --quiet may change; start a new run for the rest)")
    run_training(TrainConfig(**options), resume=resume, command=shlex.join(["videmo", "train", *sys.argv[2:]]),
                 epochs=options.get("epochs"))


@main.command()
@click.argument("checkpoint", required=False, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the metadata as JSON.")
@one_line_errors
def info(checkpoint, as_json):
    """Print a checkpoint's metadata and parameter count (default: the shipped model)."""
    from videmo.model.checkpoint import count_parameters, load_checkpoint, weights_path

    loaded = load_checkpoint(weights_path(checkpoint))
    meta = {k: v for k, v in loaded.meta.items() if k != "history"}
    summary = {"path": str(loaded.path), "sha256": loaded.sha256, "parameters": count_parameters(loaded.model), **meta}
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
        return
    for key, value in summary.items():
        if isinstance(value, dict):
            value = json.dumps(value, default=str)
        click.echo(f"{key:>16}: {value}")


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("-o", "--output", default="videmo-results", show_default=True, help="Each video's results go to OUTPUT/<video stem>/ (OUTPUT/<video stem>-<hash of its path>/ when two videos share a name).")
@click.option("-w", "--weights", type=click.Path(), help="Checkpoint to use (default: the shipped model).")
@click.option("--fps", type=Number(0, min_open=True), help="Analyse about this many frames per second of video.")
@click.option("--every", type=click.IntRange(1), help="Analyse every Nth frame.")
@click.option("--detect-width", type=click.IntRange(64), default=640, show_default=True, help="Detect faces on a copy at most this wide.")
@click.option("--min-face", type=click.IntRange(1), default=40, show_default=True, help="Smallest face side, in original pixels.")
@click.option("--det-threshold", type=Number(0, 1), default=0.9, show_default=True, help="Minimum face detection confidence.")
@click.option("--detect-every", type=click.IntRange(1), default=AnalyzeOptions.detect_every, show_default=True,
              help="Search the whole of each chunk's first frame and every Nth after it for faces (and any frame after a cut or a gap of over 0.15 s), and in between only near the faces of the frame before (a new face is found at the next such frame). 1: search every frame whole.")
@click.option("--margin", type=Number(-0.5), help="Crop side = longer box side x (1 + margin) [default: the model's own crop].")
@click.option("--mirror/--no-mirror", default=True, show_default=True,
              help="Average a face with its mirror image where its top two emotions are close: +0.4 points on FER+ Valid.")
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True,
              help="Faces per classifier step (with --mirror, its close calls run again mirrored).")
@click.option("--chunk", type=click.IntRange(1), default=16, show_default=True, help="Frames decoded and detected together.")
@click.option("--smooth", "smooth_s", type=Number(0), default=0.5, show_default=True,
              help="Seconds of the centred window that smooths each face's probabilities for episodes (0: none).")
@click.option("--min-episode", "min_episode_s", type=Number(0), default=0.5, show_default=True,
              help="Episodes shorter than this many seconds merge into their neighbours.")
@click.option("--bin", "bin_s", type=Number(0, min_open=True), default=1.0, show_default=True, help="Timeline bin, seconds.")
@click.option("--start", "start_s", type=Number(0), help="Analyse from this time in the video on, seconds [default: its start]; times stay the video's own.")
@click.option("--end", "end_s", type=Number(0, min_open=True), help="Analyse the frames before this time in the video, seconds [default: to its end].")
@click.option("--plots/--no-plots", default=True, show_default=True, help="Write timeline.png and faces.png (--no-plots: the tables alone, for large batches).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N].")
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
              help="auto: bf16 on CPUs with native bf16, fp16 on CUDA, else fp32.")
@click.option("--runtime", type=click.Choice(RUNTIMES), default="auto", show_default=True,
              help="What runs the classifier: auto is ONNX Runtime where it runs fp32 on the CPU (CPUs without native bf16, or --precision fp32), torch elsewhere.")
@click.option("--threads", type=click.IntRange(1, MAX_THREADS), help="Torch threads [default: one per core]; with --ray use --cpus-per-worker.")
@click.option("--lanes", type=click.IntRange(1, MAX_THREADS),
              help="Chunks labelled at once, each in a thread, sharing the torch threads [default: on the CPU one per thread, up to 4; on a GPU 1].")
@click.option("--annotate", is_flag=True, help="Also write annotated.mp4: each face boxed and labelled, at the analysed rate.")
@click.option("--overwrite", is_flag=True, help="Redo videos whose results exist.")
@click.option("--no-report", is_flag=True, help="Do not write OUTPUT/report.html, the page of the whole batch.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@click.option("--ray", "ray_address", is_flag=False, flag_value="local", metavar="[ADDRESS]",
              help="Run on Ray, one video per task: a local instance, or the cluster at ADDRESS (auto, ray://HOST:PORT). Needs videmo[ray].")
@click.option("--workers", type=click.IntRange(1), help="With --ray: actors, each holding the models [default: as many as the cluster fits].")
@click.option("--cpus-per-worker", type=Number(0, min_open=True), help="With --ray: CPUs (and torch threads) per actor [default: 1].")
@click.option("--gpus-per-worker", type=Number(0), help="With --ray: GPUs per actor [default: 1 if the cluster has GPUs, else 0].")
@one_line_errors
def analyze(paths, output, overwrite, quiet, ray_address, workers, cpus_per_worker, gpus_per_worker, no_report, **options):
    """Find every face in every analysed frame of each video and label its emotion.

    PATHS are video files, folders (searched recursively) or globs.
    """
    try:  # before anything heavy is imported: a usage error answers at once
        options = AnalyzeOptions(**options)
    except VidemoError as e:
        raise click.UsageError(str(e)) from None
    if not output.strip():  # Path("") is the current folder: the batch tables would land among the user's files
        raise click.UsageError("-o/--output is empty: name the folder for the results")
    from videmo.run.runner import analyze_many

    report = lambda line: click.echo(line, err=line.startswith("videmo: error"))  # noqa: E731
    per_worker = {"workers": workers, "cpus_per_worker": cpus_per_worker, "gpus_per_worker": gpus_per_worker}
    per_worker = {k: v for k, v in per_worker.items() if v is not None}
    if ray_address is None:
        if per_worker:
            raise VidemoError("--workers, --cpus-per-worker and --gpus-per-worker need --ray")
        failed = analyze_many(list(paths), output, options, overwrite=overwrite, quiet=quiet, report=report, html_report=not no_report)
    else:
        if options.threads:
            raise VidemoError("--threads is for runs without --ray; a worker has --cpus-per-worker threads")
        from videmo.run.cluster import RayOptions, analyze_on_ray

        failed = analyze_on_ray(list(paths), output, options, RayOptions(ray_address, **per_worker),
                                overwrite=overwrite, quiet=quiet, report=report, html_report=not no_report)
    warn_if_mixed(output)
    if failed:
        click.echo(f"videmo: {plural(failed, 'input')} failed", err=True)
        sys.exit(1)


@main.command()
@click.argument("results", nargs=-1, required=True)
@click.option("--smooth", "smooth_s", type=Number(0), help="Seconds of the centred smoothing window [default: each folder's own].")
@click.option("--min-episode", "min_episode_s", type=Number(0), help="Shortest episode, seconds [default: each folder's own].")
@click.option("--bin", "bin_s", type=Number(0, min_open=True), help="Timeline bin, seconds [default: each folder's own].")
@click.option("--plots/--no-plots", default=None, help="Write timeline.png and faces.png, or not [default: as each folder has them].")
@click.option("--no-report", is_flag=True, help="Do not rewrite report.html beside the batch table.")
@one_line_errors
def episodes(results, no_report, **changes):
    """Rebuild episodes, timeline, summary and plots from saved results, in seconds: no decoding or detection.

    RESULTS are results folders, or output folders of 'videmo analyze' (each of their results folders);
    the batch tables beside them are rebuilt after.
    """

    from videmo.batch.report import update_batch
    from videmo.results.io import INDEX_CSV
    from videmo.results.reanalysis import changed_words, reanalyze, results_in
    from videmo.results.io import read_results_summary

    changes = {name: value for name, value in changes.items() if value is not None}
    folders, errors = results_in(list(results))
    for line in errors:
        click.echo(f"videmo: error: {line}", err=True)
    for folder in folders:
        try:
            before = read_results_summary(folder).get("settings", {})
            result = reanalyze(folder, **changes)
        except VidemoError as e:
            errors.append(str(e))
            click.echo(f"videmo: error: {e}", err=True)
            continue
        counts = result.summary.counts
        for note in result.notes:
            click.echo(f"videmo: note: {printable(note)}")
        click.echo(printable(f"{folder}: {plural(counts['episodes'], 'episode')} of {plural(counts['tracks'], 'face')} "
                             f"({changed_words(before, result.summary.settings)})"))
    for output in dict.fromkeys(folder.parent for folder in folders):
        if (output / INDEX_CSV).is_file():  # an output folder of 'videmo analyze': its batch tables follow
            update_batch(output, [], {}, report=not no_report)
            warn_if_mixed(output)
    if errors:
        click.echo(f"videmo: {plural(len(errors), 'input')} failed", err=True)
        sys.exit(1)


def warn_if_mixed(output) -> None:
    """The closing warning of a batch whose videos were analysed with settings that make their numbers incomparable."""
    from videmo.batch.index import mixed_settings, read_index

    try:
        warning = mixed_settings(read_index(output))
    except VidemoError:  # no batch table (nothing was written)
        return
    if warning:
        click.echo(f"videmo: warning: {printable(warning)}", err=True)


@main.command()
@click.option("--data", required=True, type=click.Path(), help="Labelled dataset, in any layout that train reads.")
@click.option("-w", "--weights", type=click.Path(), help="Checkpoint to score (default: the shipped model).")
@click.option("--split", type=click.Choice(SPLITS), help="Default: val, else test.")
@click.option("--layout", type=click.Choice(LAYOUTS))
@click.option("--device", default="auto", show_default=True)
@click.option("--precision", type=click.Choice(PRECISIONS), default="fp32", show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=256, show_default=True)
@click.option("--mirror/--no-mirror", default=True, show_default=True, help="Average each face with its mirror image, as analyze does.")
@click.option("--runtime", type=click.Choice(RUNTIMES), default="auto", show_default=True, help="What runs the model, as in analyze.")
@click.option("--plots", type=click.Path(file_okay=False),
              help="Also write confusion_matrix.png and class_accuracy.png into this folder [default: no plots].")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@one_line_errors
def evaluate(data, weights, split, layout, device, precision, batch_size, mirror, runtime, plots, as_json):
    """Accuracy, macro-F1, per-class precision and recall, confusion matrix."""
    from pathlib import Path

    from videmo.model.checkpoint import weights_path
    from videmo.training.evaluate import evaluate as run_evaluation, format_report, plot_class_accuracy, plot_confusion

    weights = weights_path(weights)
    if plots:
        check_creatable(Path(plots), "--plots", folder=True)  # before the scoring, not after
    result, about = run_evaluation(data, str(weights), split, layout, device, precision, batch_size, progress=not as_json,
                                   mirror=mirror, runtime=runtime)
    if plots:
        folder = Path(plots)
        folder.mkdir(parents=True, exist_ok=True)
        plot_confusion(result, about["classes"], folder / "confusion_matrix.png")
        plot_class_accuracy(result, about["classes"], folder / "class_accuracy.png")
    if as_json:
        click.echo(json.dumps({**about, **result.as_dict()}, indent=2))
        return
    click.echo("class counts: " + ", ".join(f"{c} {n}" for c, n in zip(about["classes"], about["counts"])))
    for note in about["notes"]:
        click.echo(f"note: {note}")
    click.echo(f"{about['weights']} on {about['data']} [{about['split']}]: {about['images']} images"
               + (f", {about['skipped']} unreadable skipped" if about["skipped"] else "")
               + (", each averaged with its mirror image" if about["mirror"] else "")
               + f"; {about['precision']} on {'ONNX Runtime' if about['runtime'] == 'onnx' else 'torch'}")
    click.echo(format_report(result, about["classes"]))
    if plots:
        click.echo(f"\nplots: {folder / 'confusion_matrix.png'}, {folder / 'class_accuracy.png'}")


if __name__ == "__main__":
    main()
