"""``--augment video``: faces degraded as video degrades them (turned, dim or side-lit, blurred, noisy,
compressed, small), drawn from the epoch's generator, and equalised after the degradations."""

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from test_data import write_folders

from videmo.cli import main
from videmo.core.training import TrainConfig
from videmo.model.checkpoint import load_checkpoint, read_payload
from videmo.model.inference import equalize
from videmo.training import degrade
from videmo.training.augment import augment, equalizes_per_batch
from videmo.training.datasets import load_dataset
from videmo.training.train import prepare_splits

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: one CPU thread for training runs


def faces(n: int = 16, size: int = 48, channels: int = 1, seed: int = 0) -> torch.Tensor:
    """uint8 (N, C, S, S) images with detail at every scale: a smooth gradient and fine texture."""
    g = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(0.2, 0.8, size).view(1, 1, 1, size)
    texture = torch.rand(n, channels, size, size, generator=g) * 0.4 - 0.2
    return ((ramp + texture).clamp(0, 1) * 255).round().to(torch.uint8)


def only(name: str, n: int, seed: int = 0) -> tuple[dict, dict]:
    """Draws for ``n`` images in which ``name`` alone strikes every image."""
    chosen, strengths = degrade.draw_video(n, torch.Generator().manual_seed(seed))
    return {key: torch.full((n,), key == name) for key in chosen}, strengths


def neighbour_difference(x: torch.Tensor) -> torch.Tensor:
    """Per image, the mean absolute difference of horizontally and vertically neighbouring pixels."""
    return ((x[..., :, 1:] - x[..., :, :-1]).abs().mean((1, 2, 3)) + (x[..., 1:, :] - x[..., :-1, :]).abs().mean((1, 2, 3))) / 2


def high_frequency_energy(x: torch.Tensor) -> torch.Tensor:
    """Per image, the share of the spectrum's energy (without DC) above half the Nyquist frequency."""
    spectrum = torch.fft.fftshift(torch.fft.fft2(x - x.mean((-2, -1), keepdim=True)), dim=(-2, -1)).abs() ** 2
    size = x.shape[-1]
    f = torch.arange(size) - size // 2
    high = (f.view(-1, 1).abs() > size // 4) | (f.view(1, -1).abs() > size // 4)
    return (spectrum * high).sum((1, 2, 3)) / spectrum.sum((1, 2, 3))


@pytest.mark.parametrize(("size", "channels", "equal"), [(48, 1, True), (48, 1, False), (32, 3, True), (64, 1, True)])
def test_video_keeps_shapes_and_range(size, channels, equal):
    x = faces(24, size, channels)
    out = augment(x, "video", torch.Generator().manual_seed(0), equal)
    assert out.shape == x.shape and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 1 and torch.isfinite(out).all()
    assert not torch.equal(out, x.float() / 255)


def test_the_same_generator_state_gives_the_same_batch():
    x = faces(32)
    first = augment(x, "video", torch.Generator().manual_seed(7), True)
    assert torch.equal(first, augment(x, "video", torch.Generator().manual_seed(7), True))
    assert not torch.equal(first, augment(x, "video", torch.Generator().manual_seed(8), True))


def test_low_light_darkens_before_equalisation_and_equalisation_restores_the_range():
    x = faces(16).float() / 255
    chosen, strengths = only("dark", 16)
    dark = degrade.light(x, chosen, strengths)
    assert (dark.mean((1, 2, 3)) < x.mean((1, 2, 3))).all()
    lifted = equalize((dark * 255).round().to(torch.uint8)).float() / 255
    assert (lifted.amax((1, 2, 3)) > 0.95).all() and (lifted.mean((1, 2, 3)) > dark.mean((1, 2, 3))).all()


def test_side_light_dims_one_side():
    x = torch.full((16, 1, 48, 48), 0.6)
    chosen, strengths = only("side_light", 16)
    lit = degrade.light(x, chosen, strengths)
    left, right = lit[..., :, :8].mean((1, 2, 3)), lit[..., :, -8:].mean((1, 2, 3))
    assert ((left - right).abs() > 0.01).all() and (lit <= x + 1e-6).all()
    assert (left < right).any() and (right < left).any()  # either side


@pytest.mark.parametrize("name", ["motion_blur", "defocus"])
def test_blur_lowers_the_neighbour_difference(name):
    x = faces(16).float() / 255
    chosen, strengths = only(name, 16)
    blurred = degrade.blur(x, chosen, strengths)
    assert blurred.shape == x.shape
    assert (neighbour_difference(blurred) < 0.8 * neighbour_difference(x)).all()
    assert torch.allclose(blurred.mean((1, 2, 3)), x.mean((1, 2, 3)), atol=0.02)  # kernels sum to one


def test_downscaling_removes_high_frequencies():
    x = faces(16).float() / 255
    chosen, strengths = only("low_res", 16)
    small = degrade.sensor(x, chosen, strengths, torch.Generator().manual_seed(0))
    assert small.shape == x.shape
    assert (high_frequency_energy(small) < 0.3 * high_frequency_energy(x)).all()


def test_noise_is_stronger_in_dark_faces():
    chosen, strengths = only("noise", 64)
    strengths["noise"] = torch.full((64,), 0.5)  # sigma 0.035 before the darkness factor
    spread = {}
    for level in (0.5, 0.1):
        x = torch.full((64, 1, 48, 48), level)
        spread[level] = float((degrade.sensor(x, chosen, strengths, torch.Generator().manual_seed(0)) - x).std())
    assert 0.03 < spread[0.5] < 0.04 and spread[0.1] > 1.2 * spread[0.5]


def test_jpeg_keeps_flat_blocks_and_quantises_detail():
    flat = torch.full((2, 1, 48, 48), 0.4)
    assert torch.allclose(degrade.jpeg(flat, torch.tensor([20.0, 70.0])), flat, atol=1 / 255)
    x = faces(4).float() / 255
    low, high = (degrade.jpeg(x, torch.full((4,), q)) for q in (20.0, 95.0))
    assert (low - x).abs().mean() > (high - x).abs().mean() > 0
    assert (high_frequency_energy(low) < high_frequency_energy(x)).all()
    odd = torch.rand(3, 1, 13, 21)  # sizes that are no multiple of 8 (a downscaled face)
    assert degrade.jpeg(odd, torch.full((3,), 50.0)).shape == odd.shape


def test_turning_the_head_changes_the_face_not_its_size():
    x = faces(8).float() / 255
    grid = F.affine_grid(torch.eye(2, 3).expand(8, 2, 3), [8, 1, 48, 48], align_corners=False)
    assert torch.allclose(degrade.turn(grid, torch.zeros(8), torch.zeros(8)), grid, atol=1e-6)
    turned_grid = degrade.turn(grid, torch.full((8,), 0.55), torch.full((8,), -0.3))
    turned = F.grid_sample(x, turned_grid, padding_mode="border", align_corners=False)
    assert turned.shape == x.shape and ((turned - x).abs().mean((1, 2, 3)) > 0.02).all()
    widths = turned_grid[:, 24, -1, 0] - turned_grid[:, 24, 0, 0]  # the far side narrows: more of the face fits
    assert (widths > 2.0).all()


def test_only_video_equalises_per_batch_and_other_levels_are_unchanged(tmp_path):
    assert equalizes_per_batch("video", True) and not equalizes_per_batch("video", False)
    assert not any(equalizes_per_batch(level, True) for level in ("none", "basic", "strong", "paper"))
    root = write_folders(tmp_path / "data", {"train": {"4": 4, "5": 4}, "test": {"4": 2, "5": 2}})
    dataset = load_dataset(root)
    splits = {
        level: prepare_splits(dataset, TrainConfig(data=str(root), image_size=32, augment=level, equalize=True), lambda *a: None)
        for level in ("basic", "video")
    }
    assert torch.equal(splits["basic"][0], equalize(splits["video"][0]))  # video's train images load unequalised
    assert not torch.equal(splits["basic"][0], splits["video"][0])
    assert torch.equal(splits["basic"][4], splits["video"][4])  # validation is equalised once, as before


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return write_folders(
        tmp_path_factory.mktemp("tiny") / "DATASET", {"train": {"4": 12, "5": 12, "7": 12}, "test": {"4": 3, "5": 3, "7": 3}}
    )


def test_video_trains_and_a_resumed_run_repeats_it(tiny_data, tmp_path):
    common = [
        "train",
        "--data",
        str(tiny_data.parent),
        "--arch",
        "cnn",
        "--image-size",
        "32",
        "--batch-size",
        "16",
        "--max-train-samples",
        "32",
        "--augment",
        "video",
        "--equalize",
        "--seed",
        "3",
        "--quiet",
    ]
    run = lambda *args: CliRunner().invoke(main, [*common, *args], catch_exceptions=False)  # noqa: E731
    assert run("--epochs", "2", "--out", str(tmp_path / "whole/best.pt")).exit_code == 0
    torch.rand(100)  # the global random state differs between the runs; the seed alone must decide
    assert run("--epochs", "1", "--out", str(tmp_path / "split/best.pt")).exit_code == 0
    assert run("--resume", str(tmp_path / "split/best.last.pt"), "--epochs", "2").exit_code == 0
    whole, resumed = (read_payload(tmp_path / f"{name}/best.last.pt") for name in ("whole", "split"))
    assert resumed["train_state"]["epoch"] == 2
    assert all(torch.equal(whole["state_dict"][k], resumed["state_dict"][k]) for k in whole["state_dict"])
    meta = load_checkpoint(tmp_path / "whole/best.pt").meta
    assert meta["equalize"] is True and meta["train_config"]["augment"] == "video"


def test_video_hard_strikes_more_often_and_darker_than_video():
    """``video-hard`` degrades more of the faces and dims them further, from the same kind of draws."""
    n = 4000
    plain, _ = degrade.draw_video(n, torch.Generator().manual_seed(3))
    hard, _ = degrade.draw_video(n, torch.Generator().manual_seed(3), degrade.HARD_CHANCES)
    for name in ("turn", "dark", "motion_blur", "defocus", "low_res"):
        assert hard[name].float().mean() > plain[name].float().mean() + 0.1
    x = faces(256)
    means = [augment(x, level, torch.Generator().manual_seed(1)).mean().item() for level in ("video", "video-hard")]
    assert means[1] < means[0] - 0.02
    out = augment(faces(24, 48, 1), "video-hard", torch.Generator().manual_seed(0), True)
    assert out.shape == (24, 1, 48, 48) and out.min() >= 0 and out.max() <= 1 and torch.isfinite(out).all()
