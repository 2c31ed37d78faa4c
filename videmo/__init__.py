"""videmo: for every face in every analysed frame of a video, which of seven emotions it shows."""

__version__ = "0.1.0"


def __getattr__(name):
    """``EMOTIONS``: the seven class names, in the classifier's order (the columns of frames.csv), read
    from ``checkpoint`` when first asked for, so that ``import videmo`` does not load torch."""
    if name == "EMOTIONS":
        from .checkpoint import CLASSES

        return CLASSES
    raise AttributeError(f"module 'videmo' has no attribute {name!r}")


# The library's keywords are the command's option names (``--smooth`` is ``smooth=``); these three differ
# from AnalyzeOptions' field names, which are still accepted.
KEYWORD_FIELDS = {"smooth": "smooth_s", "bin": "bin_s", "min_episode": "min_episode_s"}


def analyze_options(options: dict, also: tuple[str, ...] = ()) -> dict:
    """``options`` given as keywords, as AnalyzeOptions' fields: ``smooth``, ``bin`` and ``min_episode``
    renamed (their field names accepted too; both at once is a TypeError), an unknown keyword a TypeError
    that lists the valid ones (and ``also``, the caller's own), and None for an option that has a default
    a VidemoError that says so (AnalyzeOptions would show ``None``)."""
    from dataclasses import MISSING, fields

    from .errors import VidemoError
    from .options import AnalyzeOptions

    defaults = {f.name: f.default for f in fields(AnalyzeOptions) if f.default is not MISSING}
    keywords = [next((k for k, v in KEYWORD_FIELDS.items() if v == name), name) for name in defaults]
    unknown = [k for k in options if k not in defaults and k not in KEYWORD_FIELDS]
    if unknown:
        valid = ", ".join(sorted([*keywords, *also]))
        raise TypeError(f"unknown keyword{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: the valid ones are {valid}")
    named = {}
    for keyword, value in options.items():
        name = KEYWORD_FIELDS.get(keyword, keyword)
        if name in named:
            raise TypeError(f"{name.removesuffix('_s')} and {name} are the same option: give one of them")
        if value is None and defaults[name] is not None:
            raise VidemoError(f"{keyword} not set: give a value or leave it out (default {defaults[name]})")
        named[name] = value
    return named


def analyze(path, output=None, **options):
    """Analyse one video and return the rows of its ``frames.csv`` as a DataFrame.

    ``options`` are the options of ``videmo analyze``, as keywords: ``weights``, ``fps``, ``every``,
    ``detect_width``, ``min_face``, ``det_threshold``, ``detect_every``, ``margin``, ``mirror``,
    ``batch_size``, ``chunk``, ``smooth``, ``min_episode``, ``bin`` (seconds; ``smooth_s``,
    ``min_episode_s`` and ``bin_s``, the fields of ``options.AnalyzeOptions``, are accepted too),
    ``device``, ``precision``, ``runtime``, ``annotate``, ``threads``, ``lanes``. An unknown keyword
    raises TypeError; a value the command would refuse raises VidemoError. With ``output`` its results
    folder is written (or redone) there as ``analyze_many`` names it, and the batch table updated; a
    folder of that name holding your own files is never replaced.
    """
    from .runner import analyze as run

    return run(path, output, **analyze_options(options, ("output",)))


ANALYZE_MANY_KEYWORDS = ("ray", "workers", "cpus_per_worker", "gpus_per_worker", "overwrite", "quiet", "report")


def analyze_many(paths, output="videmo-results", *, ray=None, workers=None, cpus_per_worker=None, gpus_per_worker=None,
                 overwrite=False, quiet=False, report=True, **options):
    """Analyse every video under ``paths`` (files, folders, globs) into ``output/<video stem>/`` as
    ``videmo analyze`` does, printing one line per video; returns how many inputs failed.

    ``ray``: None runs here; True starts a local Ray instance; an address (``"auto"``,
    ``"ray://host:port"``) joins that cluster (``workers``, ``cpus_per_worker``, ``gpus_per_worker``
    as ``--workers`` etc.). ``report=False`` skips ``output/report.html``, as ``--no-report`` does.
    ``options`` are those of ``analyze`` (``smooth``, ``bin``, ``min_episode``, ...).
    """
    import os

    from .options import AnalyzeOptions
    from .runner import analyze_many as run

    options = AnalyzeOptions(**analyze_options(options, ANALYZE_MANY_KEYWORDS))
    paths = [str(paths)] if isinstance(paths, (str, os.PathLike)) else [str(p) for p in paths]
    per_worker = {"workers": workers, "cpus_per_worker": cpus_per_worker, "gpus_per_worker": gpus_per_worker}
    per_worker = {k: v for k, v in per_worker.items() if v is not None}
    if ray is None or ray is False:
        if per_worker:
            raise ValueError("workers, cpus_per_worker and gpus_per_worker need ray")
        return run(paths, output, options, overwrite=overwrite, quiet=quiet, html_report=report)
    from .cluster import RayOptions, analyze_on_ray

    address = None if ray is True else str(ray)
    return analyze_on_ray(paths, output, options, RayOptions(address, **per_worker), overwrite=overwrite, quiet=quiet,
                          html_report=report)


def read_results(folder):
    """Read ``frames.csv`` of a results folder with proper dtypes (``face_id`` a nullable integer)."""
    from .write import read_results as read

    return read(folder)


def read_episodes(folder):
    """Read ``episodes.csv`` of a results folder: ``face_id, emotion, t_start, t_end, duration_s,
    n_frames, mean_probability, peak_probability, t_peak``, one row per stretch of one emotion."""
    from .write import read_episodes as read

    return read(folder)


def read_timeline(folder):
    """Read ``timeline.csv`` of a results folder with proper dtypes: ``face_id, t_start, t_end, n_frames``,
    the seven emotions' mean probabilities (``EMOTIONS``) and the most likely ``emotion``, one row per
    face and time bin (``bin`` seconds)."""
    from .write import read_timeline as read

    return read(folder)


def read_summary(folder):
    """Read ``summary.json`` of a results folder as a dict: ``video`` (its path, duration, fps, ...),
    ``settings``, ``model``, ``counts``, ``tracks`` (per face: when seen, dominant emotion, share of
    each emotion) and how long the analysis took."""
    from .write import read_results_summary as read

    return read(folder)


def read_index(output):
    """Read ``<output>/index.csv``, the batch table: one row per video and face (see the README)."""
    from pathlib import Path

    from .batch import read_index as read
    from .errors import VidemoError, printable

    if (Path(output) / "summary.json").is_file():
        raise VidemoError(f"{printable(str(output))}: one video's results, not an output folder of many: "
                          "read it with videmo.read_results or videmo.read_summary")
    return read(output)


def read_batch(output):
    """Read the ``frames.csv`` rows of every results folder in an output folder of ``videmo analyze``
    (``analyze_many``) as one DataFrame, with two columns first: ``video`` (the video's path, as its
    summary.json names it) and ``folder`` (the results folder's name, as in ``index.csv``)."""
    from .write import read_batch as read

    return read(output)


__all__ = ["EMOTIONS", "__version__", "analyze", "analyze_many", "read_batch", "read_episodes", "read_index", "read_results",
           "read_summary", "read_timeline"]
