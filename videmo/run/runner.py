"""The batch runner: every video under the given paths analysed into its results folder under an
output folder, one line reported per video, one bad video never stopping the others, and the batch
table rebuilt after the run (after Ctrl-C too). ``videmo analyze``, ``videmo.analyze_many`` and the
Ray workers (``cluster``) all analyse through ``analyze_into``.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

# Where HOME is not writable, matplotlib (imported below, for the plots) warns in two long lines that it
# uses a temporary folder for its font cache instead; it works so, and stderr keeps one line per problem.
logging.getLogger("matplotlib").addFilter(
    lambda record: not ("mkdir -p failed" in record.getMessage() or "temporary cache directory" in record.getMessage())
)

from tqdm import tqdm  # noqa: E402

from videmo.batch.index import read_failed
from videmo.batch.report import update_batch  # noqa: E402
from videmo.core.errors import VidemoError, plural, printable, unwritable  # noqa: E402
from videmo.core.files import hidden, shortened, too_long  # noqa: E402
from videmo.core.loading import native_loading
from videmo.core.options import AnalyzeOptions  # noqa: E402
from videmo.results.store import (  # noqa: E402
    changed_settings,
    holds_foreign_files,
    is_complete,
    remove_dead_leftovers,
    result_folder_names,
    save_results,
)
from videmo.results.types import Analysis, VideoOutcome, VideoResult
from videmo.run.inputs import find_videos
from videmo.run.pipeline import Analyzer  # noqa: E402
from videmo.video.listing import short_words


def analyze_into(analyzer: Analyzer, video: Path, folder: Path, overwrite: bool, progress: bool) -> VideoResult:
    """Analyse ``video`` and save its results folder; the annotated video streams to a hidden file beside it."""
    remove_dead_leftovers(folder.parent)
    annotate_to = hidden(folder, "annotated", suffix=".mp4") if analyzer.options.annotate else None
    try:
        if annotate_to is not None:
            try:
                folder.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise VidemoError(f"{folder}: cannot write results ({e.strerror or e})") from None
        result = analyzer.analyze_video(video, progress=progress, annotate_to=annotate_to)
        save_results(result, folder, overwrite)
    finally:
        if annotate_to is not None:
            annotate_to.unlink(missing_ok=True)
    return result


def analyze(path: str | os.PathLike, output: str | os.PathLike | None = None, **options) -> Analysis:
    """Analyse one video; returns its frames, episodes, timeline and summary. With ``output``, also writes
    (or redoes) its results folder there, named as ``analyze_many`` names it (``<video stem>``, or with a
    hash of its path where that holds another video's results), and updates the batch table.
    ``options`` are AnalyzeOptions' fields."""
    options = AnalyzeOptions(**options)
    video = Path(path)
    folder = None
    if output is not None:
        output = Path(output)
        check_writable(output)  # before the models load and the video is analysed
        folder = output / result_folder_names([video], output)[video]  # as analyze_many names it: never another video's
        if holds_foreign_files(folder):
            raise VidemoError(f"{video}: {folder}: holds files that videmo did not write; move them or choose another output")
    analyzer = Analyzer(options)
    if folder is None:
        result = analyzer.analyze_video(video)
    else:
        result = analyze_into(analyzer, video, folder, overwrite=True, progress=False)
        update_batch(output, [video], {})
    return Analysis(result.frames, result.episodes, result.timeline, asdict(result.summary), folder)


def outcomes_of(paths: list[str], output: str | os.PathLike, overwrite: bool, run: Callable[[], object]) -> list[VideoOutcome]:
    """What became of each input of ``run``, a batch of ``paths`` into ``output`` (here or on Ray): a video
    whose results were there before is skipped (unless ``overwrite``), one with results after it is done,
    and the others failed, for the reason failed.csv gives; a path that gave no video failed too."""
    videos, bad = find_videos(paths)
    output = Path(output)
    folders = {video: output / name for video, name in result_folder_names(videos, output).items()}
    before = {video for video, folder in folders.items() if not overwrite and is_complete(folder)}
    run()
    table = read_failed(output) if output.is_dir() else None
    errors = dict(zip(table["video"], table["error"])) if table is not None else {}
    outcomes = []
    for video, folder in folders.items():
        shown = printable(str(video))
        if video in before:
            outcomes.append(VideoOutcome(shown, folder, "skipped"))
        elif shown not in errors and is_complete(folder):
            outcomes.append(VideoOutcome(shown, folder, "done"))
        else:
            outcomes.append(VideoOutcome(shown, folder, "failed", errors.get(shown, "no results (see the lines reported)")))
    return outcomes + [VideoOutcome(printable(given), None, "failed", printable(line)) for given, line in bad.items()]


def analyze_many(
    paths: list[str],
    output: str | os.PathLike,
    options: AnalyzeOptions,
    overwrite: bool = False,
    quiet: bool = False,
    report=print,
    html_report: bool = True,
) -> int:
    """Analyse every video found under ``paths``; one line per video. Returns the number that failed
    (bad paths included). A bad video is reported and the others still run. ``html_report``: write report.html."""
    report = one_line(report)
    todo, folders, failures = plan_videos(paths, output, overwrite, report, options)
    try:
        if todo:
            if not quiet:  # loading takes seconds: say what the silence is
                print_safely("videmo: loading the face detector and the emotion model", sys.stderr)
            with native_loading():  # an interrupt waits for the end of it (see signals.Interrupts)
                analyzer = Analyzer(options)
            if analyzer.classifier.note:
                report(f"videmo: note: {analyzer.classifier.note}")
            for video in tqdm(todo, desc="videos", unit="video", disable=True if quiet or len(todo) < 2 else None):
                result, error = analyze_reported(analyzer, video, folders[video], overwrite, progress=not quiet)
                if error is not None:
                    report(error)
                    failures[printable(str(video))] = printable(error)
                    continue
                for line in closing_lines(video, result, folders[video]):
                    report(line)
    finally:  # also after Ctrl-C: the index then holds what finished
        update_tables(output, todo, failures, html_report)
    return len(failures)


def update_tables(output: str | os.PathLike, todo: list[Path], failures: dict[str, str], html_report: bool) -> None:
    """``update_batch``, with ``output`` made first where every input failed before any results folder was:
    a script that reads failed.csv then finds the failures (and an index.csv of no rows)."""
    output = Path(output)
    if any(failures) and not output.exists() and not output.is_symlink():  # "": no path was given at all
        try:
            output.mkdir(parents=True)
        except OSError:  # the failures were said, one line each; no folder can hold their table
            return
    update_batch(output, todo, failures, report=html_report)


def plan_videos(
    paths: list[str], output: str | os.PathLike, overwrite: bool, report: Callable[[str], None], options: AnalyzeOptions
) -> tuple[list[Path], dict[Path, Path], dict[str, str]]:
    """The videos under ``paths`` still to analyse, each one's results folder under ``output``, and the
    bad paths with their error lines; bad paths and videos already done are reported."""
    videos, failures = find_videos(paths)
    for line in failures.values():
        report(f"videmo: error: {line}")
    failures = {printable(given): printable(line) for given, line in failures.items()}
    if not videos:
        if not failures:
            report("videmo: error: no videos given")
            failures[""] = "no videos given"
        return [], {}, failures
    output = Path(output)
    if too_long(output):  # the system would refuse it with "File name too long"
        check_writable(output)
    if output.exists() and not output.is_dir():  # fail before hours of analysis that could not be saved
        raise VidemoError(f"{output}: cannot write results there: it is a file, not a folder")
    names = result_folder_names(videos, output)
    folders = {v: output / names[v] for v in videos}
    todo = [v for v in videos if overwrite or not is_complete(folders[v])]
    if todo:
        check_writable(output)
    model = model_identity(options.weights) if len(todo) < len(videos) else None
    for video in videos:
        if video not in todo:
            changed = changed_settings(folders[video], options, model)
            report(f"{video.name}: already done in {folders[video]}{changed} (use --overwrite to redo)")
    for video in list(todo):  # say it now, not after the analysis that could not be saved
        folder = folders[video]
        if holds_foreign_files(folder):
            line = f"{folder}: holds files that videmo did not write; move them or choose another -o"
            report(f"videmo: error: {video}: {line}")
            failures[printable(str(video))] = printable(f"{video}: {line}")
            todo.remove(video)
    return todo, {v: folders[v] for v in todo}, failures


def check_writable(output: Path) -> None:
    """A VidemoError now, not after the analysis, where no results folder could be made in ``output``
    (a read-only folder or file system, or a file where a folder on its way should be)."""
    cause = unwritable(output)
    if cause:
        raise VidemoError(f"{shortened(output)}: cannot write results there: {cause}")


def analyze_reported(
    analyzer: Analyzer, video: Path, folder: Path, overwrite: bool, progress: bool
) -> tuple[VideoResult | None, str | None]:
    """analyze_into, with a failure of this one video turned into its error line instead of raised."""
    try:
        return analyze_into(analyzer, video, folder, overwrite, progress), None
    except VidemoError as e:
        return None, f"videmo: error: {e}"
    except OSError as e:  # the file moved or its disk failed mid-run, say: the other videos still run
        return None, f"videmo: error: {video}: cannot read or write ({e.strerror or e})"
    except (RuntimeError, ValueError, MemoryError) as e:  # an unforeseen failure on one video spares the rest
        return None, f"videmo: error: {video}: analysis failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"


def one_line(report: Callable[[str], None]) -> Callable[[str], None]:
    """``report`` that escapes what would break a line or its encoding (see ``printable``); ``print`` (the
    default) drops a line that cannot be printed (a closed pipe, a full disk), and the batch goes on."""
    if report is print:
        return lambda line: print_safely(printable(line), sys.stdout)
    return lambda line: report(printable(line))


def print_safely(line: str, file) -> None:
    """print(line, file=file), or nothing where it cannot be printed: no stream (None: closed at start), a
    BrokenPipeError, a full disk (ENOSPC), a closed descriptor (EBADF)."""
    if file is None:  # print(file=None) would print to stdout instead
        return
    try:
        print(line, file=file, flush=True)
    except (OSError, ValueError):  # ValueError: a closed file
        pass


def frame_runs(frames: list[int], most: int = 3) -> str:
    """'frame 12', 'frames 12, 40-49' or 'frames 12, 40-49, 60, ...': the first ``most`` runs of ascending frame numbers."""
    runs: list[list[int]] = []
    for frame in frames:
        if runs and frame == runs[-1][1] + 1:
            runs[-1][1] = frame
        else:
            runs.append([frame, frame])
    shown = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs[:most]) + (", ..." if len(runs) > most else "")
    return f"frame{'s' if len(frames) > 1 else ''} {shown}"


def closing_lines(video: Path, result: VideoResult, folder: Path) -> list[str]:
    """The notes, a warning where the frames lie too far apart for the episode settings, and the closing
    line reported for a video analysed into ``folder``: its face-frames (a face in a frame) and faces (tracks)."""
    from videmo.results.episodes import sampling_warning

    counts, missing, short = result.summary.counts, result.summary.frames_missing, result.summary.frames_short
    shortfall = f" ({missing['count']} listed frames from frame {missing['from_frame']} not in the stream)" if missing else ""
    shortfall = f" (note: {short_words(short)})" if short else shortfall  # far short: cut, not a few frames missing
    unreadable = result.summary.frames_unreadable
    cut = unreadable["from_frame"] if unreadable else math.inf
    lost = [frame for frame in result.summary.frames_undecodable if frame < cut]
    if lost:
        shortfall += f" ({plural(len(lost), 'frame')} did not decode: damaged data at {frame_runs(lost)})"
    if unreadable:
        after = len(result.summary.frames_undecodable) - len(lost)
        shortfall += (
            f" (the file could not be read from frame {cut} on: {unreadable['cause']}; "
            f"{plural(after, 'frame')} from there {'has an empty row' if after == 1 else 'have empty rows'})"
        )
    shortfall += stream_words(result.summary)
    name = video.name if folder.name == video.stem else video
    settings = result.summary.settings or {}
    warning = sampling_warning(result.frames, settings.get("smooth_s", 0), settings.get("min_episode_s", 0), str(name))
    return (
        [f"videmo: note: {note}" for note in result.notes]
        + ([f"videmo: warning: {warning}"] if warning else [])
        + [
            f"{name}: {plural(counts['frames_analysed'], 'frame')} analysed{shortfall}, {plural(counts['faces'], 'face-frame')} of "
            f"{plural(counts['tracks'], 'face')}{unreadable_words(counts)}, {plural(counts.get('episodes', 0), 'episode')}, "
            f"{result.summary.frames_per_second} frames/s -> {result.saved_to or folder}"
        ]
    )


def stream_words(summary) -> str:
    """' (the picture's size changed at frame N to WxH)', ' (timestamps restart at frame N: ...)', ' (timestamps stand
    still: every frame is timed by the decoder's order at F fps, ...)', or ''."""
    words = ""
    changes = summary.size_changes or []
    if changes:
        shown = ", ".join(f"at frame {c['frame']} to {c['width']}x{c['height']}" for c in changes[:3]) + (
            ", ..." if len(changes) > 3 else ""
        )
        words += f" (the picture's size changed {shown}; boxes are in each frame's own pixels)"
    repaired = summary.times_repaired
    if repaired and repaired.get("fps"):  # the stream's own times failed throughout
        words += f" ({repaired['cause']}: every frame is timed by the decoder's order at {repaired['fps']:g} fps, {repaired.get('fps_from')})"
    elif repaired:
        words += f" ({repaired['cause']} at frame {repaired['from_frame']}: times from there follow the decoder's order)"
    return words


def unreadable_words(counts: dict) -> str:
    """' (N face-frames unreadable: ...)' where some were left out of the episodes, else ''."""
    n = counts.get("unreadable_face_frames", 0)
    return f" ({plural(n, 'face-frame')} unreadable: turned, blurred or dark; left out)" if n else ""


def model_identity(weights: str | None) -> tuple[str, str] | None:
    """The name and sha256 of the checkpoint that ``weights`` names (None: the default), as a summary
    records them; None if there is no such file (loading it will say why)."""
    from videmo.core.files import file_sha256
    from videmo.model.checkpoint import weights_path

    try:
        path = weights_path(weights)
        return (path.stem, file_sha256(path)) if path.is_file() else None
    except (OSError, VidemoError):
        return None
