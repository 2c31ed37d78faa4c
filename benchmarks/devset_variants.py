"""Compare checkpoints and crop settings on the development set of real video faces, and on FER+ Valid
as the video pipeline would crop its faces, in seconds rather than the minutes of ``devset.py``.

    python benchmarks/devset_variants.py --model A.pt --model B.pt [--align both] [--margin -0.04 --margin 0.1]
    python benchmarks/devset_variants.py --ferplus /path/to/ferplus --align both

The dev set's labelled frames are decoded and searched for faces once (videmo's own decoder and detector,
the default settings) and kept in ``--cache``; each labelled face is matched to its detection as
``devset.py`` matches it (IoU >= 0.3), and each variant then only crops and classifies those faces one by
one. Each line is followed by the faces read right per class: a macro recall moves by a third when one
of three anger faces changes. Figures agree with ``devset.py`` up to its every-frame tracking, which this skips: ``devset.py``
gives the figures to cite. Each variant is compared with the first, paired over the same bootstrap
resamples of whole tracks.

With ``--ferplus``, FER+ Valid's faces are each set into a frame (scaled to 96 px, with a black border),
found by the same detector, and classified from the detector's box as a video face is, with and
without alignment: how much turning a face upright changes on faces that are nearly upright already.
"""

from __future__ import annotations

import argparse
import csv
import pickle
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from devset import CLASSES, LABELS, MIN_IOU, bootstrap, iou, macro_recall, pct  # noqa: E402

from videmo.core.options import AnalyzeOptions  # noqa: E402
from videmo.faces.classify import EmotionClassifier  # noqa: E402
from videmo.faces.detect import FaceDetector  # noqa: E402
from videmo.model.checkpoint import load_checkpoint, weights_path  # noqa: E402
from videmo.video.decode import open_video, stream_frames  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REGION = 1.5  # the frame region kept around each face, as a multiple of its box's longer side from its centre


def detector() -> FaceDetector:
    o = AnalyzeOptions()
    return FaceDetector(torch.device("cpu"), o.detect_width, o.min_face, o.det_threshold, 1)


def build_cache(labels: list[dict[str, str]], videos: Path) -> list[dict]:
    """Per labelled face: the frame region around its matched detection, with the box and five points in
    the region's pixels (None where nothing was matched)."""
    found = detector()
    faces: list[dict] = []
    for video in sorted({r["video"] for r in labels}):
        mine = [r for r in labels if r["video"] == video]
        wanted = np.array(sorted({int(r["frame"]) for r in mine}))
        frames: dict[int, np.ndarray] = {}
        for batch in stream_frames(open_video(videos / video), wanted, 8):
            frames.update(zip(batch.indices.tolist(), batch.frames))
        for r in mine:
            frame = frames[int(r["frame"])]
            box = tuple(float(r[c]) for c in ("x1", "y1", "x2", "y2"))
            detections = found.detect(frame[None])[0]
            best = max(detections, key=lambda d: iou(box, d.box), default=None)
            if best is None or iou(box, best.box) < MIN_IOU or best.landmarks is None:
                faces.append({"label": r, "region": None})
                continue
            b = np.array(best.box)
            half = REGION * max(b[2] - b[0], b[3] - b[1])
            cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
            x0, y0 = int(max(0, cx - half)), int(max(0, cy - half))
            x1, y1 = int(min(frame.shape[1], cx + half)), int(min(frame.shape[0], cy + half))
            faces.append(
                {
                    "label": r,
                    "region": np.ascontiguousarray(frame[y0:y1, x0:x1]),
                    "box": b - [x0, y0, x0, y0],
                    "points": np.array(best.landmarks) - [x0, y0],
                }
            )
        print(f"cached {video}", file=sys.stderr)
    return faces


def classify_faces(faces: list[dict], classifier: EmotionClassifier) -> np.ndarray:
    """The predicted class name of each cached face ('(missed)' where it has none)."""
    out = []
    for face in faces:
        if face["region"] is None:
            out.append("(missed)")
            continue
        labels = classifier.classify(face["region"][None], np.zeros(1, dtype=np.int64), face["box"][None], face["points"][None])
        out.append(CLASSES[int(labels.probabilities[0].argmax())])
    return np.array(out)


def variants(args) -> list[tuple[str, str | None, bool, float | None]]:
    aligns = {"off": [False], "on": [True], "both": [False, True]}[args.align]
    margins = args.margin or [None]
    return [
        (f"{Path(m).name if m else 'shipped'} align={'on' if a else 'off'}{'' if g is None else f' margin={g:g}'}", m, a, g)
        for m in (args.model or [None])
        for a in aligns
        for g in margins
    ]


def score_devset(args) -> None:
    with open(LABELS, newline="") as f:
        labels = [r for r in csv.DictReader(f) if r["label"] != "unsure"]
    cache = args.cache / "devset.pkl"
    if cache.exists():
        faces = pickle.loads(cache.read_bytes())
    else:
        faces = build_cache(labels, args.videos)
        args.cache.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps(faces))
    truth = np.array([f["label"]["label"] for f in faces])
    groups = np.array([f"{f['label']['video']}#{f['label']['face_id']}" for f in faces])
    audience = np.array([f["label"]["video"] == "hamilton_clip.mp4" and float(f["label"]["time_s"]) >= 7.0 for f in faces])
    print(f"dev set: {len(faces)} labelled faces, {sum(f['region'] is None for f in faces)} not found by the detector")
    print(
        f"{'variant':44s} {'accuracy':>9s} {'macro rec':>9s}  {'diff acc [95% CI]':>24s}  {'diff macro [95% CI]':>24s}  audience happy"
    )
    first = None
    for name, model, align, margin in variants(args):
        checkpoint = load_checkpoint(weights_path(model))
        classifier = EmotionClassifier(checkpoint, torch.device("cpu"), "fp32", margin=margin, runtime="torch", align=align)
        pred = classify_faces(faces, classifier)
        correct = truth == pred
        first = correct if first is None else first
        cis = bootstrap(truth, [correct, first], groups)
        diff = ""
        if correct is not first:
            a, m = cis["accuracy_diff"][0], cis["macro_recall_diff"][0]
            d_acc, d_mac = correct.mean() - first.mean(), macro_recall(truth, correct) - macro_recall(truth, first)
            diff = f"{100 * d_acc:+5.1f} [{100 * a[0]:+5.1f},{100 * a[1]:+5.1f}]  {100 * d_mac:+5.1f} [{100 * m[0]:+5.1f},{100 * m[1]:+5.1f}]"
        happy = f"{(pred[audience & (truth == 'happiness')] == 'happiness').sum()}/{(audience & (truth == 'happiness')).sum()}"
        print(f"{name:44s} {pct(correct.mean()):>9s} {pct(macro_recall(truth, correct)):>9s}  {diff:>51s}  {happy}", flush=True)
        right = ", ".join(f"{c} {correct[truth == c].sum()}/{(truth == c).sum()}" for c in CLASSES if (truth == c).any())
        print(f"{'':44s} right: {right}")


def score_ferplus(args) -> None:
    from videmo.training.datasets import NO_LABEL, load_dataset
    from videmo.training.images import decode_samples

    samples = [s for s in load_dataset(args.ferplus).split("val") if s.label != NO_LABEL]
    images, labels, _, _ = decode_samples(samples, 96, 3, progress=False)
    frames = torch.nn.functional.pad(images, (32, 32, 32, 32)).permute(0, 2, 3, 1).contiguous().numpy()
    found = FaceDetector(torch.device("cpu"), None, 20, 0.9, 1)
    faces = []
    for start in range(0, len(frames), 64):
        for k, detections in enumerate(found.detect(frames[start : start + 64])):
            best = max(detections, key=lambda d: d.score, default=None)
            if best is not None and best.landmarks is not None:
                faces.append((start + k, np.array(best.box), np.array(best.landmarks)))
    index = np.array([f[0] for f in faces])
    boxes, points = np.stack([f[1] for f in faces]), np.stack([f[2] for f in faces])
    eye = points[:, 1] - points[:, 0]
    roll = np.abs(np.degrees(np.arctan2(eye[:, 1], eye[:, 0])))
    print(
        f"FER+ Valid: {len(frames)} faces, {len(faces)} found; |roll| median {np.median(roll):.1f}, 90th pct {np.percentile(roll, 90):.1f}"
    )
    truth = labels.numpy()[index]
    for name, model, align, margin in variants(args):
        checkpoint = load_checkpoint(weights_path(model))
        classifier = EmotionClassifier(checkpoint, torch.device("cpu"), "fp32", margin=margin, runtime="torch", align=align)
        pred = classifier.classify(frames, index, boxes, points).probabilities.argmax(1)
        tilted = roll >= 10
        print(
            f"{name:44s} accuracy {pct((pred == truth).mean())}   on faces with |roll| >= 10: {pct((pred == truth)[tilted].mean())} (n={tilted.sum()})"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", help="checkpoint (repeat to compare; default: the shipped model)")
    ap.add_argument("--align", choices=("off", "on", "both"), default="both", help="turn faces upright by their eye line")
    ap.add_argument("--margin", type=float, action="append", help="crop margin instead of the checkpoint's (repeat)")
    ap.add_argument("--videos", type=Path, default=ROOT.parent / "shared" / "data" / "videos")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/videmo-devset-cache"))
    ap.add_argument("--ferplus", type=Path, help="score FER+ Valid (a FERPlus folder) instead of the dev set")
    args = ap.parse_args()
    torch.set_num_threads(1)
    score_ferplus(args) if args.ferplus else score_devset(args)


if __name__ == "__main__":
    main()
