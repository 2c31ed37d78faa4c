"""The library: ``analyze`` and ``analyze_many`` with their arguments checked, and the readers of results.

Torch-free at import: the analysis is imported when a video is analysed.
"""

from videmo.core.errors import VidemoError
from videmo.core.spec import Spec, default_of, keyword_of, numeric, optional, specs, whole


class ArgumentError(VidemoError, ValueError):
    """A library argument out of range: a ValueError, and a VidemoError as these were before."""


class ArgumentTypeError(VidemoError, TypeError):
    """A library argument of the wrong type (None where a value belongs too): a TypeError, and a VidemoError."""


def _shown(value) -> str:
    """A wrong argument as an error message shows it: its type and a short repr."""
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _path_argument(name: str, value, optional: bool = False) -> str | None:
    """``value`` as a path string (bytes, as Linux names may be, decoded as os.fsdecode does); a TypeError
    naming ``name`` for anything else (None too, unless ``optional``), a ValueError for an empty path or a NUL."""
    import os

    if value is None and optional:
        return None
    if not isinstance(value, (str, bytes, os.PathLike)):
        hint = " (analyze_many takes many)" if name == "path" and isinstance(value, (list, tuple, set)) else ""
        raise ArgumentTypeError(f"{name}: a path (str or os.PathLike), not {_shown(value)}{hint}")
    text = os.fsdecode(os.fspath(value))
    if not text:
        raise ArgumentError(f"{name}: the path is empty")
    if "\0" in text:
        raise ArgumentError(f"{name}: a path cannot hold a NUL character")
    return text


def _number_argument(name: str, value, whole: bool, spec: Spec) -> int | float:
    """``value`` as a plain int or float (numpy's too, which summary.json could not hold), checked against
    its option's ``spec`` as the command checks it and in its words: an ArgumentTypeError naming ``name``
    for a bool, a text or a fraction where a whole number belongs, an ArgumentError for NaN, infinity or a
    value out of range."""
    import math
    import numbers

    from videmo.core.options import words

    if isinstance(value, str):
        raise ArgumentTypeError(f"{name}: a number, not the text '{value}'")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral if whole else numbers.Real):
        raise ArgumentTypeError(f"{name}: {'a whole number' if whole else 'a number'}, not {_shown(value)}")
    try:
        value = int(value) if whole else float(value)
    except OverflowError:  # an int past a float's range
        raise ArgumentError(f"{name}: a number past a float's range (over 1e308)") from None
    if not math.isfinite(value):
        raise ArgumentError(f"{name} {words(value)}: not a finite number")
    if not spec.in_range(value):
        raise ArgumentError(f"{name} {words(value)}: must be {spec.bounds()}")
    return value


def _flag_argument(name: str, value) -> bool:
    """``value`` if it is True or False: a string such as "no" would otherwise count as True."""
    import numpy as np

    if not isinstance(value, (bool, np.bool_)):
        raise ArgumentTypeError(f"{name}: True or False, not {_shown(value)}")
    return bool(value)


def _option_argument(options: type, keyword: str, name: str, value):
    """One option of ``options`` (a dataclass of ``core.options``) given as ``keyword`` (field ``name``),
    checked by its field's kind and spec: a TypeError or ValueError naming ``keyword``."""
    f, spec = next((f, s) for f, s in specs(options) if f.name == name)
    if value is None and optional(f):
        return None
    if spec.path:
        return _path_argument(keyword, value)
    if numeric(f):
        return _number_argument(keyword, value, whole(f), spec)
    if str(f.type) == "bool":
        return _flag_argument(keyword, value)
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{keyword}: a text, not {_shown(value)}")
    if spec.choices and value not in spec.choices:
        raise ArgumentError(f"{keyword} {value}: choose one of {', '.join(spec.choices)}")
    return value


def _analyze_options(options: dict, also: tuple[str, ...] = ()) -> dict:
    """``options`` given as keywords, as AnalyzeOptions' fields: ``smooth``, ``bin``, ``min_episode``,
    ``start`` and ``end`` named by their flags, as the command names them (their field names accepted too; both at once
    is a TypeError), an unknown keyword a TypeError that lists the valid ones (and ``also``, the caller's
    own), and every value checked (``_option_argument``): None for an option that has a default is a
    TypeError that says so."""
    from videmo.core.options import AnalyzeOptions, words

    defaults = {f.name: default_of(f) for f, _ in specs(AnalyzeOptions)}
    keywords = [keyword_of(f, spec) for f, spec in specs(AnalyzeOptions)]
    fields_of = {keyword_of(f, spec): f.name for f, spec in specs(AnalyzeOptions)}
    unknown = [k for k in options if k not in defaults and k not in fields_of]
    if unknown:
        valid = ", ".join(sorted([*keywords, *also]))
        raise ArgumentTypeError(
            f"unknown keyword{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: the valid ones are {valid}"
        )
    named = {}
    for keyword, value in options.items():
        name = fields_of.get(keyword, keyword)
        if name in named:
            raise ArgumentTypeError(f"{name.removesuffix('_s')} and {name} are the same option: give one of them")
        if value is None and defaults[name] is not None:
            raise ArgumentTypeError(f"{keyword} not set: give a value or leave it out (default {words(defaults[name])})")
        named[name] = _option_argument(AnalyzeOptions, keyword, name, value)
    if named.get("fps") is not None and named.get("every") is not None:
        raise ArgumentError("fps and every cannot be used together: give one of them")
    start, end = named.get("start_s"), named.get("end_s")
    if start is not None and end is not None and end <= start:
        raise ArgumentError(f"start {words(start)} and end {words(end)}: the end must come after the start")
    return named


def analyze(path, output=None, **options):
    """Analyse one video; returns an ``Analysis``: its ``frames`` (the rows of frames.csv), ``episodes``,
    ``timeline`` and ``summary`` (a dict, as summary.json holds it), and ``folder``.

    ``options`` are the options of ``videmo analyze``, as keywords: ``weights``, ``fps``, ``every``,
    ``detect_width``, ``min_face``, ``det_threshold``, ``detect_every``, ``margin``, ``mirror``,
    ``batch_size``, ``chunk``, ``smooth``, ``min_episode``, ``bin``, ``start``, ``end`` (seconds;
    ``smooth_s``, ``min_episode_s``, ``bin_s``, ``start_s`` and ``end_s``, the fields of
    ``options.AnalyzeOptions``, are accepted too), ``device``, ``precision``, ``runtime``, ``annotate``,
    ``plots``, ``threads`` (at most 256), ``lanes``. An unknown keyword or an argument of the wrong
    type (None where a value belongs included) raises TypeError, a value out of range ValueError, each
    naming the argument (both are VidemoErrors too); a video that cannot be analysed raises VidemoError. With ``output`` its results folder is written
    (or redone) there as ``analyze_many`` names it, and the batch table updated; a folder of that name
    holding your own files is never replaced.
    """
    from videmo.run.runner import analyze as run

    path = _path_argument("path", path)
    output = _path_argument("output", output, optional=True)
    return run(path, output, **_analyze_options(options, ("output",)))


ANALYZE_MANY_KEYWORDS = (
    "ray",
    "workers",
    "cpus_per_worker",
    "gpus_per_worker",
    "overwrite",
    "quiet",
    "report",
)  # BatchOptions' but output


def _paths_argument(paths) -> list[str]:
    """``analyze_many``'s ``paths``: one path or an iterable of them, each checked, at least one."""
    import os

    if isinstance(paths, (str, bytes, os.PathLike)):
        return [_path_argument("paths", paths)]
    try:
        given = list(paths)
    except TypeError:
        raise ArgumentTypeError(f"paths: a path or a list of paths, not {_shown(paths)}") from None
    if not given:
        raise ArgumentError("paths: no paths given (give video files, folders or globs)")
    return [_path_argument(f"paths[{i}]", p) for i, p in enumerate(given)]


def analyze_many(
    paths,
    output="videmo-results",
    *,
    ray=None,
    workers=None,
    cpus_per_worker=None,
    gpus_per_worker=None,
    overwrite=False,
    quiet=False,
    report=True,
    **options,
):
    """Analyse every video under ``paths`` (files, folders, globs) into ``output/<video stem>/`` as
    ``videmo analyze`` does, printing one line per video; returns a list of ``VideoOutcome``, one per
    video found and per path that gave none: ``video``, ``folder``, ``status`` (``"done"``, ``"skipped"``:
    already done, or ``"failed"``) and ``error`` (why it failed).

    ``ray``: None runs here; True starts a local Ray instance; an address (``"auto"``,
    ``"ray://host:port"``) joins that cluster (``workers``, ``cpus_per_worker``, ``gpus_per_worker``
    as ``--workers`` etc.). ``report=False`` skips ``output/report.html``, as ``--no-report`` does.
    ``options`` are those of ``analyze`` (``smooth``, ``bin``, ``min_episode``, ...); arguments are
    checked as ``analyze`` checks them.
    """
    from videmo.core.options import AnalyzeOptions, BatchOptions
    from videmo.run.runner import analyze_many as run
    from videmo.run.runner import outcomes_of

    options = AnalyzeOptions(**_analyze_options(options, ANALYZE_MANY_KEYWORDS))
    paths = _paths_argument(paths)
    output = _path_argument("output", output)
    overwrite, quiet, report = (
        _flag_argument(name, value) for name, value in (("overwrite", overwrite), ("quiet", quiet), ("report", report))
    )
    per_worker = {"workers": workers, "cpus_per_worker": cpus_per_worker, "gpus_per_worker": gpus_per_worker}
    per_worker = {k: v for k, v in per_worker.items() if v is not None}
    if ray is None or ray is False:
        if per_worker:
            raise ArgumentError("workers, cpus_per_worker and gpus_per_worker need ray")
        return outcomes_of(
            paths, output, overwrite, lambda: run(paths, output, options, overwrite=overwrite, quiet=quiet, html_report=report)
        )
    if not isinstance(ray, (bool, str)):
        raise ArgumentTypeError(f"ray: True or a Ray address such as 'auto', not {_shown(ray)}")
    per_worker = {k: _option_argument(BatchOptions, k, k, v) for k, v in per_worker.items()}
    from videmo.run.cluster import RayOptions, analyze_on_ray

    address = None if ray is True else ray
    return outcomes_of(
        paths,
        output,
        overwrite,
        lambda: analyze_on_ray(
            paths, output, options, RayOptions(address, **per_worker), overwrite=overwrite, quiet=quiet, html_report=report
        ),
    )


def read_results(folder):
    """Read ``frames.csv`` of a results folder with proper dtypes (``face_id`` a nullable integer)."""
    from videmo.results.io import read_results as read

    return read(_path_argument("folder", folder))


def read_episodes(folder):
    """Read ``episodes.csv`` of a results folder: ``face_id, emotion, t_start, t_end, duration_s,
    n_frames, mean_probability, peak_probability, t_peak``, one row per stretch of one emotion."""
    from videmo.results.io import read_episodes as read

    return read(_path_argument("folder", folder))


def read_timeline(folder):
    """Read ``timeline.csv`` of a results folder with proper dtypes: ``face_id, t_start, t_end, n_frames``,
    the seven emotions' mean probabilities (``EMOTIONS``) and the most likely ``emotion``, one row per
    face and time bin (``bin`` seconds)."""
    from videmo.results.io import read_timeline as read

    return read(_path_argument("folder", folder))


def read_summary(folder):
    """Read ``summary.json`` of a results folder as a dict: ``video`` (its path, duration, fps, ...),
    ``settings``, ``model``, ``counts``, ``tracks`` (per face: when seen, dominant emotion, share of
    each emotion) and how long the analysis took."""
    from videmo.results.io import read_results_summary as read

    return read(_path_argument("folder", folder))


def read_index(output):
    """Read ``<output>/index.csv``, the batch table: one row per video and face (see the README)."""
    from pathlib import Path

    from videmo.batch.index import read_index as read
    from videmo.core.errors import VidemoError, printable

    output = _path_argument("output", output)
    if (Path(output) / "summary.json").is_file():
        raise VidemoError(
            f"{printable(str(output))}: one video's results, not an output folder of many: "
            "read it with videmo.read_results or videmo.read_summary"
        )
    return read(output)


def read_batch(output):
    """Read the ``frames.csv`` rows of every results folder in an output folder of ``videmo analyze``
    (``analyze_many``) as one DataFrame, with two columns first: ``video`` (the video's path, as its
    summary.json names it) and ``folder`` (the results folder's name, as in ``index.csv``)."""
    from videmo.batch.tables import read_batch as read

    return read(_path_argument("output", output))


def read_batch_episodes(output):
    """Read the ``episodes.csv`` rows of every results folder in an output folder of ``videmo analyze`` as one
    DataFrame, with two columns first as ``read_batch`` has them: ``video`` (the video's path, as its
    summary.json names it) and ``folder`` (the results folder's name, as in ``index.csv``)."""
    from videmo.batch.tables import read_batch_episodes as read

    return read(_path_argument("output", output))
