"""videmo's version, recorded in every checkpoint, summary.json and report."""

__version__ = "0.1.0"


def is_newer(version: object) -> bool:
    """Whether ``version`` (as a summary.json records it) names a later videmo than this one, compared as versions
    ("0.10.0" is later than "0.9.1"); False for what is not a version."""
    try:
        from packaging.version import InvalidVersion, Version
    except ImportError:  # packaging is nearly always there; without it, the leading numbers are compared
        import re

        numbers = [re.match(r"\d+(\.\d+)*", str(v)) for v in (version, __version__)]
        return all(numbers) and tuple(map(int, numbers[0][0].split("."))) > tuple(map(int, numbers[1][0].split(".")))
    try:
        return Version(str(version)) > Version(__version__)
    except InvalidVersion:
        return False
