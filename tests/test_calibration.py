"""The probabilities keep a stated promise: a temperature fitted on labelled faces makes the top one say how
often the top emotion is right, without changing which emotion that is."""

import json

import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from test_evaluate import eval_checkpoint, eval_data  # noqa: F401 (fixtures)

from videmo.cli import main
from videmo.core.emotions import CLASSES
from videmo.model.checkpoint import load_checkpoint
from videmo.training.calibration import calibration_of, expected_calibration_error, fit_temperature


def sampled(temperature: float, n: int = 20000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and labels drawn from softmax(logits / temperature): the temperature that calibrates them is known."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, 7, generator=generator) * 3
    labels = torch.multinomial(torch.softmax(logits / temperature, dim=1), 1, generator=generator).squeeze(1)
    return logits, labels


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_the_fitted_temperature_is_the_one_the_labels_were_drawn_with(temperature):
    logits, labels = sampled(temperature)
    assert fit_temperature(logits, labels) == pytest.approx(temperature, rel=0.05)


def test_calibration_error_is_small_for_calibrated_confidence_and_large_for_underconfident():
    logits, labels = sampled(0.5)
    calibrated = calibration_of(logits, labels, 0.5)
    underconfident = calibration_of(logits, labels, 1.0)
    assert calibrated.ece < 0.02 < 0.05 < underconfident.ece
    assert underconfident.mean_confidence < underconfident.accuracy  # the top probability at T = 1 says too little
    assert calibrated.accuracy == underconfident.accuracy  # the temperature never changes the top emotion
    assert sum(b["count"] for b in calibrated.bins) == len(labels) and len(calibrated.bins) == 15


def test_expected_calibration_error_by_hand():
    confidence = torch.tensor([0.95, 0.95, 0.55, 0.55])
    correct = torch.tensor([True, True, True, False])
    # bin (0.93, 1]: confidence 0.95, accuracy 1; bin (0.53, 0.6]: confidence 0.55, accuracy 0.5
    assert expected_calibration_error(confidence, correct) == pytest.approx(0.5 * 0.05 + 0.5 * 0.05)


def test_calibrate_writes_a_copy_whose_labels_are_the_originals(eval_data, eval_checkpoint, tmp_path, one_face_video):  # noqa: F811
    out = tmp_path / "calibrated.pt"
    result = CliRunner().invoke(main, ["calibrate", str(eval_checkpoint), "--data", str(eval_data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "expected calibration error" in result.output and "labels unchanged" in result.output
    temperature = load_checkpoint(out).meta["calibration"]["temperature"]
    assert temperature > 0 and load_checkpoint(out).meta["arch"] == load_checkpoint(eval_checkpoint).meta["arch"]
    report = json.loads(CliRunner().invoke(main, ["evaluate", "--data", str(eval_data), "-w", str(out), "--json"]).stdout)
    assert report["calibration"]["temperature"] == temperature and 0 <= report["calibration"]["ece"] <= 1

    tables = {}
    for name, weights in (("before", eval_checkpoint), ("after", out)):
        done = CliRunner().invoke(main, ["analyze", str(one_face_video), "-w", str(weights), "-o", str(tmp_path / name), "-q"])
        assert done.exit_code == 0, done.output
        tables[name] = pd.read_csv(tmp_path / name / one_face_video.stem / "frames.csv").dropna(subset=["face_id"])
    before, after = tables["before"], tables["after"]
    assert (before["emotion"] == after["emotion"]).all()
    assert after["confidence"].to_numpy() == pytest.approx(after[list(CLASSES)].max(axis=1).to_numpy(), abs=1e-4)
    if temperature != pytest.approx(1.0, abs=1e-3):
        assert not before["confidence"].to_numpy() == pytest.approx(after["confidence"].to_numpy(), abs=1e-4)


def test_a_checkpoint_with_a_temperature_that_is_no_number_is_refused(eval_checkpoint, tmp_path):  # noqa: F811
    from videmo.model.checkpoint import save_with_meta

    broken = tmp_path / "broken.pt"
    save_with_meta(eval_checkpoint, broken, {"calibration": {"temperature": -1}})
    result = CliRunner().invoke(main, ["info", str(broken)])
    assert result.exit_code == 1 and "a temperature above 0 is needed" in result.output
