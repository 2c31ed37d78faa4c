"""Every results folder's tables of an output folder read as one: frames (read_batch) and episodes (read_batch_episodes), after video and folder columns."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from videmo.core.errors import VidemoError, printable
from videmo.results.io import (
    SUMMARY_JSON,
    read_episodes,
    read_results,
    read_summary,
    results_folders,
)


def read_batch(output: str | Path) -> pd.DataFrame:
    """The frames.csv rows of every results folder in an output folder, after a ``video`` column (the
    video's path, as its summary.json names it) and a ``folder`` column (the results folder's name)."""
    return read_each(output, read_results, "videmo.read_results")


def read_batch_episodes(output: str | Path) -> pd.DataFrame:
    """The episodes.csv rows of every results folder in an output folder, after ``video`` and ``folder``
    columns as ``read_batch`` gives them."""
    return read_each(output, read_episodes, "videmo.read_episodes")


def read_each(output: str | Path, read, one_video_reader: str) -> pd.DataFrame:
    """``read(folder)`` of every results folder in ``output``, after ``video`` and ``folder`` columns; a
    folder whose summary.json cannot be read is left out, as the batch table leaves it out."""
    output = Path(output)
    if (output / SUMMARY_JSON).is_file():
        raise VidemoError(
            f"{printable(str(output))}: one video's results, not an output folder of many: read it with {one_video_reader}"
        )
    folders = results_folders(output) if output.is_dir() else []
    if not folders:
        raise VidemoError(f"{printable(str(output))}: no results folders here (expected an output folder of 'videmo analyze')")
    tables, skipped = [], []
    for folder in folders:
        try:
            video = read_summary(folder)["video"]["path"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            cause = (
                error.strerror or str(error)
                if isinstance(error, OSError)
                else str(error)
                if isinstance(error, ValueError)
                else "not a videmo summary"
            )
            skipped.append(f"{printable(str(folder / SUMMARY_JSON))}: {printable(cause)}")
            continue
        table = read(folder)
        table.insert(0, "folder", pd.array([printable(folder.name)] * len(table), dtype="string"))
        table.insert(0, "video", pd.array([str(video)] * len(table), dtype="string"))
        tables.append(table)
    if not tables:
        raise VidemoError(
            f"{printable(str(output))}: no readable results folders here ({skipped[0]}"
            f"{f', and {len(skipped) - 1} more' if len(skipped) > 1 else ''})"
        )
    return pd.concat(tables, ignore_index=True)
