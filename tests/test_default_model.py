"""The shipped default model: complete metadata, the model card's accuracy on FER+ Valid, real accuracy
on FER2013's own labels, and the fast precision keeping its labels (on FER2013's faces and on the
example video's)."""

import re
import tarfile
from pathlib import Path

import pytest
import torch
from torchvision.ops import box_iou

from media import EXAMPLE

from videmo.aggregate import BOX_COLUMNS
from videmo.checkpoint import CLASSES, default_weights, load_checkpoint
from videmo.data import load_dataset
from videmo.images import decode_samples
from videmo.device import cpu_has_fast_bf16, prepare_model
from videmo.evaluate import evaluate
from videmo.options import AnalyzeOptions
from videmo.pipeline import Analyzer
from videmo.inference import predict

FAST = "bf16"  # what --precision auto picks on CPUs with native bf16


@pytest.fixture(scope="module")
def shipped():
    path = default_weights()
    assert path is not None, "models/ must hold the default model"
    return load_checkpoint(path)


def unpack_split(archive_path: Path, split: str, root: Path) -> Path:
    """One split folder of one of ../shared/data's archives, unpacked under ``root``; the dataset folder holding it."""
    with tarfile.open(archive_path) as archive:
        members = [m for m in archive.getmembers() if m.isfile() and f"/{split}/" in m.name]
        archive.extractall(root, members=members, filter="data")
    return next(root.rglob(split)).parent


@pytest.fixture(scope="module")
def fer_val(shared_data, tmp_path_factory) -> Path:
    """FER2013's val split (class folders)."""
    return unpack_split(shared_data / "fer2013-48px.tar.gz", "val", tmp_path_factory.mktemp("fer"))


@pytest.fixture(scope="module")
def ferplus_valid(shared_data, tmp_path_factory) -> Path:
    """FER+'s Valid split (its label.csv and PNGs)."""
    return unpack_split(shared_data / "ferplus-48px.tar.gz", "FER2013Valid", tmp_path_factory.mktemp("ferplus"))


def test_shipped_model_loads_with_complete_metadata(shipped):
    meta = shipped.meta
    assert shipped.path.stat().st_size < 60 * 2**20
    assert meta["arch"] == "awei-vgg" and meta["vgg"] and meta["image_size"] >= 32 and meta["channels"] in (1, 3)
    assert meta["classes"] == list(CLASSES)
    assert len(meta["mean"]) == len(meta["std"]) == meta["channels"]
    assert meta["command"].startswith("videmo train") and meta["pretrained"] == "none"
    assert meta["trained_on"]["counts"]["train"] and meta["videmo_version"] and meta["created"]
    metrics = meta["metrics"]
    assert {"accuracy", "macro_f1", "macro_recall", "recall", "confusion"} <= set(metrics)
    assert len(metrics["confusion"]) == 7 and metrics["accuracy"] > 0.8
    assert meta["trained_on"]["layout"] == "ferplus" and meta["train_config"]["labels"] in ("majority", "probability", "crossentropy")
    assert set(meta["crop"]) == {"margin", "shift"} and isinstance(meta["equalize"], bool)


def card_figures(card: Path) -> dict[str, float]:
    """The headline figures of the model card's "## Figures" section: accuracy, macro-F1, macro recall."""
    section = card.read_text(encoding="utf-8").split("\n## Figures", 1)[1]
    line = next(line for line in section.splitlines() if line.startswith("accuracy **"))
    values = re.findall(r"\*\*([0-9.]+)\*\*", line)
    return dict(zip(("accuracy", "macro_f1", "macro_recall"), map(float, values)))


def test_shipped_model_reproduces_its_card_on_ferplus_valid(shipped, ferplus_valid):
    plain, about = evaluate(str(ferplus_valid), str(shipped.path), precision="fp32", progress=False, mirror=False)
    assert about["images"] == 3175  # the faces with a majority emotion
    # the figure of training's best validation (faces as they are), which the checkpoint carries
    assert abs(plain.accuracy - shipped.meta["metrics"]["accuracy"]) < 0.005
    # the card's, as videmo evaluate and analyze label faces by default: averaged with their mirror images
    result, _ = evaluate(str(ferplus_valid), str(shipped.path), precision="fp32", progress=False)
    card = card_figures(shipped.path.parent / "README.md")
    assert card == pytest.approx({"accuracy": result.accuracy, "macro_f1": result.macro_f1,
                                  "macro_recall": result.macro_recall}, abs=0.0005 + 1e-9)
    assert result.accuracy > 0.8 and min(result.recall) > 0.1, "no class may be ignored"


def test_shipped_model_is_well_above_chance_on_fer2013s_own_labels(shipped, fer_val):
    result, about = evaluate(str(fer_val), str(shipped.path), precision="auto", progress=False)
    assert about["images"] == 3589
    # FER2013's labels agree with FER+'s majority on only 67% of these faces, which caps this figure;
    # chance is 1/7 for macro recall and 0.25 for always answering the largest class
    assert result.accuracy > 0.55 and result.macro_recall > 0.45


@pytest.mark.skipif(not cpu_has_fast_bf16(), reason="this CPU has no native bf16: auto precision is fp32")
def test_fast_precision_agrees_with_fp32_on_fer2013_faces(shipped, fer_val):
    meta = shipped.meta
    samples = load_dataset(fer_val).split("val")[:1500]
    images, _, _, _ = decode_samples(samples, meta["image_size"], meta["channels"], progress=False)
    mean, std = (torch.tensor(meta[k]).view(1, -1, 1, 1) for k in ("mean", "std"))
    labels = {}
    for precision in ("fp32", FAST):
        model = prepare_model(load_checkpoint(shipped.path).model.eval(), torch.device("cpu"), precision)
        labels[precision] = predict(model, images, mean, std, torch.device("cpu"), precision, 256).argmax(1)
    assert (labels["fp32"] == labels[FAST]).float().mean() >= 0.99


@pytest.mark.skipif(not cpu_has_fast_bf16(), reason="this CPU has no native bf16: auto precision is fp32")
def test_fast_precision_agrees_with_fp32_on_the_example_videos_faces(shipped):
    """The whole pipeline at both precisions: faces matched by frame and box overlap carry the same label."""
    tables = {p: Analyzer(AnalyzeOptions(precision=p, every=2)).analyze_video(EXAMPLE).frames for p in ("fp32", FAST)}
    reference, fast = (t[t["face_id"].notna()] for t in tables.values())
    agree = 0
    for frame, faces in reference.groupby("frame"):
        others = fast[fast["frame"] == frame]
        if len(others):
            iou = box_iou(torch.tensor(faces[BOX_COLUMNS].to_numpy()), torch.tensor(others[BOX_COLUMNS].to_numpy()))
            best = iou.max(dim=1)
            agree += sum(v > 0.5 and label == others["emotion"].iloc[int(j)]
                         for v, j, label in zip(best.values, best.indices, faces["emotion"]))
    assert len(reference) > 100
    assert agree >= 0.99 * len(reference) and abs(len(fast) - len(reference)) <= 0.01 * len(reference)
