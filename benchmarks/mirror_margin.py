"""What the mirror's margin (``videmo.model.inference.MIRROR_MARGIN``) costs and buys: a face is also seen
mirrored only where its top emotion leads the second by less than the margin.

    python benchmarks/mirror_margin.py --data /tmp/data/ferplus           # FER+ Valid and the videos
    python benchmarks/mirror_margin.py --margins 0.5 0.3 VIDEO...          # the videos alone

FER+ Valid (``--data``, majority labels, the shipped model on ONNX Runtime or torch as ``evaluate``
runs it): each face's logits are computed as it is and mirrored once, then for each margin the share
of faces mirrored, the accuracy, and the share labelled as mirroring every face labels them.
Videos (default: the example and ../shared/data's videos): ``analyze``'s defaults at each margin, the
classifier's forward images per face (1 + the share mirrored), and the share of face-frames whose
``emotion`` and ``emotion_smoothed`` are those at the first margin given (the reference).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED_VIDEOS = ROOT.parent / "shared" / "data" / "videos"


def ferplus(data: str, margins: list[float]) -> None:
    from videmo.model.checkpoint import default_weights, load_checkpoint
    from videmo.model.inference import equalize
    from videmo.model.runtime import inference_model
    from videmo.training.datasets import NO_LABEL, load_dataset
    from videmo.training.images import decode_samples

    checkpoint = load_checkpoint(default_weights())
    meta = checkpoint.meta
    samples = [s for s in load_dataset(data, None).split("val") if s.label != NO_LABEL]
    images, labels, _, _ = decode_samples(samples, meta["image_size"], meta["channels"], 2, False, report=lambda line: None)
    if meta.get("equalize"):
        images = equalize(images)
    model, precision, runtime, _ = inference_model(checkpoint.model, torch.device("cpu"), "fp32", "auto", torch.get_num_threads())
    mean, std = (torch.tensor(meta[k]).view(1, -1, 1, 1) for k in ("mean", "std"))
    own, mirrored = [], []
    with torch.inference_mode():
        for start in range(0, len(images), 256):
            batch = (images[start : start + 256].float() / 255 - mean) / std
            own.append(model(batch).float()), mirrored.append(model(batch.flip(-1)).float())
    own, mirrored = torch.cat(own), torch.cat(mirrored)
    top = own.softmax(1).topk(2, 1).values
    lead, every = top[:, 0] - top[:, 1], ((own + mirrored) / 2).argmax(1)
    print(
        f"FER+ Valid, {len(labels)} faces ({runtime} {precision}): as is {(own.argmax(1) == labels).float().mean():.5f}, "
        f"every face mirrored {(every == labels).float().mean():.5f}"
    )
    print("margin | faces mirrored | accuracy | same label as mirroring every face")
    print("--- | --- | --- | ---")
    for margin in margins:
        close = lead < margin
        label = torch.where(close, every, own.argmax(1))
        print(
            f"{margin} | {close.float().mean():.1%} | {(label == labels).float().mean():.5f} | {(label == every).float().mean():.2%}"
        )


def videos(paths: list[Path], margins: list[float]) -> None:
    import videmo.model.inference
    from videmo.core.options import AnalyzeOptions
    from videmo.run.pipeline import Analyzer

    print(f"video | margin | forward images a face | same emotion as at {margins[0]} | same emotion_smoothed")
    print("--- | --- | --- | --- | ---")
    analyzer = Analyzer(AnalyzeOptions())
    model, images = analyzer.classifier.model, [0]

    def counting(batch):
        images[0] += len(batch)
        return model(batch)

    analyzer.classifier.model = counting
    for path in paths:
        reference = None
        for margin in margins:
            videmo.model.inference.MIRROR_MARGIN = margin
            images[0] = 0
            frames = analyzer.analyze_video(path).frames
            faces = frames[frames["face_id"].notna()].set_index(["frame", "face_id"])
            reference = faces if reference is None else reference
            both = reference.merge(faces, left_index=True, right_index=True, suffixes=("", "_m"))
            same = (both["emotion"] == both["emotion_m"]).mean()
            smoothed = (both["emotion_smoothed"].fillna("NA") == both["emotion_smoothed_m"].fillna("NA")).mean()
            print(
                f"{path.name} ({len(faces)} face-frames) | {margin} | {images[0] / max(len(faces), 1):.2f} | {same:.1%} | {smoothed:.1%}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="*", type=Path)
    parser.add_argument("--data", help="the FER+ folder (FER2013Valid/ and its labels) to score")
    parser.add_argument("--margins", type=float, nargs="+", default=[0.5, 0.4, 0.3, 0.25, 0.2, 0.1])
    args = parser.parse_args()
    if args.data:
        ferplus(args.data, args.margins)
    example = ROOT / "examples" / "hamilton_clip.mp4"  # the shared folder holds a copy of it: once is enough
    paths = args.videos or [example, *sorted(p for p in SHARED_VIDEOS.glob("*.mp4") if p.name != example.name)]
    videos([p for p in paths if p.is_file()], args.margins)


if __name__ == "__main__":
    main()
