"""What users do next with a results folder: pandas over frames.csv.

    videmo analyze examples/hamilton_clip.mp4
    python examples/explore_results.py videmo-results/hamilton_clip --emotion happiness

Prints the share of each emotion per face, each face's emotion over time (one row per second) and
the strongest moments of the chosen emotion.
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


def emotion_share_per_face(faces: pd.DataFrame) -> pd.DataFrame:
    """Fraction of each face's frames whose top label is each emotion, with the frame count."""
    share = pd.crosstab(faces["face_id"], faces["emotion"], normalize="index")
    share = share.reindex(columns=EMOTIONS, fill_value=0.0)
    share.insert(0, "frames", faces.groupby("face_id").size())
    return share


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
    except VidemoError as error:
        sys.exit(f"{parser.prog}: error: {error}")
    faces = frames.dropna(subset=["face_id"])
    print(f"{frames.loc[frames['decoded'], 'frame'].nunique()} frames analysed, {len(faces)} faces in {faces['face_id'].nunique()} tracks\n")
    if faces.empty:
        return
    pd.set_option("display.width", 140, "display.precision", 2)
    print("share of each emotion per face (fraction of its frames)")
    print(emotion_share_per_face(faces), "\n")
    print("emotion over time per face (1 s bins, mean probabilities)")
    print(emotion_over_time(faces).head(20), "\n")
    print(f"strongest moments of {args.emotion}")
    print(strongest_moments(faces, args.emotion).to_string(index=False))


if __name__ == "__main__":
    main()
