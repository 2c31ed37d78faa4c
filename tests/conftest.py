import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner, Result

sys.path.insert(0, str(Path(__file__).parent))

from media import blank_frames, face_frames, write_video  # noqa: E402

from videmo.model.awei import Awei  # noqa: E402
from videmo.model.checkpoint import model_meta, save_checkpoint  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def invoke(*args) -> Result:
    """The ``videmo`` command run in this process (click's CliRunner): exit status, stdout and stderr as
    click writes them, without a new interpreter's seconds of imports. An exception the command does not
    turn into an exit status fails the test with its traceback. Tests of what only a separate process
    shows (the console script, signals, a shell's exit status, C libraries' output on file descriptor
    2, the environment) start one instead."""
    from videmo.cli import main

    return CliRunner().invoke(main, [str(arg) for arg in args], catch_exceptions=False)


def make_checkpoint(path: Path, arch: str = "awei", image_size: int = 32, channels: int = 1, seed: int = 0) -> Path:
    """A small untrained checkpoint of the real format: fast to run, for testing the plumbing."""
    torch.manual_seed(seed)
    model = Awei(arch, channels, image_size)
    save_checkpoint(path, model, model_meta(model, [0.5] * channels, [0.5] * channels, trained_on="nothing (test)"))
    return path


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def tiny_checkpoint(media) -> Path:
    return make_checkpoint(media / "tiny.pt")


@pytest.fixture(scope="session")
def one_face_video(media) -> Path:
    return write_video(media / "one_face.mp4", face_frames(30, faces=1), fps=10)


@pytest.fixture(scope="session")
def two_face_video(media) -> Path:
    return write_video(media / "two_faces.mp4", face_frames(20, width=480, faces=2, moving=False), fps=10)


@pytest.fixture(scope="session")
def no_face_video(media) -> Path:
    return write_video(media / "no_face.mp4", blank_frames(12), fps=10)


@pytest.fixture(scope="session")
def shipped():
    """The shipped default model, loaded once for the session."""
    from videmo.model.checkpoint import default_weights, load_checkpoint

    path = default_weights()
    assert path is not None, "models/ must hold the default model"
    return load_checkpoint(path)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not beside this checkout")
    return SHARED_DATA


@pytest.fixture
def one_thread():
    """One CPU thread: with two cores shared with other work, two threads wait on each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
