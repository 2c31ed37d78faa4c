"""How the episode settings behave on real results: label changes and episodes per face-minute.

    videmo analyze ../shared/data/videos examples/hamilton_clip.mp4 -o runs/episodes
    python benchmarks/episodes.py runs/episodes/*/

For each results folder and each (--smooth, --min-episode) pair, re-cuts the episodes from
frames.csv and prints the raw per-frame label changes per face-minute, the episodes per face-minute,
the median episode and the share of face time in episodes of at least 1 s: the figures behind the
defaults in the README.
"""

from __future__ import annotations

import argparse

import numpy as np

import videmo
from videmo.results.episodes import add_episodes

SETTINGS = [(0.0, 0.0), (0.25, 0.25), (0.5, 0.5), (1.0, 1.0), (0.5, 1.0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+")
    args = parser.parse_args()
    print(f"{'video':<24}{'smooth':>7}{'min':>6}{'flips/min':>11}{'episodes/min':>14}{'median ep s':>13}{'time in >=1s':>14}")
    for folder in args.folders:
        frames = videmo.read_results(folder)
        faces = frames.dropna(subset=["face_id"])
        if faces.empty:
            continue
        flips = sum(
            int((track["emotion"].to_numpy()[1:] != track["emotion"].to_numpy()[:-1]).sum())
            for _, track in faces.groupby("face_id")
        )
        for smooth_s, min_s in SETTINGS:
            _, episodes = add_episodes(frames, smooth_s, min_s)
            minutes = episodes["duration_s"].sum() / 60
            long_share = episodes.loc[episodes["duration_s"] >= 1.0, "duration_s"].sum() / max(episodes["duration_s"].sum(), 1e-9)
            name = str(folder).rstrip("/").rsplit("/", 1)[-1][:23]
            print(
                f"{name:<24}{smooth_s:>7.2f}{min_s:>6.2f}{flips / minutes:>11.1f}{len(episodes) / minutes:>14.1f}"
                f"{np.median(episodes['duration_s']):>13.2f}{long_share:>14.2f}"
            )


if __name__ == "__main__":
    main()
