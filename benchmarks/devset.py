"""Score a model on the development set of real video faces labelled by eye (benchmarks/devset/).

    python benchmarks/devset.py [--model CHECKPOINT] [--paired OTHER_CHECKPOINT] [--json OUT]

It uses only videmo's public outputs, so it keeps working while the package changes inside: for
each video that has labels it runs ``python -m videmo analyze VIDEO`` (every frame, the model's own
preprocessing, ``--model`` passed through) into a temporary folder, then matches each labelled
(video, frame, box) to the row of that frame in ``frames.csv`` whose box overlaps it most (IoU >=
0.3) and takes that row's per-frame ``emotion``. A labelled face with no such row is a miss: it
counts as wrong and is reported. Labels ``unsure`` are skipped.

It prints the number scored, accuracy and macro recall (mean recall over the classes present), each
with a 95% bootstrap interval (2000 resamples of the scored faces, fixed seed), per-class recall, the
7x7 confusion matrix (rows: label, columns: prediction) and accuracy per video. With ``--paired``
it scores both models and gives the paired bootstrap interval of the differences (first minus
second), each resample drawing the same faces for both. Resamples draw whole tracks, since faces of
one track in nearby frames are alike. Where frames.csv says how each face was seen, it prints accuracy
by bins of head turn, size, sharpness, brightness and confidence.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CLASSES = ["surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral"]
ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "benchmarks" / "devset" / "labels.csv"
MIN_IOU, RESAMPLES, SEED = 0.3, 2000, 20261207
MISS = "(missed)"


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0.0) * max(h, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@functools.cache
def weights_flag() -> str:
    """The analyze option that names a checkpoint (``--model`` if the CLI has it, else ``--weights``)."""
    help_text = subprocess.run(
        [sys.executable, "-m", "videmo", "analyze", "--help"], capture_output=True, text=True, check=True
    ).stdout
    return "--model" if "--model" in help_text else "--weights"


def analyze(video: Path, model: str | None, out: Path) -> list[dict[str, str]]:
    """Run ``videmo analyze`` on every frame of one video; return its frames.csv rows with a face."""
    cmd = [
        sys.executable,
        "-m",
        "videmo",
        "analyze",
        str(video),
        "-o",
        str(out),
        "--every",
        "1",
        "--quiet",
        "--no-report",
        "--no-plots",
    ]
    if model:
        cmd += [weights_flag(), model]
    subprocess.run(cmd, check=True, stdout=sys.stderr)  # its summary lines stay out of the report
    (frames,) = out.glob("*/frames.csv")
    with open(frames, newline="") as f:
        return [r for r in csv.DictReader(f) if r.get("face_id", "") != "" and r.get("emotion")]


def predict(labels: list[dict[str, str]], videos: Path, model: str | None) -> list[dict[str, str]]:
    """Per labelled face: the matched frames.csv row (its per-frame ``emotion`` and how the face was
    seen), or a row whose emotion is MISS."""
    preds: list[dict[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="devset-") as tmp:
        rows_by_video: dict[str, dict[int, list[dict[str, str]]]] = {}
        for k, video in enumerate(sorted({r["video"] for r in labels})):
            print(f"analysing {video} ({model or 'shipped model'})", file=sys.stderr)
            rows = analyze(videos / video, model, Path(tmp) / str(k))
            by_frame: dict[int, list[dict[str, str]]] = {}
            for r in rows:
                by_frame.setdefault(int(float(r["frame"])), []).append(r)
            rows_by_video[video] = by_frame
    for lab in labels:
        box = tuple(float(lab[c]) for c in ("x1", "y1", "x2", "y2"))
        cands = rows_by_video[lab["video"]].get(int(lab["frame"]), [])
        scored = [(iou(box, tuple(float(r[c]) for c in ("x1", "y1", "x2", "y2"))), k) for k, r in enumerate(cands)]
        best = max(scored, default=(0.0, -1))
        preds.append(cands[best[1]] if best[0] >= MIN_IOU else {"emotion": MISS})
    return preds


# How the labels depend on how each face was seen (frames.csv's columns): accuracy per bin.
QUALITY_BINS = {
    "|yaw|": ("yaw", [0, 15, 30, 45, 60, 90], abs),
    "face_px": ("face_px", [0, 60, 90, 130, 200, 10000], None),
    "sharpness": ("sharpness", [0, 0.02, 0.03, 0.045, 0.06, 1], None),
    "brightness": ("brightness", [0, 0.15, 0.25, 0.35, 0.5, 1], None),
    "confidence": ("confidence", [0, 0.4, 0.55, 0.7, 0.85, 1.01], None),
}


def by_quality(rows: list[dict[str, str]], correct: np.ndarray) -> dict:
    """Accuracy in bins of each measure of how a face was seen, where frames.csv has it."""
    out = {}
    for name, (column, edges, transform) in QUALITY_BINS.items():
        if not rows or not any(column in r for r in rows):
            continue
        values = np.array([float(r.get(column) or "nan") for r in rows])
        values = transform(values) if transform else values
        out[name] = []
        for low, high in zip(edges, edges[1:]):
            inside = (values >= low) & (values < high)
            if inside.any():
                out[name].append({"low": low, "high": high, "n": int(inside.sum()), "accuracy": float(correct[inside].mean())})
    return out


def ci95(x: np.ndarray) -> list[float]:
    return [float(np.percentile(x, 2.5)), float(np.percentile(x, 97.5))]


def pct(x: float) -> str:
    return f"{100 * x:5.1f}%"


def macro_recall(truth: np.ndarray, correct: np.ndarray) -> float:
    return float(np.mean([correct[truth == c].mean() for c in np.unique(truth)]))


def bootstrap(truth: np.ndarray, corrects: list[np.ndarray], groups: np.ndarray) -> dict[str, list[list[float]]]:
    """Percentile 95% intervals of accuracy and macro recall for each model, and of their difference
    when there are two, over the same resamples. A resample draws whole tracks (``groups``: a label's
    video and face), since the faces of one track are alike: intervals as wide as the tracks make them."""
    rng = np.random.default_rng(SEED)
    members = [np.flatnonzero(groups == g) for g in np.unique(groups)]
    idx = [np.concatenate([members[k] for k in rng.integers(0, len(members), size=len(members))]) for _ in range(RESAMPLES)]
    acc = np.array([[c[i].mean() for c in corrects] for i in idx])
    mac = np.array([[macro_recall(truth[i], c[i]) for c in corrects] for i in idx])
    out = {
        "accuracy": [ci95(acc[:, m]) for m in range(len(corrects))],
        "macro_recall": [ci95(mac[:, m]) for m in range(len(corrects))],
    }
    if len(corrects) == 2:
        out["accuracy_diff"] = [ci95(acc[:, 0] - acc[:, 1])]
        out["macro_recall_diff"] = [ci95(mac[:, 0] - mac[:, 1])]
    return out


def report(name: str, labels: list[dict[str, str]], rows: list[dict[str, str]], cis: dict[str, list[float]]) -> dict:
    truth = np.array([r["label"] for r in labels])
    pred = np.array([r["emotion"] for r in rows])
    correct = truth == pred
    present = [c for c in CLASSES if (truth == c).any()]
    recall = {c: float(correct[truth == c].mean()) for c in present}
    confusion = [[int(((truth == a) & (pred == b)).sum()) for b in CLASSES] for a in CLASSES]
    missed = {c: int(((truth == c) & (pred == MISS)).sum()) for c in CLASSES}
    per_video = {}
    for v in sorted({r["video"] for r in labels}):
        m = np.array([r["video"] == v for r in labels])
        per_video[v] = {"n": int(m.sum()), "accuracy": float(correct[m].mean())}
    res = {
        "model": name,
        "n": len(truth),
        "missed": int((pred == MISS).sum()),
        "accuracy": float(correct.mean()),
        "accuracy_ci95": cis["accuracy"],
        "macro_recall": float(np.mean(list(recall.values()))),
        "macro_recall_ci95": cis["macro_recall"],
        "recall": recall,
        "confusion": confusion,
        "missed_per_class": missed,
        "per_video": per_video,
        "by_quality": by_quality(rows, correct),
        "faces": [
            {
                "video": lab["video"],
                "face_id": lab["face_id"],
                "label": lab["label"],
                **{k: row.get(k) for k in ("emotion", "confidence", "face_px", "yaw", "sharpness", "brightness")},
            }
            for lab, row in zip(labels, rows)
        ],
    }
    print(f"\n== {name}\nn scored {res['n']} (missed by the detector or the IoU match: {res['missed']})")
    for key in ("accuracy", "macro_recall"):
        lo, hi = res[f"{key}_ci95"]
        print(f"{key:13s} {pct(res[key])}  95% CI [{pct(lo)}, {pct(hi)}]")
    print("per-class recall: " + ", ".join(f"{c} {pct(r).strip()} (n={int((truth == c).sum())})" for c, r in recall.items()))
    print("confusion (rows: label, columns: prediction; last column: missed)")
    print(" " * 10 + "".join(f"{c[:7]:>8s}" for c in CLASSES) + f"{'missed':>8s}")
    for c, row in zip(CLASSES, confusion):
        print(f"{c:10s}" + "".join(f"{x:8d}" for x in row) + f"{missed[c]:8d}")
    print("accuracy per video:")
    for v, d in per_video.items():
        print(f"  {v:28s} n={d['n']:3d}  {pct(d['accuracy'])}")
    for measure, bins in res["by_quality"].items():
        print(
            f"accuracy by {measure}: "
            + ", ".join(f"[{b['low']:g}, {b['high']:g}) {pct(b['accuracy']).strip()} (n={b['n']})" for b in bins)
        )
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="checkpoint to score (default: the shipped model)")
    ap.add_argument("--paired", metavar="OTHER_CHECKPOINT", help="also score this checkpoint; paired CIs")
    ap.add_argument(
        "--videos",
        type=Path,
        default=ROOT.parent / "shared" / "data" / "videos",
        help="root folder of the labelled videos (default: ../shared/data/videos)",
    )
    ap.add_argument("--labels", type=Path, default=LABELS)
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()

    with open(args.labels, newline="") as f:
        labels = [r for r in csv.DictReader(f) if r["label"] != "unsure"]
    models = [args.model] + ([args.paired] if args.paired else [])
    preds = [predict(labels, args.videos, m) for m in models]
    truth = np.array([r["label"] for r in labels])
    corrects = [truth == np.array([r["emotion"] for r in p]) for p in preds]
    cis = bootstrap(truth, corrects, np.array([f"{r['video']}#{r['face_id']}" for r in labels]))
    results = [
        report(m or "shipped model", labels, p, {k: cis[k][i] for k in ("accuracy", "macro_recall")})
        for i, (m, p) in enumerate(zip(models, preds))
    ]
    out: dict = {"labels": str(args.labels), "resamples": RESAMPLES, "seed": SEED, "models": results}
    if args.paired:
        diff = {
            "accuracy": results[0]["accuracy"] - results[1]["accuracy"],
            "macro_recall": results[0]["macro_recall"] - results[1]["macro_recall"],
            "accuracy_ci95": cis["accuracy_diff"][0],
            "macro_recall_ci95": cis["macro_recall_diff"][0],
        }
        out["paired_difference"] = diff
        print(f"\n== paired difference ({models[0] or 'shipped model'} minus {models[1]}), same resamples")
        for key in ("accuracy", "macro_recall"):
            lo, hi = diff[f"{key}_ci95"]
            print(f"{key:13s} {100 * diff[key]:+5.1f} points  95% CI [{100 * lo:+5.1f}, {100 * hi:+5.1f}]")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
