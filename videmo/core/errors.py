"""The one exception type that the CLI turns into a single clear line instead of a traceback."""

from __future__ import annotations

import os
from pathlib import Path


class VidemoError(Exception):
    """A problem with the user's input (a file, a folder, an option), stated in one line."""


# Unicode's bidirectional controls: a name holding one turns the rest of a terminal's line around.
BIDI_CONTROLS = frozenset({0x200E, 0x200F, 0x061C, *range(0x202A, 0x202F), *range(0x2066, 0x206A)})


def printable(text: str) -> str:
    """``text`` on one line and writable as UTF-8: the undecodable bytes of a file name (Python holds
    them as surrogates) become ``\\xNN``, newlines ``\\n``, other control characters ``\\xNN`` and the
    bidirectional controls ``\\uNNNN``.
    Every message, CSV and JSON field that shows a path goes through it: a Linux file name may be
    any bytes but '/' and NUL."""
    out = []
    for char in text:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif char == "\n":
            out.append("\\n")
        elif code < 32 or code == 127 or 0xD800 <= code <= 0xDFFF or code in BIDI_CONTROLS:
            out.append(f"\\x{code:02x}" if code < 256 else f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


def plural(count: object, word: str) -> str:
    """'1 face', '2 faces'."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def check_creatable(path: Path, what: str, folder: bool = False) -> None:
    """A VidemoError now, not after the work, where the file ``path`` (with ``folder``, a folder to write
    files into) could not be written: the nearest folder on its way that exists must be a folder that
    can be written, files being written beside their final name and then renamed (over an existing
    one too: the folder's permission is what counts)."""
    cause = unwritable(path if folder else path.parent)
    if cause:
        raise VidemoError(f"{what} {path}: cannot be made there: {cause}")


def unwritable(folder: Path) -> str | None:
    """Why nothing can be written into ``folder`` (made where it does not exist yet), or None: the nearest
    folder on its way that exists is a file, or cannot be written; or its name or path is too long to exist."""
    from videmo.core.files import too_long

    if why := too_long(folder):
        return why
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable (permission denied or a read-only file system)"
    return None
