"""Hidden names and atomic writes: nothing videmo writes looks complete before it is.

Every file or folder is written under a hidden name beside its place, ``.NAME.KIND-HOST-PID``
(``writer_tag``: runs on other machines may share the folder), and renamed into place once whole;
a run killed outright leaves only hidden names, which the next run on the same machine removes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path


def writer_tag() -> str:
    """Names this process's hidden files: host and pid."""
    return f"{socket.gethostname()}-{os.getpid()}"


def hidden(path: Path, kind: str, tag: str | None = None, suffix: str = "") -> Path:
    """The hidden name beside ``path`` that ``kind`` of work in progress of the writer ``tag`` (this process) uses."""
    return path.with_name(f".{path.name}.{kind}-{tag or writer_tag()}{suffix}")


@contextlib.contextmanager
def written_atomically(path: Path) -> Iterator[Path]:
    """The hidden file to write ``path``'s content to; renamed onto ``path`` if the block succeeds,
    removed if it fails."""
    partial = hidden(path, "partial")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


NAME_MAX, PATH_MAX = 255, 4096  # Linux's limits, in bytes: one name in a path, and a whole path


def too_long(path: str | os.PathLike) -> str | None:
    """Why no file or folder can have the path ``path`` ('name too long ...', 'path too long ...'), which the system
    would refuse with "File name too long"; None where it is within the limits."""
    raw = os.fsencode(path)
    longest = max(len(part) for part in raw.split(b"/"))
    if longest > NAME_MAX:
        return f"name too long: a name in the path has {longest} bytes, and a file system allows {NAME_MAX}"
    absolute = len(os.fsencode(os.path.abspath(path)))
    if absolute > PATH_MAX:
        return f"path too long: {absolute} bytes, and the system allows {PATH_MAX}"
    return None


def shortened(path: str | os.PathLike) -> str:
    """``path`` as text, its middle left out where it is longer than a line can show."""
    text = os.fsdecode(path)
    return text if len(text) <= 120 else f"{text[:60]}...{text[-50:]}"
