"""Training data that is not what it should be. ``videmo train`` and ``evaluate`` name the
file and the cause, skip what cannot be used (saying so) and refuse to train or score on nothing."""

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import make_checkpoint
from PIL import Image
from test_data import save_image, write_ferplus, write_folders

from videmo.cli import main
from videmo.training.datasets import DatasetError, load_dataset
from videmo.training.images import decode_samples, load_image

# One epoch of the plain CNN on a handful of 32 px images: a second or two.
QUICK = ["--arch", "cnn", "--epochs", "1", "--image-size", "32", "--batch-size", "4", "--augment", "none", "--warmup-epochs", "0"]


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: one CPU thread for training runs


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def error_line(result) -> str:
    """The one error line of a failed command: exit status 1, no traceback, nothing else on stderr but bars."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("videmo: error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0].removeprefix("videmo: error: ")


def bad_images(folder: Path) -> dict[str, str]:
    """Every kind of image file that cannot be a face, with the cause each is skipped for."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.png").write_text("not an image\n")
    whole = save_image(folder / "whole.jpg", kind=0, size=96).read_bytes()  # large enough that half of it has all its headers
    (folder / "whole.jpg").unlink()
    (folder / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    Image.new("L", (1, 1), 128).save(folder / "dot.png")
    return {
        "empty.jpg": "an empty file (0 bytes)",
        "text.png": "not an image Pillow can read",
        "truncated.jpg": "truncated or damaged image data",
        "dot.png": "1x1 px, too small for a face (at least 8 px a side)",
    }


def test_each_unusable_image_is_named_with_its_cause_and_skipped(tmp_path):
    from videmo.training.datasets import Sample

    causes = bad_images(tmp_path / "happy")
    good = [save_image(tmp_path / "sad" / f"good{i}.jpg", kind=1) for i in range(2)]
    samples = [Sample(tmp_path / "happy" / name, 3, "train") for name in sorted(causes)] + [Sample(p, 4, "train") for p in good]
    lines: list[str] = []
    images, labels, _, skipped = decode_samples(samples, 32, 1, progress=False, report=lines.append)
    assert skipped == 4 and images.shape == (2, 1, 32, 32) and labels.tolist() == [4, 4]
    assert sorted(lines) == sorted(f"note: skipped {tmp_path / 'happy' / name}: {cause}" for name, cause in causes.items())
    for name, cause in causes.items():
        assert load_image(tmp_path / "happy" / name, 32, 1) == (None, cause)


def test_many_unusable_images_are_named_up_to_ten_then_counted(tmp_path):
    from videmo.training.datasets import Sample

    for i in range(13):
        (tmp_path / f"empty{i:02d}.png").write_bytes(b"")
    lines: list[str] = []
    decode_samples([Sample(p, 0, "train") for p in sorted(tmp_path.iterdir())], 32, 1, progress=False, report=lines.append)
    assert len(lines) == 11 and lines[-1] == "note: skipped 3 more unreadable images"
    assert (
        decode_samples([Sample(tmp_path / "empty00.png", 0, "train")], 32, 1, progress=False)[3] == 1
    )  # quiet: no report at all


def test_sixteen_bit_images_keep_their_grey_levels(tmp_path):
    levels = np.linspace(0, 255, 32 * 32).reshape(32, 32)
    Image.fromarray((levels * 257).astype(np.uint16)).save(tmp_path / "deep.png")  # Pillow opens it as I;16
    Image.fromarray(levels.astype(np.int32) * 257).save(tmp_path / "deep.tif")  # mode I
    Image.fromarray((levels / 255).astype(np.float32)).save(tmp_path / "float.tif")  # mode F, 0..1
    Image.fromarray(levels.round().astype(np.uint8)).save(tmp_path / "eight.png")
    eight, _ = load_image(tmp_path / "eight.png", 32, 1)
    for name in ("deep.png", "deep.tif", "float.tif"):
        array, cause = load_image(tmp_path / name, 32, 1)
        assert cause is None and np.abs(array.astype(int) - eight).max() <= 1, name  # not clipped to a white square


def test_transparent_images_are_laid_on_white(tmp_path):
    image = Image.new("RGBA", (32, 32), (0, 0, 0, 255))
    image.paste((0, 0, 0, 0), (0, 0, 16, 32))  # the left half transparent
    image.save(tmp_path / "alpha.png")
    array, _ = load_image(tmp_path / "alpha.png", 32, 1)
    assert array[0, 5, 5] == 255 and array[0, 5, 28] == 0


def test_empty_class_folders_and_files_that_are_not_images_are_noted(tmp_path):
    root = write_folders(tmp_path / "d", {"train": {"happy": 2, "sad": 2, "fear": 0}, "test": {"happy": 1, "sad": 1}})
    (root / "train/happy/notes.txt").write_text("where these came from")
    (root / "train/happy/.DS_Store").write_bytes(b"\0")  # what macOS leaves: not noted
    (root / "train/happy/._train_happy_0.jpg").write_bytes(b"\0")  # nor macOS's resource copies, though they end in .jpg
    (root / "train/sad/Thumbs.db").write_bytes(b"\0")
    save_image(root / "train" / "loose.jpg")
    dataset = load_dataset(root)
    assert dataset.counts()["train"] == [0, 0, 0, 2, 2, 0, 0]
    assert dataset.notes == [
        f"{root / 'train'}: 1 image outside the class folders left out, unlabelled (loose.jpg)",
        f"{root / 'train/fear'}: empty class folder (no images)",
        f"{root / 'train/happy'}: 1 file that is not an image (.bmp, .jpeg, .jpg, .png, .tif, .tiff, .webp) left out (notes.txt)",
    ]


def test_class_folders_without_images_are_refused_with_the_reason(tmp_path):
    root = write_folders(tmp_path / "d", {"train": {"4": 0, "5": 0}, "test": {"4": 0}})
    (root / "train/4/readme.md").write_text("to do")
    result = run("train", "--data", root, *QUICK, "--out", tmp_path / "run" / "best.pt")
    assert error_line(result) == (
        f"{root}: no labelled images found (numbered layout): {root / 'test/4'}: empty class folder (no images); "
        f"{root / 'train/4'}: 1 file that is not an image (.bmp, .jpeg, .jpg, .png, .tif, .tiff, .webp) left out "
        f"(readme.md); {root / 'train/4'}: empty class folder (no images); and 1 more note"
    )
    assert not (tmp_path / "run").exists()


def test_train_names_the_images_it_skips_and_trains_on_the_rest(tmp_path):
    root = write_folders(tmp_path / "d", {"train": {"happy": 4, "sad": 4}, "test": {"happy": 2, "sad": 2}})
    causes = bad_images(root / "train" / "happy")
    result = run("train", "--data", root, *QUICK, "--out", tmp_path / "run" / "best.pt")
    assert result.exit_code == 0, result.output
    for name, cause in causes.items():
        assert f"note: skipped {root / 'train/happy' / name}: {cause}" in result.stdout
    assert "skipped 4 unreadable images (4 train, 0 validation)" in result.stdout
    assert "training on 8 images" in result.stdout and (tmp_path / "run" / "best.pt").is_file()


def test_train_refuses_a_split_of_unreadable_images(tmp_path):
    root = write_folders(tmp_path / "d", {"train": {"happy": 0, "sad": 0}, "test": {"happy": 2, "sad": 2}})
    bad_images(root / "train" / "happy")
    bad_images(root / "train" / "sad")
    result = run("train", "--data", root, *QUICK, "--out", tmp_path / "run" / "best.pt")
    assert error_line(result) == f"{root}: no readable images in the training data"
    assert f"note: skipped {root / 'train/sad/empty.jpg'}: an empty file (0 bytes)" in result.stdout
    assert not (tmp_path / "run" / "best.pt").exists()


def test_train_refuses_a_validation_split_of_unreadable_images(tmp_path):
    root = write_folders(tmp_path / "d", {"train": {"happy": 2, "sad": 2}, "test": {"happy": 0}})
    (root / "test/happy/empty.jpg").write_bytes(b"")
    result = run("train", "--data", root, *QUICK, "--out", tmp_path / "run" / "best.pt")
    assert error_line(result) == f"{root}: no readable images in the validation data"
    assert f"note: skipped {root / 'test/happy/empty.jpg'}: an empty file (0 bytes)" in result.stdout
    assert not (tmp_path / "run" / "best.pt").exists()


@pytest.mark.parametrize(
    "line, why",
    [
        ('fer0000009.png,"(0, 0, 48, 48)",10,0,0', "too few columns"),
        ('fer0000009.png,"(0, 0, 48, 48)",10,0,0,0,0,0,0,0,0,0,0', "one column too many"),
        ('fer0000009.png,"(0, 0, 48, 48)",ten,0,0,0,0,0,0,0,0,0', "a vote that is not a number"),
        ("fer0000009.png", "the name alone"),
    ],
)
def test_a_ferplus_label_line_of_the_wrong_shape_is_refused_by_its_line(tmp_path, line, why):
    root = write_ferplus(tmp_path / "f", {"FER2013Train": [[10, 0, 0, 0, 0, 0, 0, 0, 0, 0], [0, 10, 0, 0, 0, 0, 0, 0, 0, 0]]})
    label_file = root / "FER2013Train" / "label.csv"
    label_file.write_text(label_file.read_text() + line + "\n")
    assert error_line(run("train", "--data", root, *QUICK, "--out", tmp_path / "best.pt")) == (
        f"{label_file}:3: malformed line (expected 'fer0000000.png,\"(0, 0, 48, 48)\",' and 10 vote counts)"
    ), why


def test_ferplus_rows_for_absent_images_and_images_without_rows_are_noted(tmp_path):
    root = write_ferplus(
        tmp_path / "f",
        {
            "FER2013Train": [[10, 0, 0, 0, 0, 0, 0, 0, 0, 0]] * 3 + [[0, 10, 0, 0, 0, 0, 0, 0, 0, 0]] * 3,
            "FER2013Valid": [[10, 0, 0, 0, 0, 0, 0, 0, 0, 0], [0, 10, 0, 0, 0, 0, 0, 0, 0, 0]],
        },
    )
    for name in ("fer0000000.png", "fer0000001.png", "fer0000002.png", "fer0000003.png"):
        (root / "FER2013Train" / name).unlink()
    save_image(root / "FER2013Train" / "extra.png", size=48, mode="L")
    dataset = load_dataset(root)
    assert len(dataset.split("train")) == 2
    assert "FER2013Train: 4 listed images not found (fer0000000.png, fer0000001.png, fer0000002.png and 1 more)" in dataset.notes
    assert "FER2013Train: 1 image not in its label.csv left out, unlabelled (extra.png)" in dataset.notes


def test_ferplus_with_every_listed_image_absent_says_so(tmp_path):
    root = write_ferplus(tmp_path / "f", {"FER2013Train": [[10, 0, 0, 0, 0, 0, 0, 0, 0, 0]], "FER2013Valid": []})
    (root / "FER2013Train" / "fer0000000.png").unlink()
    line = error_line(run("evaluate", "--data", root, "--weights", make_checkpoint(tmp_path / "tiny.pt")))
    assert line == (
        f"{root}: no labelled images found (ferplus layout): FER2013Train: 1 listed images not found (fer0000000.png); "
        f"{root / 'FER2013Valid' / 'label.csv'}: no rows"
    )


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("faces.zip", b"PK\x03\x04", "an archive; unpack it and give the folder"),
        ("notes.txt", b"hello", "a dataset is a folder or FER2013's CSV file"),
        ("face.png", b"\x89PNG", "a dataset is a folder or FER2013's CSV file"),
        ("other.csv", b"a,b\n1,2\n", ":1: expected the header 'emotion,pixels,Usage'"),
    ],
)
def test_a_data_path_that_is_a_file_is_refused(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    for command in (
        ["train", *QUICK, "--out", tmp_path / "best.pt"],
        ["evaluate", "--weights", make_checkpoint(tmp_path / "t.pt")],
    ):
        line = error_line(run(*command, "--data", path))
        assert line == f"{path}{message}" if message.startswith(":") else line == f"{path}: {message}"
    assert not (tmp_path / "best.pt").exists()


def test_ferplus_label_file_given_as_the_data_names_the_folder_to_give(tmp_path):
    root = write_ferplus(tmp_path / "f", {"FER2013Train": [[10, 0, 0, 0, 0, 0, 0, 0, 0, 0]]})
    label_file = root / "FER2013Train" / "label.csv"
    assert error_line(run("train", "--data", label_file, *QUICK, "--out", tmp_path / "best.pt")) == (
        f"{label_file}: FER+'s label file; give the folder that holds FER2013Train/ ({root})"
    )


def test_a_device_as_data_is_refused_without_reading_it():
    with pytest.raises(DatasetError, match="^/dev/null: not a regular file or folder$"):
        load_dataset("/dev/null")


def test_a_dataset_folder_that_cannot_be_listed_is_one_line(tmp_path, monkeypatch):
    root = write_folders(tmp_path / "d", {"train": {"happy": 1, "sad": 1}, "test": {"happy": 1}})
    listed = Path.iterdir

    def iterdir(self):
        if self == root / "train":  # as a folder without read permission, which root (the CI's user, say) could still read
            raise PermissionError(13, "Permission denied", str(self))
        return listed(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    assert (
        error_line(run("train", "--data", root, *QUICK, "--out", tmp_path / "best.pt"))
        == f"{root / 'train'}: cannot read (Permission denied)"
    )


def test_evaluate_names_the_images_it_skips_and_refuses_a_split_of_none(tmp_path):
    root = write_folders(tmp_path / "d", {"val": {"happy": 2, "sad": 2}})
    (root / "val/happy/empty.jpg").write_bytes(b"")
    weights = make_checkpoint(tmp_path / "tiny.pt")
    result = run("evaluate", "--data", root, "--weights", weights)
    assert result.exit_code == 0, result.output
    assert f"note: skipped {root / 'val/happy/empty.jpg'}: an empty file (0 bytes)" in result.stdout
    assert "4 images, 1 unreadable skipped" in result.stdout
    about = json.loads(run("evaluate", "--data", root, "--weights", weights, "--json").stdout)
    assert about["skipped"] == 1 and f"skipped {root / 'val/happy/empty.jpg'}: an empty file (0 bytes)" in about["notes"]
    for image in sorted((root / "val").rglob("*.jpg")):
        if image.stat().st_size:
            image.write_bytes(b"")
    assert error_line(run("evaluate", "--data", root, "--weights", weights)) == (
        f"{root}: no readable images in the val split (none of its 5 could be used; {root / 'val/happy/empty.jpg'}: "
        "an empty file (0 bytes), ...)"
    )
