"""The ``videmo`` command: parses options and calls the library; errors become one line."""

from __future__ import annotations

import json
import shlex
import sys

import click

from videmo.cli_options import options_of
from videmo.core.errors import VidemoError, check_creatable, plural, printable
from videmo.core.options import LAYOUTS, PRECISIONS, RUNTIMES, SPLITS, AnalyzeOptions, BatchOptions
from videmo.core.training import PRESETS, TrainConfig
from videmo.core.version import __version__
from videmo.results.store import EPISODE_SETTINGS
from videmo.signals import echo, one_line_errors


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="videmo")
def main():
    """Seven-emotion analysis of every face in every analysed frame of a video."""


@main.command()
@click.option(
    "--preset",
    type=click.Choice(list(PRESETS)),
    help="paper: awei-vgg, 224 px RGB in [0,1], batch 8, 20 epochs, Adam 1e-4 constant, no augmentation, class weights or label smoothing; options given as well override it.",
)
@click.option("--grey/--rgb", default=True, show_default=True, help="One grey or three RGB input channels.")
@click.option(
    "--resume",
    type=click.Path(),
    help="Continue from a '*.last.pt' file with its settings (--data: where the data is now; --epochs: another length; others must match).",
)
@options_of(TrainConfig)
@one_line_errors
def train(preset, grey, resume, **options):
    """Train cnn, awei or awei-vgg on labelled face images."""
    from videmo.core.training import TrainConfig
    from videmo.model.checkpoint import weights_path
    from videmo.training.run_state import resume_conflicts
    from videmo.training.train import train as run_training

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
        conflicts = resume_conflicts(
            resume, {name: value for name, value in options.items() if name in given}
        )  # in the options' order
        if conflicts:
            raise VidemoError(
                f"--resume {resume}: a resumed run keeps its settings, and these differ: {'; '.join(conflicts)} "
                "(--data, --epochs, --device, --decode-threads, --quiet and --keep-epochs may change; start a new run for the rest)"
            )
    run_training(
        TrainConfig(**options),
        resume=resume,
        command=shlex.join(["videmo", "train", *sys.argv[2:]]),
        epochs=options.get("epochs"),
    )


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
        echo(json.dumps(summary, indent=2, default=str))
        return
    for key, value in summary.items():
        if isinstance(value, dict):
            value = json.dumps(value, default=str)
        echo(f"{key:>16}: {value}")


@main.command()
@click.argument("paths", nargs=-1, required=True)
@options_of(BatchOptions)
@options_of(AnalyzeOptions)
@one_line_errors
def analyze(paths, output, overwrite, quiet, ray, workers, cpus_per_worker, gpus_per_worker, report, **options):
    """Find every face in every analysed frame of each video and label its emotion.

    PATHS are video files, folders (searched recursively) or globs.
    """
    try:  # before anything heavy is imported: a usage error answers at once
        options = AnalyzeOptions(**options)
    except VidemoError as e:
        raise click.UsageError(str(e)) from None
    if not output.strip():  # Path("") is the current folder: the batch tables would land among the user's files
        raise click.UsageError("-o/--output is empty: name the folder for the results")
    from videmo.batch.report import batch_line
    from videmo.run.runner import analyze_many

    say = lambda line: echo(line, err=line.startswith(("videmo: error", "videmo: warning")))  # noqa: E731
    per_worker = {"workers": workers, "cpus_per_worker": cpus_per_worker, "gpus_per_worker": gpus_per_worker}
    per_worker = {k: v for k, v in per_worker.items() if v is not None}
    if ray is None:
        if per_worker:
            raise VidemoError("--workers, --cpus-per-worker and --gpus-per-worker need --ray")
        failed = analyze_many(list(paths), output, options, overwrite=overwrite, quiet=quiet, report=say, html_report=report)
    else:
        if options.threads:
            raise VidemoError("--threads is for runs without --ray; a worker has --cpus-per-worker threads")
        from videmo.run.cluster import RayOptions, analyze_on_ray

        failed = analyze_on_ray(
            list(paths),
            output,
            options,
            RayOptions(ray, **per_worker),
            overwrite=overwrite,
            quiet=quiet,
            report=say,
            html_report=report,
        )
    line = batch_line(output, report)
    if line:
        say(line)
    warn_if_mixed(output)
    if failed:
        echo(f"videmo: {plural(failed, 'input')} failed", err=True)
        sys.exit(1)


@main.command()
@click.argument("results", nargs=-1, required=True)
@options_of(AnalyzeOptions, only=tuple(EPISODE_SETTINGS), unset="each folder's own")
@click.option("--no-report", is_flag=True, help="Do not rewrite report.html beside the batch table.")
@one_line_errors
def episodes(results, no_report, **changes):
    """Rebuild episodes, timeline, summary and plots from saved results, in seconds: no decoding or detection.

    RESULTS are results folders, or output folders of 'videmo analyze' (each of their results folders);
    the batch tables beside them are rebuilt after.
    """

    from videmo.batch.report import update_batch
    from videmo.results.episodes import sampling_warning
    from videmo.results.io import INDEX_CSV, read_results_summary
    from videmo.results.reanalysis import changed_words, reanalyze, results_in

    changes = {name: value for name, value in changes.items() if value is not None}
    folders, errors = results_in(list(results))
    for line in errors:
        echo(f"videmo: error: {line}", err=True)
    for folder in folders:
        try:
            before = read_results_summary(folder).get("settings", {})
            result = reanalyze(folder, **changes)
        except VidemoError as e:
            errors.append(str(e))
            echo(f"videmo: error: {e}", err=True)
            continue
        counts = result.summary.counts
        settings = result.summary.settings
        warning = sampling_warning(result.frames, settings["smooth_s"], settings["min_episode_s"], str(folder))
        if warning:
            echo(f"videmo: warning: {printable(warning)}", err=True)
        for note in result.notes:
            echo(f"videmo: note: {printable(note)}")
        echo(
            printable(
                f"{folder}: {plural(counts['episodes'], 'episode')} of {plural(counts['tracks'], 'face')} "
                f"({changed_words(before, result.summary.settings)})"
            )
        )
    for output in dict.fromkeys(folder.parent for folder in folders):
        if (output / INDEX_CSV).is_file():  # an output folder of 'videmo analyze': its batch tables follow
            update_batch(output, [], {}, report=not no_report)
            warn_if_mixed(output)
    if errors:
        echo(f"videmo: {plural(len(errors), 'input')} failed", err=True)
        sys.exit(1)


def warn_if_mixed(output) -> None:
    """The closing warning of a batch whose videos were analysed with settings that make their numbers incomparable."""
    from videmo.batch.index import mixed_settings, read_index

    try:
        warning = mixed_settings(read_index(output))
    except VidemoError:  # no batch table (nothing was written)
        return
    if warning:
        echo(f"videmo: warning: {printable(warning)}", err=True)


@main.command()
@click.argument("checkpoint", required=False, type=click.Path())
@click.option(
    "--data", required=True, type=click.Path(), help="Labelled faces the model did not train on, in any layout that train reads."
)
@click.option("--split", type=click.Choice(SPLITS), help="Default: val, else test.")
@click.option("--layout", type=click.Choice(LAYOUTS))
@click.option("--out", required=True, type=click.Path(), help="The calibrated copy of the checkpoint.")
@click.option("--device", default="auto", show_default=True)
@one_line_errors
def calibrate(checkpoint, data, split, layout, out, device):
    """Fit the temperature that makes frames.csv's confidence column mean what it says (how often the top
    emotion is right) on labelled faces, and write a copy of CHECKPOINT with it (default: the shipped model).
    The labels analyze writes do not change."""
    from pathlib import Path

    from videmo.model.checkpoint import weights_path
    from videmo.training.evaluate import calibrate_checkpoint

    check_creatable(Path(out), "--out")
    echo(calibrate_checkpoint(weights_path(checkpoint), data, split, layout, out, device))


@main.command()
@click.option("--data", required=True, type=click.Path(), help="Labelled dataset, in any layout that train reads.")
@click.option("-w", "--weights", type=click.Path(), help="Checkpoint to score (default: the shipped model).")
@click.option("--split", type=click.Choice(SPLITS), help="Default: val, else test.")
@click.option("--layout", type=click.Choice(LAYOUTS))
@click.option("--device", default="auto", show_default=True)
@click.option("--precision", type=click.Choice(PRECISIONS), default="fp32", show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=256, show_default=True)
@click.option(
    "--mirror/--no-mirror", default=True, show_default=True, help="Average each face with its mirror image, as analyze does."
)
@click.option(
    "--runtime", type=click.Choice(RUNTIMES), default="auto", show_default=True, help="What runs the model, as in analyze."
)
@click.option(
    "--plots",
    type=click.Path(file_okay=False),
    help="Also write confusion_matrix.png, class_accuracy.png and reliability.png into this folder [default: no plots].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@one_line_errors
def evaluate(data, weights, split, layout, device, precision, batch_size, mirror, runtime, plots, as_json):
    """Accuracy, macro-F1, per-class precision and recall, confusion matrix."""
    from pathlib import Path

    from videmo.model.checkpoint import weights_path
    from videmo.training.calibration import Calibration, plot_reliability
    from videmo.training.evaluate import (
        evaluate as run_evaluation,
    )
    from videmo.training.evaluate import (
        format_calibration,
        format_report,
        plot_class_accuracy,
        plot_confusion,
    )

    weights = weights_path(weights)
    if plots:
        check_creatable(Path(plots), "--plots", folder=True)  # before the scoring, not after
    result, about = run_evaluation(
        data, str(weights), split, layout, device, precision, batch_size, progress=not as_json, mirror=mirror, runtime=runtime
    )
    if plots:
        folder = Path(plots)
        folder.mkdir(parents=True, exist_ok=True)
        plot_confusion(result, about["classes"], folder / "confusion_matrix.png")
        plot_class_accuracy(result, about["classes"], folder / "class_accuracy.png")
        plot_reliability(Calibration(**about["calibration"]), folder / "reliability.png")
    if as_json:
        echo(json.dumps({**about, **result.as_dict()}, indent=2))
        return
    echo("class counts: " + ", ".join(f"{c} {n}" for c, n in zip(about["classes"], about["counts"])))
    for note in about["notes"]:
        echo(f"note: {note}")
    echo(
        f"{about['weights']} on {about['data']} [{about['split']}]: {about['images']} images"
        + (f", {about['skipped']} unreadable skipped" if about["skipped"] else "")
        + (", each averaged with its mirror image" if about["mirror"] else "")
        + f"; {about['precision']} on {'ONNX Runtime' if about['runtime'] == 'onnx' else 'torch'}"
    )
    echo(format_report(result, about["classes"]))
    echo(format_calibration(about["calibration"], about["fitted_temperature"]))
    if plots:
        echo(f"\nplots: {folder / 'confusion_matrix.png'}, {folder / 'class_accuracy.png'}, {folder / 'reliability.png'}")


if __name__ == "__main__":
    main()
