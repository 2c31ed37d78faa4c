"""Training end to end on the CPU: a tiny easy dataset at 32 px, a few seconds per run."""

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision
from click.testing import CliRunner
from test_data import write_fer_csv, write_folders

from videmo.cli import main
from videmo.core.emotions import CLASSES
from videmo.core.errors import VidemoError
from videmo.core.training import PRESETS, TrainConfig
from videmo.model.awei import vgg_features
from videmo.model.checkpoint import load_checkpoint, read_payload
from videmo.model.device import cpu_has_fast_bf16
from videmo.model.vgg import load_vgg_weights
from videmo.training.augment import epoch_order, mixup

# Quick settings for the easy task: no augmentation, a constant LR from the first step. Two epochs usually
# learn it; the learning test trains three so that it passes with margin on any CPU.
FAST = [
    "--image-size",
    "32",
    "--batch-size",
    "8",
    "--augment",
    "none",
    "--warmup-epochs",
    "0",
    "--schedule",
    "constant",
    "--quiet",
]
METRICS_COLUMNS = [
    "epoch",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "val_macro_f1",
    *[f"val_recall_{c}" for c in CLASSES],
    "lr",
    "seconds",
]


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: one CPU thread for training runs


@pytest.fixture(scope="module")
def easy_data(tmp_path_factory) -> Path:
    """Three visually distinct classes (bright happiness, dark sadness, striped neutral), numbered layout."""
    root = tmp_path_factory.mktemp("easy")
    write_folders(root / "DATASET", {"train": {"4": 24, "5": 24, "7": 24}, "test": {"4": 6, "5": 6, "7": 6}})
    return root


def videmo_command() -> list[str]:
    """The console script that installing videmo made, as a user runs it."""
    script = Path(sys.executable).with_name("videmo")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "videmo"]


def run_videmo(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run([*videmo_command(), *args], capture_output=True, text=True, env=env, timeout=300)


def invoke(*args: str):
    return CliRunner().invoke(main, ["train", *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def trained(easy_data, tmp_path_factory) -> Path:
    """A real ``videmo train`` in its own process: the checkpoint records the command line it was started with."""
    out = tmp_path_factory.mktemp("run") / "easy.pt"
    done = run_videmo(
        "train", "--data", str(easy_data), "--arch", "cnn", "--epochs", "3", "--lr", "1e-3", *FAST, "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    return out


def test_training_learns_the_easy_task(trained):
    best = load_checkpoint(trained).meta["metrics"]
    assert best["accuracy"] >= 0.75  # chance is 1/3
    history = read_payload(trained.with_name("easy.last.pt"))["train_state"]["history"]
    assert history[-1]["val_accuracy"] > 0.5 and history[-1]["train_loss"] < history[0]["train_loss"]


def test_training_writes_checkpoints_and_metrics(trained, easy_data):
    run = trained.parent
    assert sorted(p.name for p in run.iterdir()) == ["easy.last.pt", "easy.pt", "metrics.csv"]
    with open(run / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == METRICS_COLUMNS and [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert all(0 <= float(r["val_accuracy"]) <= 1 for r in rows)

    loaded = load_checkpoint(trained)
    meta = loaded.meta
    assert meta["arch"] == "cnn" and meta["image_size"] == 32 and meta["channels"] == 1 and meta["classes"] == list(CLASSES)
    assert meta["mean"] == [0.0] and meta["std"] == [1.0]
    metrics = meta["metrics"]
    assert metrics["epoch"] in (1, 2, 3) and metrics["accuracy"] == float(rows[metrics["epoch"] - 1]["val_accuracy"])
    assert {"macro_f1", "macro_recall", "precision", "recall", "f1", "val_loss"} <= set(metrics)
    # the temperature of the probabilities analyze writes, fitted on the validation faces of the best epoch
    assert meta["calibration"]["temperature"] == metrics["temperature"] > 0
    confusion = metrics["confusion"]
    assert len(confusion) == 7 and all(len(row) == 7 for row in confusion)
    assert [sum(row) for row in confusion] == [0, 0, 0, 6, 6, 0, 6]  # the test split validates
    assert sum(confusion[i][i] for i in range(7)) / 18 == pytest.approx(metrics["accuracy"])
    assert meta["trained_on"]["layout"] == "numbered" and meta["trained_on"]["root"] == str(easy_data)
    assert meta["trained_on"]["counts"]["train"] == [0, 0, 0, 24, 24, 0, 24]
    assert meta["command"].startswith("videmo train --data ") and "--epochs 3" in meta["command"]
    # the best checkpoint holds the weights after its epoch, and the history up to it
    assert meta["epochs_trained"] == metrics["epoch"] == len(meta["history"]) and meta["pretrained"] == "none"
    assert meta["train_config"]["arch"] == "cnn" and meta["train_config"]["epochs"] == 3
    assert "optimizer" not in loaded.extra  # the best checkpoint is for inference only

    last = read_payload(trained.with_name("easy.last.pt"))
    assert last["train_state"]["epoch"] == 3 and "optimizer" in last
    with torch.no_grad():
        assert loaded.model(torch.rand(2, 1, 32, 32)).shape == (2, 7)


def test_resume_gives_the_same_weights(easy_data, tmp_path):
    # Default augmentation and dropout are on: resuming must replay their randomness exactly.
    common = [
        "--data",
        str(easy_data),
        "--arch",
        "cnn",
        "--image-size",
        "32",
        "--batch-size",
        "16",
        "--max-train-samples",
        "32",
        "--seed",
        "3",
        "--quiet",
    ]
    invoke(*common, "--epochs", "2", "--out", str(tmp_path / "whole/best.pt"))
    torch.rand(100)  # the global random state differs between the runs; the seed alone must decide
    invoke(*common, "--epochs", "1", "--out", str(tmp_path / "split/best.pt"))
    assert read_payload(tmp_path / "split/best.last.pt")["train_state"]["epoch"] == 1
    invoke(*common, "--resume", str(tmp_path / "split/best.last.pt"), "--epochs", "2")

    whole = read_payload(tmp_path / "whole/best.last.pt")
    resumed = read_payload(tmp_path / "split/best.last.pt")
    assert resumed["train_state"]["epoch"] == 2
    assert whole["state_dict"].keys() == resumed["state_dict"].keys()
    assert all(torch.equal(whole["state_dict"][k], resumed["state_dict"][k]) for k in whole["state_dict"])
    assert whole["train_state"]["best"]["confusion"] == resumed["train_state"]["best"]["confusion"]
    with open(tmp_path / "split/metrics.csv") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["1", "2"]


def test_resume_without_epochs_keeps_the_runs_length(easy_data, tmp_path):
    common = [
        "--data",
        str(easy_data),
        "--arch",
        "cnn",
        "--image-size",
        "32",
        "--batch-size",
        "16",
        "--max-train-samples",
        "32",
        "--quiet",
    ]
    invoke(*common, "--epochs", "2", "--out", str(tmp_path / "run/best.pt"))
    assert (
        invoke("--data", str(easy_data), "--resume", str(tmp_path / "run/best.last.pt"), "--quiet").exit_code == 0
    )  # nothing left
    assert read_payload(tmp_path / "run/best.last.pt")["train_state"]["epoch"] == 2
    shorter = invoke("--data", str(tmp_path / "gone"), "--resume", str(tmp_path / "run/best.last.pt"), "--epochs", "1")
    assert (
        shorter.exit_code == 0
        and "nothing to train" in shorter.stdout
        and "has trained 2 epochs, and --epochs is 1" in shorter.stdout
    )


def test_keep_epochs_keeps_each_epochs_weights_and_a_resumed_run_may_start_keeping(easy_data, tmp_path):
    common = ["--data", str(easy_data), "--arch", "cnn", "--max-train-samples", "32", *FAST]
    invoke(*common, "--epochs", "1", "--keep-epochs", "--out", str(tmp_path / "run/best.pt"))
    invoke(*common, "--epochs", "1", "--out", str(tmp_path / "plain/best.pt"))
    assert not list((tmp_path / "plain").glob("*.epoch*.pt"))  # off by default
    again = invoke("--data", str(easy_data), "--resume", str(tmp_path / "run/best.last.pt"), "--epochs", "2", "--keep-epochs")
    assert again.exit_code == 0, again.output
    assert sorted(p.name for p in (tmp_path / "run").glob("*.epoch*.pt")) == ["best.epoch1.pt", "best.epoch2.pt"]
    last = read_payload(tmp_path / "run/best.last.pt")["state_dict"]
    kept = load_checkpoint(tmp_path / "run/best.epoch2.pt")  # a checkpoint analyze and --init take
    assert all(torch.equal(kept.model.state_dict()[k].float(), last[k].float()) for k in last)
    first = read_payload(tmp_path / "run/best.epoch1.pt")
    assert "optimizer" not in first and not all(torch.equal(first["state_dict"][k], last[k]) for k in last)


def test_a_moved_run_resumes_in_its_new_folder_and_leaves_the_old_one_alone(easy_data, tmp_path):
    import shutil

    common = [
        "--data",
        str(easy_data),
        "--arch",
        "cnn",
        "--image-size",
        "32",
        "--batch-size",
        "16",
        "--max-train-samples",
        "32",
        "--quiet",
    ]
    invoke(*common, "--epochs", "1", "--out", str(tmp_path / "run/best.pt"))
    shutil.copytree(tmp_path / "run", tmp_path / "copy")
    shutil.move(tmp_path / "run", tmp_path / "moved")
    assert invoke(*common, "--resume", str(tmp_path / "moved/best.last.pt"), "--epochs", "2").exit_code == 0
    assert not (tmp_path / "run").exists()  # not written where the run first was
    assert read_payload(tmp_path / "moved/best.last.pt")["train_state"]["epoch"] == 2 and (tmp_path / "moved/best.pt").is_file()
    given = invoke(
        *common, "--resume", str(tmp_path / "copy/best.last.pt"), "--epochs", "2", "--out", str(tmp_path / "copy/best.pt")
    )
    assert given.exit_code == 0  # --out naming where the resumed run writes is no conflict
    assert read_payload(tmp_path / "copy/best.last.pt")["train_state"]["epoch"] == 2
    assert read_payload(tmp_path / "copy/best.last.pt")["train_state"]["config"]["out"] == str(tmp_path / "copy/best.pt")


def test_resume_refuses_a_changed_setting_and_finds_moved_data(easy_data, tmp_path):
    import shutil

    common = ["--arch", "cnn", "--image-size", "32", "--batch-size", "16", "--max-train-samples", "32", "--quiet"]
    invoke("--data", str(easy_data), *common, "--epochs", "1", "--out", str(tmp_path / "run/best.pt"))
    last = str(tmp_path / "run/best.last.pt")
    changed = CliRunner().invoke(
        main,
        ["train", "--data", str(easy_data), *common, "--lr", "0.5", "--augment", "strong", "--resume", last, "--epochs", "2"],
    )
    assert changed.exit_code == 1 and changed.stderr.count("\n") == 1, changed.stderr
    assert (
        "these differ: lr 0.5, the run's 0.001; augment strong, the run's basic (--data, --epochs" in changed.stderr
    )  # no quotes
    moved = shutil.copytree(easy_data, tmp_path / "moved")  # the same data elsewhere: --data says where it is now
    assert invoke("--data", str(moved), *common, "--resume", last, "--epochs", "2").exit_code == 0
    assert read_payload(last)["train_state"]["epoch"] == 2 and read_payload(last)["train_state"]["config"]["data"] == str(moved)


def test_an_out_that_cannot_be_written_fails_before_training(easy_data, tmp_path):
    (tmp_path / "a_file").write_text("")
    for out, cause in [
        (tmp_path / "a_file/run/best.pt", f"cannot be made there: {tmp_path / 'a_file'} is a file, not a folder"),
        (tmp_path, "is a folder; give the checkpoint's file name"),
    ]:
        result = CliRunner().invoke(main, ["train", "--data", str(easy_data), "--arch", "cnn", "--out", str(out)])
        assert result.exit_code == 1 and result.stdout == "", result.output  # not after the data loaded and an epoch ran
        assert result.stderr.startswith(f"videmo: error: --out {out}: {cause}") and result.stderr.count("\n") == 1


def test_an_out_that_exists_in_a_folder_that_cannot_be_written_fails_before_training(easy_data, trained, tmp_path, monkeypatch):
    """The checkpoint is written beside its name, then renamed over it: the folder's permission counts, the
    file's existence does not (as root, which may write anywhere, the refusal is simulated)."""
    from videmo.core import errors

    folder = tmp_path / "locked"
    folder.mkdir()
    out = folder / "best.pt"
    out.write_bytes(trained.read_bytes())
    writable = errors.os.access
    monkeypatch.setattr(
        errors.os, "access", lambda path, mode: writable(path, mode) and not (Path(path) == folder and mode & os.W_OK)
    )
    result = CliRunner().invoke(main, ["train", "--data", str(easy_data), "--arch", "cnn", "--out", str(out)])
    assert result.exit_code == 1 and result.stdout == "", result.output
    assert (
        result.stderr
        == f"videmo: error: --out {out}: cannot be made there: {folder} is not writable (permission denied or a read-only file system)\n"
    )
    plots = CliRunner().invoke(main, ["evaluate", "--data", str(easy_data), "-w", str(trained), "--plots", str(folder)])
    assert plots.exit_code == 1 and plots.stderr.endswith(
        f"--plots {folder}: cannot be made there: {folder} is not writable (permission denied or a read-only file system)\n"
    )


def test_resume_needs_a_last_checkpoint(easy_data, trained):
    result = CliRunner().invoke(main, ["train", "--data", str(easy_data), "--resume", str(trained)])
    assert result.exit_code == 1
    assert result.stderr.startswith("videmo: error: ") and "holds no training state" in result.stderr


def test_init_starts_from_a_checkpoints_weights_and_refuses_another_model(easy_data, trained, tmp_path):
    out = tmp_path / "tuned/best.pt"  # at 48 px: a 32 px model's weights fit (both end on a 1x1 grid)
    invoke(
        "--data",
        str(easy_data),
        "--arch",
        "cnn",
        *FAST,
        "--image-size",
        "48",
        "--epochs",
        "1",
        "--lr",
        "1e-9",
        "--weight-decay",
        "0",
        "--init",
        str(trained),
        "--out",
        str(out),
    )
    start, tuned = load_checkpoint(trained), load_checkpoint(out)
    assert tuned.meta["image_size"] == 48 and tuned.meta["train_config"]["init"] == str(trained)
    weights = dict(tuned.model.named_parameters())
    assert all(torch.allclose(weights[name], value, atol=1e-6) for name, value in start.model.named_parameters())

    other = CliRunner().invoke(
        main,
        [
            "train",
            "--data",
            str(easy_data),
            "--arch",
            "cnn",
            *FAST,
            "--image-size",
            "64",
            "--equalize",
            "--init",
            str(trained),
            "--out",
            str(tmp_path / "other/best.pt"),
        ],
    )
    assert other.exit_code == 1 and other.stdout == "", other.output  # before the data loads
    assert other.stderr == (
        f"videmo: error: --init {trained}: the checkpoint differs from this run in equalize False, this run's True; "
        "image_size 32, this run's 64 (whose features the head cannot take) "
        "(give the options it was trained with: videmo info shows them)\n"
    )
    vgg = CliRunner().invoke(
        main,
        [
            "train",
            "--data",
            str(easy_data),
            "--arch",
            "awei-vgg",
            *FAST,
            "--rgb",
            "--init",
            str(trained),
            "--out",
            str(tmp_path / "vgg/best.pt"),
        ],
    )
    assert vgg.exit_code == 1 and vgg.stderr.count("\n") == 1, vgg.output  # in words, not as Python writes None, texts and lists
    assert (
        "the checkpoint differs from this run in arch cnn, this run's awei-vgg; vgg not set, this run's vgg16; "
        "residual not set, this run's one-stage; channels 1, this run's 3; mean 0, this run's 0, 0, 0; "
        "std 1, this run's 1, 1, 1 (give"
    ) in vgg.stderr
    both = CliRunner().invoke(main, ["train", "--data", str(easy_data), "--init", str(trained), "--pretrained", "imagenet"])
    assert both.exit_code == 1 and "--init sets every weight" in both.stderr


@pytest.fixture(scope="module")
def vgg11_file(tmp_path_factory) -> tuple[Path, dict]:
    """A whole torchvision VGG11 state dict saved with torch.save (random weights; a small classifier
    stands in for the 120M-parameter one, which loading ignores)."""
    torch.manual_seed(7)
    state = {f"features.{k}": v for k, v in vgg_features("vgg11").state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(4, 4)
    path = tmp_path_factory.mktemp("vgg") / "vgg11.pth"
    torch.save(state, path)
    return path, state


def test_pretrained_file_is_loaded_into_the_vgg_branch(easy_data, vgg11_file, tmp_path):
    path, state = vgg11_file
    out = tmp_path / "run/best.pt"
    invoke(
        "--data",
        str(easy_data),
        "--arch",
        "awei-vgg",
        "--vgg",
        "vgg11",
        "--pretrained",
        str(path),
        "--freeze-vgg",
        "--epochs",
        "1",
        "--max-train-samples",
        "8",
        *FAST,
        "--out",
        str(out),
    )
    checkpoint = load_checkpoint(out)
    assert checkpoint.meta["vgg"] == "vgg11" and checkpoint.meta["pretrained"] == str(path)
    features = checkpoint.model.vgg.state_dict()
    assert features.keys() == {k.removeprefix("features.") for k in state if k.startswith("features.")}
    assert all(torch.equal(features[k], state[f"features.{k}"]) for k in features)


class RunsCode:
    def __reduce__(self):
        return print, ("unpickled: this would have run",)


def test_imagenet_weights_come_from_torchs_cache_as_tensors_only(vgg11_file, tmp_path, monkeypatch):
    import urllib.error

    path, state = vgg11_file
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "urlopen", lambda *a, **k: (_ for _ in ()).throw(urllib.error.URLError("no network")))
    branch = vgg_features("vgg11")
    with pytest.raises(VidemoError, match="could not download vgg11's ImageNet weights .*offline, use --pretrained none"):
        load_vgg_weights(branch, "vgg11", "imagenet")
    cached = tmp_path / "hub" / "checkpoints" / Path(torchvision.models.VGG11_Weights.IMAGENET1K_V1.url).name
    cached.parent.mkdir(parents=True, exist_ok=True)  # the failed download made it
    cached.write_bytes(path.read_bytes())  # as a download leaves it
    load_vgg_weights(branch, "vgg11", "imagenet")
    assert all(
        torch.equal(branch.state_dict()[k.removeprefix("features.")], v) for k, v in state.items() if k.startswith("features.")
    )
    torch.save(RunsCode(), cached)
    with pytest.raises(VidemoError, match=f"{re.escape(str(cached))} does not load as weights .*delete it"):
        load_vgg_weights(branch, "vgg11", "imagenet")


def test_pretrained_formats_and_mismatches(vgg11_file, tmp_path):
    path, state = vgg11_file
    features = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
    torch.save(features, tmp_path / "features.pth")
    branch = vgg_features("vgg11")
    for file in (path, tmp_path / "features.pth"):  # a whole VGG's state dict, or its features part alone
        torch.nn.init.zeros_(branch[0].weight)
        load_vgg_weights(branch, "vgg11", str(file))
        assert all(torch.equal(branch.state_dict()[k], v) for k, v in features.items())
    (tmp_path / "text.pth").write_text("not weights")
    with pytest.raises(VidemoError, match="not a loadable VGG state dict"):
        load_vgg_weights(branch, "vgg11", str(tmp_path / "text.pth"))
    torch.save({k: v for k, v in features.items() if k != "18.weight"}, tmp_path / "short.pth")
    with pytest.raises(VidemoError, match="does not fit vgg11's conv layers") as caught:
        load_vgg_weights(branch, "vgg11", str(tmp_path / "short.pth"))
    assert "18.weight" in str(caught.value) and "\n" not in str(caught.value)


def test_bad_pretrained_path_is_one_line(easy_data, tmp_path):
    done = run_videmo(
        "train",
        "--data",
        str(easy_data),
        "--arch",
        "awei-vgg",
        "--vgg",
        "vgg11",
        "--pretrained",
        str(tmp_path / "absent.pth"),
        "--epochs",
        "1",
        "--max-train-samples",
        "4",
        *FAST,
        "--out",
        str(tmp_path / "run/best.pt"),
    )
    assert done.returncode == 1
    assert done.stderr.startswith(f"videmo: error: --pretrained {tmp_path / 'absent.pth'}: no such file")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr and done.stdout == ""
    assert not (tmp_path / "run").exists()


def test_paper_preset_sets_the_papers_settings(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr(
        "videmo.training.train.train", lambda config, resume=None, command="", epochs=None: seen.update(config=config)
    )
    result = CliRunner().invoke(main, ["train", "--data", str(tmp_path), "--preset", "paper"])
    assert result.exit_code == 0, result.output
    config: TrainConfig = seen["config"]
    paper = dict(
        arch="awei-vgg",
        image_size=224,
        channels=3,
        normalize="unit",
        batch_size=8,
        epochs=20,
        optimizer="adam",
        lr=1e-4,
        weight_decay=0.0,
        schedule="constant",
        warmup_epochs=0.0,
        augment="none",
        balance="none",
        label_smoothing=0.0,
    )
    assert PRESETS["paper"] == paper
    assert {k: getattr(config, k) for k in paper} == paper

    quick = CliRunner().invoke(main, ["train", "--data", str(tmp_path), "--preset", "paper", "--epochs", "2", "--grey"])
    assert quick.exit_code == 0, quick.output
    config = seen["config"]
    assert config.epochs == 2 and config.channels == 1  # given on the command line: they win over the preset
    assert {k: getattr(config, k) for k in paper if k not in ("epochs", "channels")} == {
        k: v for k, v in paper.items() if k not in ("epochs", "channels")
    }


def test_amp_trains(easy_data, tmp_path):
    out = tmp_path / "amp.pt"
    result = invoke(
        "--data",
        str(easy_data),
        "--arch",
        "awei",
        "--amp",
        "--epochs",
        "1",
        "--max-train-samples",
        "16",
        *[a for a in FAST if a != "--quiet"],
        "--out",
        str(out),
    )
    assert result.exit_code == 0
    assert f"precision {'bf16' if cpu_has_fast_bf16() else 'fp32'}" in result.stdout
    checkpoint = load_checkpoint(out)
    assert all(p.dtype == torch.float32 for p in checkpoint.model.parameters())
    assert 0 <= checkpoint.meta["metrics"]["accuracy"] <= 1 and checkpoint.meta["train_config"]["amp"] is True


def test_batch_norm_recalibration_measures_the_current_weights():
    from videmo.model.awei import Awei
    from videmo.training.optimise import recalibrate_batch_norm

    torch.manual_seed(0)
    model = Awei("awei-vgg", 1, 32, vgg="vgg11_bn")
    first = model.vgg[1]
    first.running_mean.fill_(100.0)  # stale statistics, as after an epoch of moving weights
    images = torch.randint(0, 256, (40, 1, 32, 32), dtype=torch.uint8)
    zero, one = torch.zeros(1, 1, 1, 1), torch.ones(1, 1, 1, 1)
    recalibrate_batch_norm(model, images, zero, one, torch.device("cpu"), "fp32", batch_size=8)
    with torch.no_grad():
        conv = model.vgg[0](images.float().div(255).expand(-1, 3, -1, -1))
    assert torch.allclose(first.running_mean, conv.mean(dim=(0, 2, 3)), atol=1e-5)
    assert first.momentum == 0.1 and not model.training


def test_label_modes_give_the_papers_targets():
    from videmo.training.augment import epoch_targets

    labels = torch.tensor([3, -1])
    votes = torch.tensor([[0, 0, 0, 1.0, 0, 0, 0], [0.5, 0, 0, 0, 0, 0, 0.5]])
    assert torch.equal(epoch_targets(labels, votes, "majority", torch.Generator()), labels)
    assert torch.equal(epoch_targets(labels, votes, "crossentropy", torch.Generator()), votes)
    draws = torch.stack([epoch_targets(labels, votes, "probability", torch.Generator().manual_seed(s)) for s in range(200)])
    assert (draws[:, 0] == 3).all()  # one label's votes: always that label
    assert set(draws[:, 1].tolist()) == {0, 6} and 60 < (draws[:, 1] == 0).sum() < 140  # drawn from the shares


@pytest.mark.parametrize("mode", ["majority", "probability", "crossentropy"])
def test_ferplus_trains_in_every_label_mode(tmp_path, mode):
    from test_data import write_ferplus

    rows = [[8, 2, 0, 0, 0, 0, 0, 0, 0, 0], [0, 7, 3, 0, 0, 0, 0, 0, 0, 0], [0, 5, 5, 0, 0, 0, 0, 0, 0, 0]] * 4
    root = write_ferplus(tmp_path / "ferplus", {"FER2013Train": rows, "FER2013Valid": rows[:2]})
    out = tmp_path / "run" / "best.pt"
    result = invoke(
        "--data",
        str(root),
        "--arch",
        "cnn",
        "--epochs",
        "1",
        "--labels",
        mode,
        "--equalize",
        *[a for a in FAST if a != "--quiet"],
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    trained_on = 8 if mode == "majority" else 12  # majority leaves out the faces without one
    assert f"training on {trained_on} images ({mode} labels), validating on 2" in result.output
    meta = load_checkpoint(out).meta
    assert meta["equalize"] is True and meta["train_config"]["labels"] == mode
    assert set(meta["crop"]) == {"margin", "shift", "align"} and meta["crop"]["align"] is False


def test_training_on_a_single_class_is_refused(tmp_path):
    root = write_folders(tmp_path / "one", {"train": {"happy": 6}, "test": {"happy": 2}})
    result = invoke("--data", str(root), "--arch", "cnn", "--epochs", "1", *FAST, "--out", str(tmp_path / "run" / "best.pt"))
    assert result.exit_code == 1
    assert "the training images are all of one class (happiness)" in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("arch", ["awei", "awei-vgg"])
def test_the_two_stage_residual_path_trains_and_round_trips(easy_data, tmp_path, arch):
    out = tmp_path / f"{arch}.pt"
    result = invoke(
        "--data",
        str(easy_data),
        "--arch",
        arch,
        "--vgg",
        "vgg11",
        "--residual",
        "two-stage",
        "--augment",
        "paper",
        "--epochs",
        "1",
        "--max-train-samples",
        "16",
        *[a for a in FAST if a not in ("--augment", "none")],
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    checkpoint = load_checkpoint(out)
    assert checkpoint.meta["residual"] == "two-stage" and checkpoint.model.jumps is not None and checkpoint.model.residual is None
    model = checkpoint.model
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), load_checkpoint(out).model(x))  # the same model, rebuilt from the metadata
    info = CliRunner().invoke(main, ["info", str(out)])
    assert info.exit_code == 0 and "two-stage" in info.output


def test_the_papers_augmentation_rotates_and_crops_without_flipping():
    from videmo.training.augment import augment

    images = torch.zeros(64, 1, 32, 32, dtype=torch.uint8)
    images[:, :, :, :16] = 255  # left half white: a flip would put it on the right
    out = augment(images, "paper", torch.Generator().manual_seed(0))
    left, right = out[..., :, :8].mean(dim=(1, 2, 3)), out[..., :, 24:].mean(dim=(1, 2, 3))
    assert (left > right).all()  # never flipped
    assert not torch.equal(out, images.float() / 255) and out.min() >= 0 and out.max() <= 1


def test_a_training_that_diverges_stops_with_one_line_and_saves_no_nan_checkpoint(easy_data, tmp_path):
    out = tmp_path / "run/best.pt"
    result = CliRunner().invoke(
        main,
        [
            "train",
            "--data",
            str(easy_data),
            "--arch",
            "cnn",
            *FAST,
            "--epochs",
            "3",
            "--lr",
            "10",
            "--optimizer",
            "sgd",
            "--weight-decay",
            "1e30",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert result.stderr.startswith("videmo: error: the training diverged in epoch 1") and "lower --lr" in result.stderr
    assert "no checkpoint was written" in result.stderr and not out.exists() and not out.with_suffix(".last.pt").exists()


def test_sample_weights_draw_images_by_their_weight():
    labels = torch.tensor([0, 0, 1, 1])
    weights = torch.tensor([0.0, 1.0, 1.0, 8.0], dtype=torch.float64)
    drawn = torch.cat([epoch_order(labels, "none", torch.Generator().manual_seed(s), weights) for s in range(200)])
    counts = torch.bincount(drawn, minlength=4)
    assert counts[0] == 0  # weight 0: never drawn
    assert 6 < counts[3] / counts[2] < 10 and 0.7 < counts[1] / counts[2] < 1.4
    plain = epoch_order(labels, "none", torch.Generator().manual_seed(0))
    assert sorted(plain.tolist()) == [0, 1, 2, 3]  # without weights: each image once
    # with the sampler balance too, each class is drawn as often, its images still by their weights
    balanced = torch.cat([epoch_order(labels, "sampler", torch.Generator().manual_seed(s), weights) for s in range(200)])
    counts = torch.bincount(balanced, minlength=4)
    assert counts[0] == 0 and 0.8 < counts[1] / counts[2:].sum() < 1.25 and 6 < counts[3] / counts[2] < 10


def test_a_class_weighed_zero_is_never_learned(easy_data, tmp_path):
    """Every sadness image at weight 0: the run never sees one, and never answers sadness."""
    weights = tmp_path / "weights.csv"
    sad = sorted((easy_data / "DATASET/train/5").iterdir())
    weights.write_text("image,weight\n" + "".join(f"{p.relative_to(easy_data).as_posix()},0\n" for p in sad))
    out = tmp_path / "run/best.pt"
    common = ["--data", str(easy_data), "--arch", "cnn", "--epochs", "2", "--lr", "1e-3", *FAST[:-1]]
    done = invoke(*common, "--sample-weights", str(weights), "--out", str(out))
    assert done.exit_code == 0, done.output
    assert f"sample weights from {weights}: 24 of 72 training images listed" in done.output
    history = read_payload(out.with_name("best.last.pt"))["train_state"]["history"]
    assert all(row["val_recall_sadness"] == 0 for row in history)
    assert history[-1]["val_recall_happiness"] > 0.5  # the classes it sees, it learns
    assert load_checkpoint(out).meta["train_config"]["sample_weights"] == str(weights)


@pytest.mark.parametrize(
    "text, error",
    [
        (None, "file not found"),
        ("image,weight\n", "no image,weight rows"),
        ("image,weight\na.png,1,2\n", "row 2: expected two columns"),
        ("a.png,heavy\n", "row 1: weight 'heavy' is not a number >= 0"),
        ("image,weight\na.png,-1\n", "row 2: weight '-1' is not a number >= 0"),
        ("image,weight\na.png,nan\n", "row 2: weight 'nan'"),
    ],
)
def test_a_sample_weights_file_that_cannot_be_used_is_one_line_before_the_data_loads(easy_data, tmp_path, text, error):
    weights = tmp_path / "weights.csv"
    if text is not None:
        weights.write_text(text)
    done = run_videmo("train", "--data", str(easy_data), "--sample-weights", str(weights), "--out", str(tmp_path / "r/best.pt"))
    assert done.returncode != 0
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr
    assert f"--sample-weights {weights}" in done.stderr and error in done.stderr
    assert "training on" not in done.stdout  # refused before the images decode


def test_sample_weights_that_leave_nothing_to_draw_are_refused(easy_data, tmp_path):
    weights = tmp_path / "weights.csv"
    images = sorted((easy_data / "DATASET/train").glob("*/*"))
    weights.write_text("".join(f"{p},0\n" for p in images) + "elsewhere/x.png,3\n")  # absolute paths are taken too
    done = run_videmo("train", "--data", str(easy_data), "--sample-weights", str(weights), "--out", str(tmp_path / "r/best.pt"))
    assert done.returncode != 0 and "every training image weighs 0" in done.stderr and "Traceback" not in done.stderr


def test_sample_weights_for_fer2013s_csv_are_refused(tmp_path):
    """FER2013's faces are rows of pixels: there is no image path a weights file could list."""
    rows = [f"{c},{' '.join(['128'] * 48 * 48)},Training\n" for c in (3, 4, 6) for _ in range(4)]
    data = write_fer_csv(tmp_path / "data" / "fer2013.csv", rows + [r.replace("Training", "PublicTest") for r in rows])
    weights = tmp_path / "weights.csv"
    weights.write_text("a.png,2\n")
    for given in (data, data.parent):  # the file, or the folder that holds it
        done = run_videmo("train", "--data", str(given), "--sample-weights", str(weights), "--out", str(tmp_path / "r/best.pt"))
        assert done.returncode != 0 and "Traceback" not in done.stderr
        assert "FER2013's CSV of pixels" in done.stderr and done.stderr.strip().count("\n") == 0


def test_mixup_blends_each_face_and_its_target_with_another_of_the_batch():
    images = torch.arange(8, dtype=torch.float32).view(8, 1, 1, 1).expand(8, 1, 4, 4).contiguous()
    labels = torch.tensor([0, 1, 2, 3, 4, 5, 6, 0])
    mixed, targets = mixup(images, labels, 0.4, torch.Generator().manual_seed(3))
    assert targets.shape == (8, len(CLASSES)) and torch.allclose(targets.sum(1), torch.ones(8))
    assert (mixed.amin((1, 2, 3)) == mixed.amax((1, 2, 3))).all()  # a blend of two flat images is flat
    # one weight w for the batch: face i is w * face i + (1 - w) * face j, and its target w * i's + (1 - w) * j's
    two = [i for i in range(8) if (targets[i] > 0).sum() == 2]
    assert two  # some face was blended with one of another class
    weight = float(targets[two[0], labels[two[0]]])
    assert 0 < weight < 1
    for i in range(8):
        j = round((float(mixed[i, 0, 0, 0]) - weight * i) / (1 - weight))
        assert 0 <= j < 8 and abs(weight * i + (1 - weight) * j - float(mixed[i, 0, 0, 0])) < 1e-4
        expected = weight * torch.nn.functional.one_hot(labels[i], 7) + (1 - weight) * torch.nn.functional.one_hot(labels[j], 7)
        assert torch.allclose(targets[i], expected.float(), atol=1e-5)
    assert mixed.min() >= 0 and mixed.max() <= 7
    again, same = mixup(images, labels, 0.4, torch.Generator().manual_seed(3))
    assert torch.equal(again, mixed) and torch.equal(same, targets)  # the epoch's generator decides
    soft = torch.softmax(torch.randn(8, len(CLASSES)), 1)  # FER+'s vote shares blend the same way
    _, blended = mixup(images, soft, 0.4, torch.Generator().manual_seed(3))
    assert torch.allclose(blended.sum(1), torch.ones(8))


def test_a_run_with_mixup_learns_and_records_it(easy_data, tmp_path):
    out = tmp_path / "run/best.pt"
    common = ["--data", str(easy_data), "--arch", "cnn", "--epochs", "3", "--lr", "1e-3", *FAST[:-1]]
    done = invoke(*common, "--mixup", "0.4", "--out", str(out))
    assert done.exit_code == 0, done.output
    assert load_checkpoint(out).meta["metrics"]["accuracy"] >= 0.6  # chance is 1/3
    assert load_checkpoint(out).meta["train_config"]["mixup"] == 0.4
    refused = invoke(*common, "--mixup", "-1", "--out", str(tmp_path / "bad.pt"))
    assert refused.exit_code != 0 and "--mixup" in refused.output
