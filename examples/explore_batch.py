"""Two questions a researcher asks of a whole batch, answered from index.csv and episodes.csv.

    videmo analyze ../shared/data/videos examples/hamilton_clip.mp4 -o batch-results
    python examples/explore_batch.py batch-results --emotion happiness

1. Which videos show the most of an emotion? (share of face-frames, from the batch table)
2. When did each face show it, and for how long? (its episodes, longest first)

First it lists the faces whose headline is the closest call: the dominant emotion and the runner-up,
with their shares, as index.csv, faces.png and the report give them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

import videmo
from videmo.core.errors import VidemoError

EMOTIONS = list(videmo.EMOTIONS)


def emotion(name: str) -> str:
    """``--emotion``: one of videmo's seven emotions, in any case."""
    if name.lower() not in EMOTIONS:
        raise argparse.ArgumentTypeError(f"{name} is not one of videmo's emotions ({', '.join(EMOTIONS)})")
    return name.lower()


def videos_ranked_by(index: pd.DataFrame, emotion: str) -> pd.DataFrame:
    """Per video: faces, face-frames, and the share of face-frames labelled ``emotion`` (frame-weighted over its faces)."""
    faces = index.dropna(subset=["face_id"])
    weighted = faces.assign(hits=faces[f"share_{emotion}"] * faces["n_frames"])
    table = weighted.groupby("folder").agg(
        faces=("face_id", "nunique"),
        face_frames=("n_frames", "sum"),
        hits=("hits", "sum"),
        episodes=(f"episodes_{emotion}", "sum"),
    )
    table[f"share_{emotion}"] = table.pop("hits") / table["face_frames"]
    table["face_frames"] = table["face_frames"].astype(int)
    return table.sort_values(f"share_{emotion}", ascending=False)


def closest_calls(index: pd.DataFrame, top: int = 5) -> pd.DataFrame:
    """The faces whose dominant emotion leads the runner-up by the fewest points (the batch table's headline columns)."""
    faces = index.dropna(subset=["face_id"])
    faces = faces.assign(lead=faces["dominant_share"] - faces["runner_up_share"]).fillna({"runner_up": "-"})
    columns = ["folder", "face_id", "n_frames", "dominant_emotion", "dominant_share", "runner_up", "runner_up_share"]
    return faces.nsmallest(top, "lead")[columns]


def episodes_of(output: Path, emotion: str, top: int = 8) -> pd.DataFrame:
    """The longest ``emotion`` episodes over the batch: which video, which face, from when to when."""
    episodes = videmo.read_batch_episodes(output)
    columns = ["folder", "face_id", "t_start", "t_end", "duration_s", "mean_probability", "t_peak"]
    return episodes[episodes["emotion"] == emotion].nlargest(top, "duration_s")[columns]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", type=Path, help="the -o folder of a 'videmo analyze' run over several videos")
    parser.add_argument("--emotion", type=emotion, default="happiness", help=f"one of {', '.join(EMOTIONS)}")
    args = parser.parse_args()

    try:
        index = videmo.read_index(args.output)
    except VidemoError as error:
        sys.exit(f"{parser.prog}: error: {error}")
    pd.set_option("display.width", 140, "display.float_format", "{:.2f}".format)
    print(f"{index['folder'].nunique()} videos, {index['face_id'].notna().sum()} faces\n")
    print("the closest calls: each face's dominant emotion and runner-up, with their shares of its frames")
    print(closest_calls(index).to_string(index=False), "\n")
    print(f"videos by their share of {args.emotion}")
    print(videos_ranked_by(index, args.emotion), "\n")
    print(f"the longest {args.emotion} episodes")
    print(episodes_of(args.output, args.emotion).to_string(index=False))


if __name__ == "__main__":
    main()
