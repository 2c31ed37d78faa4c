"""videmo: for every face in every analysed frame of a video, which of seven emotions it shows.

The public names live here; ``import videmo`` does not import torch (the analysis loads it when a video
is analysed), so reading results is light.
"""

import os as _os
import signal as _signal
import sys as _sys


def _interrupted_at_start(signum, frame):  # noqa: ARG001
    """Ctrl-C while the command's modules import, before its own handling (``signals``) starts: one
    line and status 130, not a traceback from whichever import it landed in."""
    _os.write(2, b"videmo: interrupted\n")
    _os._exit(130)


_interrupted_at_start.videmo_startup = True
_command = _os.path.basename(_sys.argv[0] if _sys.argv else "") == "videmo" or _sys.orig_argv[1:3] == ["-m", "videmo"]
if _command and _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:
    _signal.signal(_signal.SIGINT, _interrupted_at_start)

closed_at_start = set()  # stdout (1) or stderr (2) closed when the command started (`videmo ... 2>&-`)
for _fd in (1, 2) if _command else ():
    try:
        _os.fstat(_fd)
    except OSError:  # a closed descriptor: the next file opened (a results file) would get it, and every C library's
        closed_at_start.add(_fd)  # message; Python's stream is None, and tqdm and print(file=None) fail or go astray
        _null = _os.open(_os.devnull, _os.O_WRONLY)
        if _null != _fd:
            _os.dup2(_null, _fd)
            _os.close(_null)
        setattr(_sys, "stdout" if _fd == 1 else "stderr", open(_fd, "w", errors="backslashreplace", closefd=False))

from videmo.api import (  # noqa: E402
    ArgumentError,
    ArgumentTypeError,
    analyze,
    analyze_many,
    read_batch,
    read_batch_episodes,
    read_episodes,
    read_index,
    read_results,
    read_summary,
    read_timeline,
)
from videmo.core.emotions import CLASSES as EMOTIONS  # noqa: E402
from videmo.core.errors import VidemoError  # noqa: E402
from videmo.core.version import __version__  # noqa: E402
from videmo.results.types import Analysis, VideoOutcome  # noqa: E402

__all__ = [
    "EMOTIONS",
    "Analysis",
    "ArgumentError",
    "ArgumentTypeError",
    "VideoOutcome",
    "VidemoError",
    "__version__",
    "analyze",
    "analyze_many",
    "read_batch",
    "read_batch_episodes",
    "read_episodes",
    "read_index",
    "read_results",
    "read_summary",
    "read_timeline",
]
