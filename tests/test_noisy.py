"""``--noisy-labels``: small-loss selection and the Self-Cure Network's weights and relabelling find
wrong labels, and a run with them trains, resumes and saves the plain classifier."""

import csv
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from test_data import write_folders

from videmo.cli import main
from videmo.model.checkpoint import load_checkpoint, read_payload
from videmo.training.noisy import RANK_MARGIN, NoisyLabels


def clusters_with_flipped_labels(n: int = 600, classes: int = 3, flipped: float = 0.2, seed: int = 0):
    """Well separated clusters, a ``flipped`` share of them labelled as another class at random."""
    generator = torch.Generator().manual_seed(seed)
    truth = torch.randint(classes, (n,), generator=generator)
    centres = torch.randn(classes, 16, generator=generator) * 3
    x = centres[truth] + torch.randn(n, 16, generator=generator)
    wrong = torch.rand(n, generator=generator) < flipped
    labels = torch.where(wrong, (truth + torch.randint(1, classes, (n,), generator=generator)) % classes, truth)
    return x, labels, truth, wrong


def train_linear(mode: str, epochs: int = 6, **options) -> tuple[NoisyLabels, torch.Tensor, torch.Tensor, torch.Tensor]:
    x, labels, truth, wrong = clusters_with_flipped_labels()
    torch.manual_seed(0)
    model = torch.nn.Linear(16, 3)
    noisy = NoisyLabels(mode, len(labels), 16, given=labels, **options)
    optimizer = torch.optim.SGD([*model.parameters(), *noisy.parameters()], lr=0.05)
    generator = torch.Generator().manual_seed(1)
    for epoch in range(epochs):
        order = torch.randperm(len(labels), generator=generator)
        targets = noisy.targets(labels)
        for step in range(0, len(order), 50):
            index = order[step : step + 50]
            loss = noisy.loss(model(x[index]), x[index], targets[index], index, epoch + step / len(order), None, 0.0)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return noisy, labels, truth, wrong


def test_small_loss_selection_leaves_out_the_wrong_labels():
    noisy, _, _, wrong = train_linear("discard", rate=0.2, warmup=1.0)
    left_out = noisy.weight == 0  # in the last epoch
    assert left_out.float().mean() == pytest.approx(0.2, abs=0.03)  # rounded class by class in each batch of 50
    assert wrong[left_out].float().mean() > 0.8  # against 0.2 among all samples
    assert (noisy.discards[wrong] >= 4).float().mean() > 0.7  # the same ones, epoch after epoch


def test_discarding_starts_after_warm_up():
    noisy = NoisyLabels("discard", 10, 4, rate=0.5, warmup=2.0)
    logits, labels = torch.randn(10, 7), torch.tensor([0] * 6 + [1] * 4)
    noisy.loss(logits, None, labels, torch.arange(10), 0.0, None, 0.0)
    assert noisy.weight.sum() == 10  # none left out at the start
    noisy.loss(logits, None, labels, torch.arange(10), 1.0, None, 0.0)
    assert noisy.weight.sum() == 7  # half the rate after one of two warm-up epochs: 2 of 6 and 1 of 4
    # warmed up, half of each class: its three and two smallest losses
    loss = noisy.loss(logits, None, labels, torch.arange(10), 5.0, None, 0.0)
    per_sample = F.cross_entropy(logits, labels, reduction="none")
    smallest = torch.cat([per_sample[:6].sort().values[:3], per_sample[6:].sort().values[:2]])
    assert loss.item() == pytest.approx(float(smallest.mean()))


def test_a_rare_class_with_larger_losses_is_not_left_out_whole():
    losses = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 5.0, 6.0])
    classes = torch.tensor([0] * 8 + [2] * 2)  # the rare class's losses are all larger than the others'
    kept = NoisyLabels.small_losses(losses, classes, 0.25)
    assert kept.tolist() == [True] * 6 + [False, False] + [True, True]  # 2 of 8 and 0 of 2 (a quarter of 2 rounds to 0)


def test_relabelling_gives_wrong_labels_their_true_class():
    noisy, labels, truth, wrong = train_linear("relabel", epochs=8, warmup=2.0)
    changed = noisy.relabelled >= 0
    assert changed.sum() > 0.3 * wrong.sum()
    assert (noisy.relabelled[changed] == truth[changed]).float().mean() > 0.9
    assert wrong[changed].float().mean() > 0.9  # right labels are left alone
    assert torch.equal(noisy.targets(labels)[changed], noisy.relabelled[changed])


def test_a_sample_relabelled_back_to_its_own_label_trains_on_its_own_target_again():
    noisy = NoisyLabels("relabel", 2, 4, given=torch.tensor([0, 1]))
    noisy.relabelled[:] = 3
    logits = torch.tensor([[5.0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 5.0, 0, 0, 0]])  # the first is back to class 0, the second stays 3
    noisy.relabel(logits, torch.tensor([3, 3]), torch.arange(2), torch.tensor([0.1, 0.1]), torch.tensor(0.5))
    assert noisy.relabelled.tolist() == [-1, 3]


def test_new_labels_replace_hard_and_soft_targets():
    noisy = NoisyLabels("relabel", 3, 4)
    noisy.relabelled[1] = 5
    assert noisy.targets(torch.tensor([0, 1, 2])).tolist() == [0, 5, 2]
    soft = torch.full((3, 7), 1 / 7)
    assert noisy.targets(soft)[1].tolist() == [0, 0, 0, 0, 0, 1, 0] and torch.equal(noisy.targets(soft)[0], soft[0])


def test_self_cure_loss_scales_logits_by_weights_that_must_rank():
    noisy = NoisyLabels("reweight", 8, 4)
    torch.nn.init.zeros_(noisy.attention.weight)
    torch.nn.init.zeros_(noisy.attention.bias)  # every weight 0.5: the groups do not differ, the full margin is owed
    logits, labels = torch.randn(8, 7), torch.randint(7, (8,))
    loss = noisy.loss(logits, torch.randn(8, 4), labels, torch.arange(8), 0.0, None, 0.0)
    assert loss.item() == pytest.approx(float(F.cross_entropy(0.5 * logits, labels)) + RANK_MARGIN, rel=1e-5)
    assert torch.allclose(noisy.weight, torch.full((8,), 0.5))


@pytest.fixture(scope="module")
def easy_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("easy")
    write_folders(root / "DATASET", {"train": {"4": 16, "5": 16, "7": 16}, "test": {"4": 4, "5": 4, "7": 4}})
    return root


def test_a_relabelling_run_resumes_exactly_and_saves_the_plain_classifier(easy_data, tmp_path):
    common = [
        "train",
        "--data",
        str(easy_data),
        "--arch",
        "cnn",
        "--image-size",
        "32",
        "--batch-size",
        "16",
        "--seed",
        "2",
        "--noisy-labels",
        "relabel",
        "--noisy-warmup",
        "0.5",
        "--quiet",
    ]
    run = lambda *args: CliRunner().invoke(main, [*common, *args], catch_exceptions=False)  # noqa: E731
    assert run("--epochs", "2", "--out", str(tmp_path / "whole/best.pt")).exit_code == 0
    assert run("--epochs", "1", "--out", str(tmp_path / "split/best.pt")).exit_code == 0
    assert (
        CliRunner()
        .invoke(
            main,
            ["train", "--data", str(easy_data), "--resume", str(tmp_path / "split/best.last.pt"), "--epochs", "2", "--quiet"],
            catch_exceptions=False,
        )
        .exit_code
        == 0
    )
    whole, resumed = (read_payload(tmp_path / f"{name}/best.last.pt") for name in ("whole", "split"))
    assert all(torch.equal(whole["state_dict"][k], resumed["state_dict"][k]) for k in whole["state_dict"])
    assert all(
        torch.equal(whole["train_state"]["noisy"][k], resumed["train_state"]["noisy"][k]) for k in whole["train_state"]["noisy"]
    )

    with open(tmp_path / "whole/noisy.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 48 and list(rows[0]) == ["image", "given", "predicted", "relabelled", "weight", "epochs_discarded"]
    assert {r["given"] for r in rows} == {"happiness", "sadness", "neutral"} and all(0 < float(r["weight"]) < 1 for r in rows)
    assert all(r["image"].endswith(".jpg") and Path(r["image"]).is_file() for r in rows)
    loaded = load_checkpoint(tmp_path / "whole/best.pt")  # the weighing layer stays behind: a plain model
    assert (
        not any("attention" in k for k in loaded.model.state_dict()) and loaded.meta["train_config"]["noisy_labels"] == "relabel"
    )
