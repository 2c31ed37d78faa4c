"""Stretches of a command in which Ctrl-C and SIGTERM wait: while native libraries (torch, ONNX Runtime,
MTCNN's weights) load and start their threads. ``signals`` holds an interrupt that lands in one and
delivers it as soon as the stretch ends; an interrupt raised in the middle left native state half made,
whose teardown at exit could abort the process ("terminate called without an active exception")."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_depth = 0


@contextlib.contextmanager
def native_loading() -> Iterator[None]:
    """Mark the block (in the main thread) as loading native code; elsewhere it marks nothing."""
    global _depth
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1


def is_loading() -> bool:
    """Whether the main thread is inside ``native_loading``."""
    return _depth > 0
