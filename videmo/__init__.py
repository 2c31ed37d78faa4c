"""videmo: for every face in every analysed frame of a video, which of seven emotions it shows."""

__version__ = "0.1.0"


def analyze(path, output=None, **options):
    """Analyse one video and return the rows of its ``frames.csv`` as a DataFrame.

    ``options`` are those of ``videmo analyze`` (``weights``, ``fps``, ``every``, ``detect_width``,
    ``min_face``, ``det_threshold``, ``margin``, ``batch_size``, ``device``, ``precision``, ``bin_s``);
    with ``output`` the results folder is written too.
    """
    from .pipeline import analyze as run

    return run(path, output, **options)


def read_results(folder):
    """Read ``frames.csv`` of a results folder with proper dtypes (``face_id`` a nullable integer)."""
    from .write import read_results as read

    return read(folder)


__all__ = ["__version__", "analyze", "read_results"]
