"""videmo: for every face in every analysed frame of a video, which of seven emotions it shows.

The public names live here; ``import videmo`` does not import torch (the analysis loads it when a video
is analysed), so reading results is light.
"""

from videmo.api import (ArgumentError, ArgumentTypeError, analyze, analyze_many, read_batch, read_episodes, read_index, read_results,
                        read_summary, read_timeline)
from videmo.core.emotions import CLASSES as EMOTIONS
from videmo.core.errors import VidemoError
from videmo.core.version import __version__
from videmo.results.types import Analysis, VideoOutcome

__all__ = ["EMOTIONS", "Analysis", "ArgumentError", "ArgumentTypeError", "VideoOutcome", "VidemoError", "__version__", "analyze", "analyze_many",
           "read_batch", "read_episodes", "read_index", "read_results", "read_summary", "read_timeline"]
