"""Metrics against a hand computation, and ``videmo evaluate`` on a tiny dataset."""

import json
import math
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from conftest import make_checkpoint
from test_data import write_folders

from videmo.cli import main
from videmo.core.emotions import CLASSES
from videmo.training.metrics import confusion_matrix, scores

# Four classes, ten samples; class 3 never occurs and is never predicted.
LABELS = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
PREDICTIONS = [0, 0, 0, 1, 1, 1, 2, 2, 0, 1]


def test_scores_equal_a_hand_computation():
    result = scores(torch.tensor(LABELS), torch.tensor(PREDICTIONS), 4)
    assert result.confusion == [[3, 1, 0, 0], [0, 2, 1, 0], [1, 1, 1, 0], [0, 0, 0, 0]]
    assert result.accuracy == pytest.approx(6 / 10)
    # precision: diagonal / column sum (4, 4, 2, 0 predictions); recall: diagonal / row sum (4, 3, 3, 0 samples)
    assert result.precision == pytest.approx([3 / 4, 2 / 4, 1 / 2, 0])
    assert result.recall == pytest.approx([3 / 4, 2 / 3, 1 / 3, 0])
    f1 = [3 / 4, 2 * (1 / 2) * (2 / 3) / (1 / 2 + 2 / 3), 2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3), 0]
    assert f1 == pytest.approx([3 / 4, 4 / 7, 2 / 5, 0])
    assert result.f1 == pytest.approx(f1)
    # class 3 never occurs among the labels: the macro averages are over the three classes present
    assert result.macro_f1 == pytest.approx((3 / 4 + 4 / 7 + 2 / 5) / 3)
    assert result.macro_recall == pytest.approx((3 / 4 + 2 / 3 + 1 / 3) / 3)
    assert result.as_dict() == {
        "accuracy": result.accuracy,
        "macro_f1": result.macro_f1,
        "macro_recall": result.macro_recall,
        "precision": result.precision,
        "recall": result.recall,
        "f1": result.f1,
        "confusion": result.confusion,
    }


def test_absent_classes_score_zero_not_nan():
    # class 2 is predicted but never true; class 1 is true but never predicted; class 3 neither
    result = scores(torch.tensor([0, 0, 1]), torch.tensor([0, 2, 0]), 4)
    values = [result.accuracy, result.macro_f1, result.macro_recall, *result.precision, *result.recall, *result.f1]
    assert all(math.isfinite(v) for v in values)
    assert result.precision == pytest.approx([1 / 2, 0, 0, 0]) and result.recall == pytest.approx([1 / 2, 0, 0, 0])
    assert result.f1[1:] == [0, 0, 0]
    empty = scores(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long), 7)
    assert empty.accuracy == 0 and empty.macro_f1 == 0 and empty.confusion == [[0] * 7] * 7


def test_confusion_matrix_rows_are_true_classes():
    assert confusion_matrix(torch.tensor([2, 2, 0]), torch.tensor([1, 2, 2]), 3).tolist() == [[0, 0, 1], [0, 0, 0], [0, 1, 1]]


@pytest.fixture(scope="module")
def eval_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("eval")
    return write_folders(root, {"train": {"happy": 2}, "val": {"happy": 4, "sad": 3, "neutral": 5}, "test": {"angry": 2}})


@pytest.fixture(scope="module")
def eval_checkpoint(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny-awei.pt", arch="awei", image_size=32, channels=1, seed=3)


def test_evaluate_json_is_consistent_with_its_confusion_matrix(eval_data, eval_checkpoint, tmp_path):
    result = CliRunner().invoke(
        main,
        ["evaluate", "--data", str(eval_data), "--weights", str(eval_checkpoint), "--plots", str(tmp_path / "plots"), "--json"],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["split"] == "val" and report["images"] == 12 and report["skipped"] == 0
    assert report["classes"] == list(CLASSES) and report["weights"] == str(eval_checkpoint) and len(report["sha256"]) == 64
    assert report["mirror"] is True  # as analyze labels faces by default
    cm = torch.tensor(report["confusion"], dtype=torch.float64)
    assert cm.shape == (7, 7) and cm.sum() == 12
    assert cm.sum(dim=1).tolist() == [0, 0, 0, 4, 3, 0, 5]  # happy, sad, neutral in RAF-DB order
    assert report["accuracy"] == pytest.approx(float(cm.trace() / 12))
    hits = cm.diag()
    assert report["recall"] == pytest.approx((hits / cm.sum(dim=1).clamp(min=1)).tolist())
    assert report["precision"] == pytest.approx((hits / cm.sum(dim=0).clamp(min=1)).tolist())
    assert report["macro_f1"] == pytest.approx(sum(report["f1"]) / 7)
    assert report["macro_recall"] == pytest.approx(sum(report["recall"]) / 7)
    for name in ("confusion_matrix.png", "class_accuracy.png"):
        png = tmp_path / "plots" / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5_000


def test_evaluate_text_report_and_split_choice(eval_data, eval_checkpoint, tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        main, ["evaluate", "--data", str(eval_data), "-w", str(eval_checkpoint), "--split", "test", "--plots", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "[test]: 2 images, each averaged with its mirror image" in result.stdout
    assert "macro-F1" in result.stdout and "confusion matrix" in result.stdout
    plain = runner.invoke(main, ["evaluate", "--data", str(eval_data), "-w", str(eval_checkpoint), "--no-mirror", "--json"])
    assert plain.exit_code == 0 and json.loads(plain.stdout)["mirror"] is False
    assert (tmp_path / "confusion_matrix.png").is_file() and (tmp_path / "class_accuracy.png").is_file()

    train_only = write_folders(tmp_path / "train_only", {"train": {"sad": 1}})
    result = runner.invoke(main, ["evaluate", "--data", str(train_only), "-w", str(eval_checkpoint), "--plots", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr == f"videmo: error: {train_only}: no 'val' split here (has train); choose one with --split\n"


def test_plots_that_cannot_be_written_fail_before_the_scoring(eval_data, eval_checkpoint, tmp_path):
    (tmp_path / "a_file").write_text("")
    result = CliRunner().invoke(
        main, ["evaluate", "--data", str(eval_data), "-w", str(eval_checkpoint), "--plots", str(tmp_path / "a_file/plots")]
    )
    assert result.exit_code == 1 and result.stdout == ""  # nothing scored, no class counts printed
    assert (
        result.stderr
        == f"videmo: error: --plots {tmp_path / 'a_file/plots'}: cannot be made there: {tmp_path / 'a_file'} is a file, not a folder\n"
    )


def test_macro_averages_are_over_the_classes_present():
    result = scores(torch.tensor([3, 3, 3, 6]), torch.tensor([3, 3, 0, 6]), 7)  # only happiness and neutral occur
    assert result.present == [3, 6]
    assert result.macro_recall == pytest.approx((2 / 3 + 1) / 2)
    assert result.macro_f1 == pytest.approx((0.8 + 1) / 2)
    from videmo.training.evaluate import format_report

    assert "no surprise, fear, disgust, sadness, anger in this split" in format_report(result, list(CLASSES))


def test_evaluate_writes_plots_only_where_asked(eval_data, eval_checkpoint, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["evaluate", "--data", str(eval_data), "-w", str(eval_checkpoint), "--split", "test"])
    assert result.exit_code == 0 and "plots:" not in result.stdout
    assert not list(tmp_path.glob("*.png"))
