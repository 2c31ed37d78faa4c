"""What users do next with a results folder: pandas over frames.csv.

    videmo analyze examples/hamilton_clip.mp4
    python examples/explore_results.py videmo-results/hamilton_clip --emotion happiness

Prints each face's headline (its dominant emotion and the runner-up, with their shares of its frames:
the numbers of index.csv, faces.png and the report), each face's emotion over time (one row per
second) and the strongest moments of the chosen emotion.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

import videmo
from videmo.core.errors import VidemoError

EMOTIONS = list(videmo.EMOTIONS)


def emotion(name: str) -> str:
    """``--emotion``: one of videmo's seven emotions, in any case."""
    if name.lower() not in EMOTIONS:
        raise argparse.ArgumentTypeError(f"{name} is not one of videmo's emotions ({', '.join(EMOTIONS)})")
    return name.lower()


HEADLINE = ["n_frames", "dominant_emotion", "dominant_share", "runner_up", "runner_up_share"]


def headline_per_face(summary: dict) -> pd.DataFrame:
    """Each face's headline as summary.json gives it (and index.csv, faces.png and the report): its frames,
    its dominant emotion and the runner-up with their shares of its frames' smoothed labels (not counts of
    the single-frame ``emotion``, which flickers). Every emotion's share is in ``emotion_share``."""
    table = pd.DataFrame(summary["tracks"], columns=["face_id", *HEADLINE]).set_index("face_id")
    return table.fillna({"runner_up": "-"})  # none: the face showed one emotion, or its second place is shared


def emotion_over_time(faces: pd.DataFrame, seconds: float = 1.0) -> pd.DataFrame:
    """Each face's mean probabilities per time bin, and the bin's most likely emotion."""
    binned = faces.assign(t=(faces["time_s"] // seconds) * seconds)
    means = binned.groupby(["face_id", "t"])[EMOTIONS].mean()
    means["emotion"] = means.idxmax(axis=1)
    return means


def strongest_moments(faces: pd.DataFrame, emotion: str, top: int = 5) -> pd.DataFrame:
    """The frames where a face shows ``emotion`` most confidently."""
    return faces.nlargest(top, emotion)[["frame", "time_s", "face_id", emotion, "x1", "y1", "x2", "y2"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", help="a folder written by 'videmo analyze' (for example videmo-results/hamilton_clip)")
    parser.add_argument("--emotion", type=emotion, default="happiness", help=f"one of {', '.join(EMOTIONS)}")
    args = parser.parse_args()

    try:
        frames = videmo.read_results(args.results)
        summary = videmo.read_summary(args.results)
    except VidemoError as error:
        sys.exit(f"{parser.prog}: error: {error}")
    faces = frames.dropna(subset=["face_id"])
    counts = summary["counts"]
    print(f"{counts['frames_analysed']} frames analysed, {counts['faces']} face-frames of {counts['tracks']} faces\n")
    if not summary["tracks"]:
        return
    pd.set_option("display.width", 140, "display.precision", 2)
    print("each face's headline: dominant emotion and runner-up, with their shares of its frames (smoothed labels)")
    print(headline_per_face(summary), "\n")
    print("emotion over time per face (1 s bins, mean probabilities)")
    print(emotion_over_time(faces).head(20), "\n")
    print(f"strongest moments of {args.emotion}")
    print(strongest_moments(faces, args.emotion).to_string(index=False))


if __name__ == "__main__":
    main()
