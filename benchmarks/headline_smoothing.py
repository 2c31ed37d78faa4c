"""How much a face's headline (dominant emotion and its share) moves with ``--smooth``.

    python benchmarks/headline_smoothing.py                      # analyses the videos below first (minutes)
    python benchmarks/headline_smoothing.py --results runs/hs    # or reuses an output folder holding them

The videos: examples/hamilton_clip.mp4 and, if present, ../shared/data/videos/expressions/*.mp4 beside
the repository. For each --smooth S in SMOOTH_S, copies their results folders and runs
``videmo episodes --smooth S`` on the copies (--min-episode stays each folder's own), then prints,
per face, the dominant emotion and its share at each S, and how many faces change their dominant
emotion between 0.5 s (the default) and each other S. The first line says when, at which commit and
on which CPU it ran.
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import videmo

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = [
    ROOT / "examples" / "hamilton_clip.mp4",
    *sorted((ROOT.parent / "shared" / "data" / "videos" / "expressions").glob("*.mp4")),
]
SMOOTH_S = [0.0, 0.25, 0.5, 1.0, 2.0]
DEFAULT = 0.5


def header() -> str:
    """'# 2026-12-07, commit abc1234, CPU model': when, where and at which commit."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    cpu = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name")), "unknown CPU")
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    return (
        f"# {datetime.date.today()}, commit {commit or 'unknown'}{' (with uncommitted changes)' if dirty.strip() else ''}, {cpu}"
    )


def results_folders(reuse: Path | None, work: Path) -> list[Path]:
    """The videos' results folders: those in ``reuse`` made from the same files, else a fresh analysis into ``work``."""
    names = {video.name for video in VIDEOS if video.is_file()}
    if reuse is not None:
        found = [
            folder
            for folder in sorted(reuse.iterdir())
            if (folder / "summary.json").is_file() and Path(videmo.read_summary(folder)["video"]["path"]).name in names
        ]
        if found:
            return found
    output = work / "analysed"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "videmo",
            "analyze",
            *[str(v) for v in VIDEOS if v.is_file()],
            "-o",
            str(output),
            "--quiet",
            "--no-report",
        ],
        check=True,
    )
    return [folder for folder in sorted(output.iterdir()) if (folder / "summary.json").is_file()]


def headlines(folders: list[Path], work: Path) -> dict[float, dict[tuple[str, int], dict]]:
    """Per --smooth S: each face's track summary after ``videmo episodes --smooth S`` on copies of ``folders``."""
    found = {}
    for smooth in SMOOTH_S:
        copies = [shutil.copytree(folder, work / f"smooth-{smooth}" / folder.name) for folder in folders]
        subprocess.run(
            [sys.executable, "-m", "videmo", "episodes", *map(str, copies), "--smooth", str(smooth), "--no-report"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        found[smooth] = {(copy.name, track["face_id"]): track for copy in copies for track in videmo.read_summary(copy)["tracks"]}
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--results", type=Path, help="an output folder of 'videmo analyze' holding these videos' results (default settings)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        folders = results_folders(args.results, work)
        found = headlines(folders, work)
        sampled = {(t["settings"].get("fps"), t["settings"].get("every")) for t in map(videmo.read_summary, folders)}
    faces = sorted(found[DEFAULT])
    print(header())
    made = f"reused from {args.results}" if folders and folders[0].parent == args.results else "analysed now"
    made += ", every frame" if sampled == {(None, None)} else f", sampled {sorted(sampled, key=str)}"
    print(
        f"# {len(folders)} videos ({made}), {len(faces)} faces; 'videmo episodes --smooth S' on copies of their results, "
        "--min-episode each folder's own (0.5 s); each cell: dominant emotion and its share of the face's frames"
    )
    width = 22
    print(
        (
            f"{'video':<16}{'face':>5}{'frames':>7}  "
            + "".join(f"{f'S={s:g}':<{width}}" for s in SMOOTH_S)
            + f"runner-up at S={DEFAULT:g}"
        ).rstrip()
    )
    for key in faces:
        tracks = [found[s].get(key) for s in SMOOTH_S]
        cells = [f"{t['dominant_emotion']} {t['emotion_share'][t['dominant_emotion']]:.0%}" if t else "-" for t in tracks]
        changed = [t is not None and t["dominant_emotion"] != found[DEFAULT][key]["dominant_emotion"] for t in tracks]
        cells = [cell + (" *" if moved else "") for cell, moved in zip(cells, changed)]
        default = found[DEFAULT][key]
        runner_up = f"{default['runner_up']} {default['runner_up_share']:.0%}" if default.get("runner_up") else "-"
        print(f"{key[0][:15]:<16}{key[1]:>5}{default['n_frames']:>7}  " + "".join(f"{c:<{width}}" for c in cells) + runner_up)
    print(f"\n* dominant emotion differs from S={DEFAULT:g}'s")
    for smooth in SMOOTH_S:
        if smooth == DEFAULT:
            continue
        moved = [
            key
            for key in faces
            if key in found[smooth] and found[smooth][key]["dominant_emotion"] != found[DEFAULT][key]["dominant_emotion"]
        ]
        shift = [
            abs(
                found[smooth][key]["emotion_share"][found[DEFAULT][key]["dominant_emotion"]]
                - found[DEFAULT][key]["emotion_share"][found[DEFAULT][key]["dominant_emotion"]]
            )
            for key in faces
            if key in found[smooth]
        ]
        print(
            f"S={smooth:g} vs S={DEFAULT:g}: {len(moved)} of {len(faces)} faces change their dominant emotion"
            f"{' (' + ', '.join(f'{v} face {f}' for v, f in moved) + ')' if moved else ''}; "
            f"the S={DEFAULT:g} dominant emotion's share moves by {100 * max(shift):.0f} points at most, "
            f"{100 * sum(shift) / len(shift):.1f} on average"
        )


if __name__ == "__main__":
    main()
