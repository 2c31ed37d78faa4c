"""Whether a file is one of videmo's text files (its tables and summary.json: UTF-8, whole lines) before a
parser reads it, and if not, why, in words: binary data, another encoding, a file cut short mid-line.

pandas and json say these in their own terms ("Error tokenizing data. C error", "'utf-8' codec can't
decode byte 0xff"), or read a cut table's half line as a row; the readers say the cause instead.
"""

from __future__ import annotations

import codecs
from pathlib import Path

HEAD = 1 << 16  # bytes looked at before parsing: binary data and UTF-16 show at once


def text_damage(path: Path, whole: bool = False, tail: bool = True) -> str | None:
    """Why ``path`` is not a UTF-8 text file of whole lines, or None: from its first ``HEAD`` bytes and (with
    ``tail``) its last byte, or (``whole``, once a parser has failed) all of it. OSError where it cannot be read.
    A table's last line ends as pandas writes it; a JSON document is whole without its last newline."""
    with open(path, "rb") as f:
        head = f.read(HEAD)
        if not head:
            return "an empty file (0 bytes)"
        if (
            head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
            or head[1:200:2].count(0) > 20
            or head[0:200:2].count(0) > 20
        ):
            return "UTF-16 text, not the UTF-8 that videmo writes: save it as UTF-8"
        decoder, offset, chunk = codecs.getincrementaldecoder("utf-8")(), 0, head
        while chunk:
            if b"\0" in chunk:
                return f"binary data, not text: a NUL byte at offset {offset + chunk.index(0)}"
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as e:
                byte = chunk[e.start] if e.start < len(chunk) else 0
                return f"not UTF-8 text (byte 0x{byte:02x} at offset {offset + e.start}): another encoding, such as Latin-1, or binary data"
            offset += len(chunk)
            chunk = f.read(HEAD) if whole else b""
        f.seek(-1, 2)
        if (tail or whole) and f.read(1) != b"\n":
            return "cut short: its last line is incomplete"
    return None
