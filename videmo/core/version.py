"""videmo's version, recorded in every checkpoint, summary.json and report."""

__version__ = "0.1.0"
