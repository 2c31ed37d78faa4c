"""Dataset readers: every layout, the canonical class order, clear errors for bad input, odd images."""

import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from videmo.cli import main
from videmo.core.emotions import CLASSES
from videmo.core.errors import VidemoError
from videmo.training.datasets import DatasetError, Sample, detect_layout, format_counts, load_dataset
from videmo.training.images import decode_image, decode_samples
from videmo.training.layouts import FER_CSV_TO_CLASS, RAFDB_LABELS, read_rafdb

# FER2013's CSV numbers its classes in another order than RAF-DB (and videmo).
FER_CSV_NAMES = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")


def pattern_image(kind: int, seed: int = 0, size: int = 32, mode: str = "RGB") -> Image.Image:
    """A noisy image whose look depends on ``kind``: 0 bright, 1 dark, 2 horizontal stripes, 3+ other grey levels."""
    rng = np.random.default_rng(seed)
    if kind == 2:
        base = np.where((np.arange(size)[:, None] // 4) % 2 == 0, 20, 235) * np.ones((1, size))
    else:
        base = np.full((size, size), {0: 210, 1: 40}.get(kind, 60 + 25 * kind))
    pixels = np.clip(base + rng.integers(-20, 21, (size, size)), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels).convert(mode)


def save_image(path: Path, kind: int = 0, seed: int = 0, size: int = 32, mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pattern_image(kind, seed, size, mode).save(path)
    return path


def write_folders(root: Path, per_split: dict[str, dict[str, int]], suffix: str = ".jpg") -> Path:
    """``root/<split>/<class folder>/`` with the given number of images each; folder name i.e. '4' or 'happy'."""
    for split, per_class in per_split.items():
        for k, (folder, n) in enumerate(per_class.items()):
            (root / split / folder).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                save_image(
                    root / split / folder / f"{split}_{folder}_{i}{suffix}",
                    kind=k,
                    seed=zlib.crc32(f"{split}/{folder}/{i}".encode()),
                )
    return root


def write_rafdb(root: Path, labels: dict[str, int], variant: str = "aligned") -> Path:
    """RAF-DB's official layout: the label file, images under basic/Image/aligned or original."""
    (root / RAFDB_LABELS).parent.mkdir(parents=True, exist_ok=True)
    (root / RAFDB_LABELS).write_text("".join(f"{name} {label}\n" for name, label in labels.items()))
    for i, (name, label) in enumerate(labels.items()):
        stem, suffix = name.rsplit(".", 1)
        file = f"{stem}_aligned.{suffix}" if variant == "aligned" else name
        save_image(root / "basic/Image" / variant / file, kind=label, seed=i, size=24)
    return root


def fer_row(emotion: int, usage: str, value: int = 128) -> str:
    return f"{emotion},{' '.join([str(value)] * 48 * 48)},{usage}\n"


def write_fer_csv(path: Path, rows: list[str], header: str = "emotion,pixels,Usage\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "".join(rows))
    return path


def pairs(dataset) -> list[tuple[str, int, str]]:
    """(file name, class name, split) for each sample, sorted."""
    return sorted((s.source.name, CLASSES[s.label], s.split) for s in dataset.samples)


def test_canonical_class_order_is_rafdbs():
    assert CLASSES == ("surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral")


@pytest.mark.parametrize("variant", ["aligned", "original"])
def test_rafdb_official_layout(tmp_path, variant):
    labels = {"train_00001.jpg": 5, "train_00002.jpg": 1, "train_00003.jpg": 7, "test_0001.jpg": 4, "test_0002.jpg": 2}
    write_rafdb(tmp_path, labels, variant)
    assert detect_layout(tmp_path) == "rafdb"
    dataset = load_dataset(tmp_path)
    assert dataset.layout == "rafdb" and not dataset.notes
    suffix = "_aligned" if variant == "aligned" else ""
    expected = sorted((f"{n[:-4]}{suffix}.jpg", CLASSES[label - 1], n.split("_")[0]) for n, label in labels.items())
    assert pairs(dataset) == expected
    assert [CLASSES[s.label] for s in dataset.split("train")] == ["sadness", "surprise", "neutral"]
    assert dataset.counts() == {"train": [1, 0, 0, 0, 1, 0, 1], "test": [0, 1, 0, 1, 0, 0, 0]}
    assert all(s.source.parent.name == variant for s in dataset.samples)


def test_rafdb_prefers_aligned_and_notes_missing_images(tmp_path):
    write_rafdb(tmp_path, {"train_00001.jpg": 3, "test_0001.jpg": 6})
    save_image(tmp_path / "basic/Image/original/train_00001.jpg")
    with open(tmp_path / RAFDB_LABELS, "a") as f:
        f.write("\n   \ntrain_00099.jpg 2\n")  # blank lines are fine; a listed image may be missing
    dataset = load_dataset(tmp_path)
    assert pairs(dataset) == [("test_0001_aligned.jpg", "anger", "test"), ("train_00001_aligned.jpg", "disgust", "train")]
    assert dataset.notes == ["1 listed images not found under basic/Image/"]


@pytest.mark.parametrize("base", ["DATASET", "."])
def test_numbered_folders(tmp_path, base):
    root = tmp_path / base
    write_folders(root, {"train": {str(k): 1 for k in range(1, 8)}, "test": {"3": 2, "6": 1}})
    assert detect_layout(tmp_path) == "numbered"
    dataset = load_dataset(tmp_path)
    assert dataset.layout == "numbered"
    assert [CLASSES[s.label] for s in dataset.split("train")] == list(CLASSES)
    assert pairs(dataset)[:3] == [
        ("test_3_0.jpg", "disgust", "test"),
        ("test_3_1.jpg", "disgust", "test"),
        ("test_6_0.jpg", "anger", "test"),
    ]
    assert dataset.counts()["test"] == [0, 0, 2, 0, 0, 1, 0]


def test_class_name_folders_with_aliases(tmp_path):
    names = {
        "Surprised": "surprise",
        "fearful": "fear",
        "disgust": "disgust",
        "happy": "happiness",
        "sad": "sadness",
        "angry": "anger",
        "neutral": "neutral",
    }
    write_folders(
        tmp_path, {"Training": {name: 1 for name in names}, "validation": {"HAPPY": 1, "anger": 2}, "test": {"surprise": 1}}
    )
    assert detect_layout(tmp_path) == "folders"
    dataset = load_dataset(tmp_path)
    assert dataset.layout == "folders"
    assert sorted(CLASSES[s.label] for s in dataset.split("train")) == sorted(CLASSES)
    assert all(CLASSES[s.label] == names[s.source.parent.name] for s in dataset.split("train"))
    assert dataset.counts() == {"train": [1] * 7, "val": [0, 0, 0, 1, 0, 2, 0], "test": [1, 0, 0, 0, 0, 0, 0]}
    assert "train" in format_counts(dataset) and "neutral" in format_counts(dataset)


def test_class_folders_skip_contempt_with_a_note(tmp_path):
    write_folders(tmp_path, {"train": {"happy": 1, "contempt": 2}, "val": {"sad": 1}})
    dataset = load_dataset(tmp_path)
    assert [CLASSES[s.label] for s in dataset.samples] == ["happiness", "sadness"]
    assert len(dataset.notes) == 1 and "contempt" in dataset.notes[0]


def test_fer2013_csv_maps_its_class_order(tmp_path):
    rows = [fer_row(e, "Training", value=10 * e) for e in range(7)] + [fer_row(3, "PublicTest"), fer_row(0, "PrivateTest")]
    csv_path = write_fer_csv(tmp_path / "fer2013.csv", rows)
    for root in (csv_path, tmp_path):  # the file, or a folder holding fer2013.csv
        assert detect_layout(root) == "fer-csv"
        dataset = load_dataset(root)
        assert dataset.layout == "fer-csv" and dataset.root == csv_path
        assert [CLASSES[s.label] for s in dataset.split("train")] == list(FER_CSV_NAMES)
        assert [CLASSES[s.label] for s in dataset.split("val")] == ["happiness"]
        assert [CLASSES[s.label] for s in dataset.split("test")] == ["anger"]
    assert [CLASSES[c] for c in FER_CSV_TO_CLASS] == list(FER_CSV_NAMES)
    images, labels, votes, skipped = decode_samples(dataset.split("train"), 32, 3, progress=False)
    assert images.shape == (7, 3, 32, 32) and skipped == 0
    assert torch.equal(votes, torch.eye(7)[labels])  # one vote for the one label
    assert images[:, :, 5, 5].tolist() == [[10 * e] * 3 for e in range(7)]  # a flat image stays flat when resized
    assert labels.tolist() == [CLASSES.index(name) for name in FER_CSV_NAMES]


def test_fer2013_csv_with_a_byte_order_mark(tmp_path):
    path = tmp_path / "fer.csv"
    path.write_bytes(("\ufeffemotion,pixels,Usage\n" + fer_row(5, "Training")).encode("utf-8"))
    assert [CLASSES[s.label] for s in load_dataset(path).samples] == ["surprise"]


def test_layout_can_be_forced(tmp_path):
    write_rafdb(tmp_path, {"train_00001.jpg": 1, "test_0001.jpg": 2})
    write_folders(tmp_path / "DATASET", {"train": {"4": 2}, "test": {"5": 1}})
    assert load_dataset(tmp_path).layout == "rafdb"
    forced = load_dataset(tmp_path, layout="numbered")
    assert forced.layout == "numbered" and pairs(forced) == [
        ("test_5_0.jpg", "sadness", "test"),
        ("train_4_0.jpg", "happiness", "train"),
        ("train_4_1.jpg", "happiness", "train"),
    ]
    with pytest.raises(DatasetError, match="unknown class '5'"):
        load_dataset(tmp_path, layout="folders")
    with pytest.raises(DatasetError, match="unknown layout 'imagenet'"):
        load_dataset(tmp_path, layout="imagenet")


def test_cli_layout_forcing_gives_one_line_errors(tmp_path):
    write_folders(tmp_path, {"train": {"4": 1}, "test": {"5": 1}})
    result = CliRunner().invoke(
        main, ["train", "--data", str(tmp_path), "--layout", "rafdb", "--quiet", "--out", str(tmp_path / "r/b.pt")]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("videmo: error: ") and result.stderr.count("\n") == 1
    assert str(tmp_path / RAFDB_LABELS) in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize(
    "line, problem",
    [
        ("train_00002.jpg", "malformed line"),
        ("train_00002.jpg 5 extra", "malformed line"),
        ("train_00002.jpg five", "malformed line"),
        ("train_00002.jpg -1", "malformed line"),
        ("train_00002.jpg 0", "label 0 is outside 1..7"),
        ("train_00002.jpg 8", "label 8 is outside 1..7"),
        ("val_00002.jpg 3", "starts with neither"),
    ],
)
def test_bad_rafdb_label_lines_name_file_and_line(tmp_path, line, problem):
    write_rafdb(tmp_path, {"train_00001.jpg": 1})
    with open(tmp_path / RAFDB_LABELS, "a") as f:
        f.write(f"{line}\n")
    with pytest.raises(DatasetError, match=problem) as caught:
        load_dataset(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / RAFDB_LABELS}:2: ")


def test_a_bad_label_line_is_quoted_as_it_reads_not_as_python_writes_it(tmp_path):
    write_rafdb(tmp_path, {"train_00001.jpg": 1})
    with open(tmp_path / RAFDB_LABELS, "a") as f:
        f.write("don't_00002.jpg\tfive\n")  # a quote and a tab: repr would write "don't_00002.jpg\tfive" in double quotes
    with pytest.raises(DatasetError) as caught:
        load_dataset(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path / RAFDB_LABELS}:2: malformed line 'don't_00002.jpg\\x09five' (expected 'train_00001.jpg 5')"
    )


def test_bad_inputs_name_the_file(tmp_path):
    def message(root, layout=None) -> str:
        with pytest.raises(VidemoError) as caught:
            load_dataset(root, layout)
        assert isinstance(caught.value, DatasetError)
        return str(caught.value)

    assert message(tmp_path / "absent").startswith(f"{tmp_path / 'absent'}: dataset not found")
    (tmp_path / "notes.txt").write_text("hello")
    assert message(tmp_path / "notes.txt").startswith(f"{tmp_path / 'notes.txt'}: a dataset is a folder")
    (tmp_path / "empty").mkdir()
    assert "no dataset layout found" in message(tmp_path / "empty")
    assert message(tmp_path / "empty", "rafdb") == f"{tmp_path / 'empty' / RAFDB_LABELS}: RAF-DB label file not found"
    binary = tmp_path / "binary"
    (binary / RAFDB_LABELS).parent.mkdir(parents=True)
    (binary / RAFDB_LABELS).write_bytes(b"\xff\xfe\x00train")
    assert message(binary) == f"{binary / RAFDB_LABELS}: not a text file"
    write_folders(tmp_path / "unknown", {"train": {"happy": 1, "bored": 1}, "test": {"sad": 1}})
    assert message(tmp_path / "unknown").startswith(f"{tmp_path / 'unknown/train/bored'}: unknown class 'bored'")
    write_folders(tmp_path / "numbered", {"train": {"1": 1, "9": 1}, "test": {"2": 1}})
    assert message(tmp_path / "numbered").startswith(f"{tmp_path / 'numbered/train/9'}: class folder must be numbered 1..7")
    write_folders(tmp_path / "nothing", {"train": {"happy": 0}, "test": {"sad": 0}})
    assert "no labelled images found" in message(tmp_path / "nothing")
    assert message(tmp_path / "empty", "fer-csv").startswith(f"{tmp_path / 'empty' / 'fer2013.csv'}: cannot read")


@pytest.mark.parametrize(
    "header, row, where",
    [
        ("emotion,Usage,pixels\n", fer_row(0, "Training"), ":1: expected the header"),
        ("", "", ":1: expected the header"),
        ("emotion,pixels,Usage\n", fer_row(7, "Training"), ":2: emotion 7 is outside 0..6"),
        ("emotion,pixels,Usage\n", fer_row(-1, "Training"), ":2: emotion -1 is outside 0..6"),
        ("emotion,pixels,Usage\n", "3,1 2 3,Training\n", ":2: 3 pixels instead of 48 x 48 = 2304"),
        ("emotion,pixels,Usage\n", fer_row(3, "Holdout"), ":2: malformed row"),
        ("emotion,pixels,Usage\n", "happy,1 2,Training\n", ":2: malformed row"),
        ("emotion,pixels,Usage\n", "3,1 2\n", ":2: malformed row"),
        ("emotion,pixels,Usage\n", fer_row(3, "Training", value=300), ":2: malformed row"),
        ("emotion,pixels,Usage\n", fer_row(3, "Training", value=-5), ":2: malformed row"),
        (
            "emotion,pixels,Usage\n",
            fer_row(3, "Training") + "\n" + fer_row(3, "Training").replace(" 128,", " x,"),
            ":4: malformed row",
        ),
    ],
)
def test_bad_fer_csv_names_file_and_line(tmp_path, header, row, where):
    path = write_fer_csv(tmp_path / "data.csv", [row], header)
    with pytest.raises(DatasetError) as caught:
        load_dataset(path)
    assert str(caught.value).startswith(f"{path}{where}")


def test_train_time_oddities(tmp_path):
    root = write_folders(tmp_path / "d", {"train": {"happy": 2, "fear": 0, "sad": 2}, "test": {"happy": 1}})
    (root / "train/happy/corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    truncated = (root / "train/happy/train_happy_0.jpg").read_bytes()
    (root / "train/happy/truncated.jpg").write_bytes(truncated[: len(truncated) // 2])
    alpha = Image.new("RGBA", (32, 32), (255, 0, 0, 255))
    alpha.paste((0, 0, 255, 0), (0, 0, 16, 32))  # left half fully transparent
    alpha.save(root / "train/sad/alpha.png")
    save_image(root / "train/sad/grey.png", kind=1, mode="L")
    save_image(root / "train/sad/train_happy_0.jpg", kind=2)  # the same name as a file in happy/

    dataset = load_dataset(tmp_path / "d")
    assert dataset.counts()["train"] == [0, 0, 0, 4, 5, 0, 0]  # fear/ is empty: fine
    names = [(s.source.name, CLASSES[s.label]) for s in dataset.split("train")]
    assert ("train_happy_0.jpg", "happiness") in names and ("train_happy_0.jpg", "sadness") in names

    images, labels, _, skipped = decode_samples(dataset.split("train"), 32, 3, 2, progress=False)
    assert skipped == 2 and images.shape == (7, 3, 32, 32) and images.dtype == torch.uint8
    assert labels.tolist() == [3, 3, 4, 4, 4, 4, 4]
    by_name = {s.source.name: s for s in dataset.split("train") if s.label == 4}
    rgba = decode_image(by_name["alpha.png"].source, 32, 3)
    assert rgba.shape == (3, 32, 32)
    assert rgba[:, 5, 5].tolist() == [255, 255, 255] and rgba[:, 5, 28].tolist() == [255, 0, 0]  # composited on white
    grey = decode_image(by_name["grey.png"].source, 32, 3)
    assert grey.shape == (3, 32, 32) and (grey[0] == grey[1]).all() and (grey[1] == grey[2]).all()
    assert decode_image(by_name["alpha.png"].source, 16, 1).shape == (1, 16, 16)
    assert decode_image(root / "train/happy/corrupt.jpg", 32, 3) is None
    assert decode_image(tmp_path / "absent.jpg", 32, 3) is None


def test_decode_nothing_readable(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"nope")
    images, labels, votes, skipped = decode_samples([Sample(tmp_path / "bad.jpg", 0, "train")], 32, 1, progress=False)
    assert images.shape == (0, 1, 32, 32) and labels.shape == (0,) and votes.shape == (0, 7) and skipped == 1


# The RAF-DB label file parser, property-tested: arbitrary valid files parse to the right labels,
# and one bad label anywhere is reported with its line number.
SPACES = st.sampled_from([" ", "  ", "\t", " \t "])
VALID_LINE = st.tuples(
    st.sampled_from(["train", "test"]),
    st.integers(1, 99_999),
    st.integers(1, 7),
    SPACES,
    st.sampled_from(["", " ", "\t"]),
    st.sampled_from(["aligned", "original"]),
)
# Labels are ASCII digits 1..7; other digits ('²', Arabic '٣'), signs, decimals and words are errors.
BAD_LABEL = st.one_of(
    st.sampled_from(["0", "8", "00", "42", "-1", "+3", "2.0", "²", "٣", "five"]),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=6),
).filter(lambda s: not any(c.isspace() for c in s) and not (s.isascii() and s.isdigit() and 1 <= int(s) <= 7))


def write_label_file(root: Path, lines: list[tuple], newline: str) -> list[tuple[str, int, str]]:
    """Write RAF-DB's label file and empty image files; the expected (path, label, split) in file order."""
    expected, text = [], []
    for split, number, label, gap, trail, variant in lines:
        name = f"{split}_{number:05d}.jpg"
        file = root / "basic/Image" / variant / (f"{split}_{number:05d}_aligned.jpg" if variant == "aligned" else name)
        file.parent.mkdir(parents=True, exist_ok=True)
        file.touch()
        text.append(f"{name}{gap}{label}{trail}")
        expected.append((str(file), label - 1, split))
    (root / RAFDB_LABELS).parent.mkdir(parents=True, exist_ok=True)
    (root / RAFDB_LABELS).write_bytes(newline.join(text).encode("utf-8") + newline.encode())
    return expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(VALID_LINE, max_size=12, unique_by=lambda t: (t[0], t[1])), newline=st.sampled_from(["\n", "\r\n"]))
def test_rafdb_label_file_property_valid(lines, newline):
    with tempfile.TemporaryDirectory() as folder:
        expected = write_label_file(Path(folder), lines, newline)
        if not expected:
            assert read_rafdb(Path(folder)).samples == []
            return
        dataset = load_dataset(folder)
        assert [(str(s.source), s.label, s.split) for s in dataset.samples] == expected
        assert not dataset.notes


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(VALID_LINE, max_size=8, unique_by=lambda t: (t[0], t[1])), bad=BAD_LABEL, data=st.data())
def test_rafdb_label_file_property_bad_label(lines, bad, data):
    at = data.draw(st.integers(0, len(lines)), label="bad line index")
    with tempfile.TemporaryDirectory() as folder:
        write_label_file(Path(folder), lines, "\n")
        label_file = Path(folder) / RAFDB_LABELS
        text = label_file.read_text(encoding="utf-8").splitlines()
        text.insert(at, f"train_99999.jpg {bad}")
        label_file.write_text("\n".join(text) + "\n", encoding="utf-8")
        with pytest.raises(DatasetError) as caught:
            read_rafdb(Path(folder))
        assert str(caught.value).startswith(f"{label_file}:{at + 1}: ")


# FER+: FERPlus's own layout, vote counts in its column order.
FERPLUS_ORDER = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")


def write_ferplus(root: Path, rows: dict[str, list[list[int]]]) -> Path:
    """``root/FER2013<Split>/label.csv`` and one 48x48 grey PNG per row (file names fer0000000.png, ...)."""
    number = 0
    for folder, votes in rows.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        lines = []
        for counts in votes:
            name = f"fer{number:07d}.png"
            save_image(root / folder / name, kind=int(np.argmax(counts)) % 3, seed=number, size=48, mode="L")
            lines.append(f'{name},"(0, 0, 48, 48)",' + ",".join(map(str, counts)))
            number += 1
        (root / folder / "label.csv").write_text("\n".join(lines) + "\n")
    return root


def test_ferplus_votes_majority_and_distribution():
    from videmo.training.datasets import NO_LABEL
    from videmo.training.layouts import ferplus_votes

    def votes(**named):
        return [named.get(name, 0) for name in FERPLUS_ORDER]

    label, shares = ferplus_votes(votes(happiness=6, surprise=3, neutral=1))  # the single neutral vote is dropped
    assert CLASSES[label] == "happiness"
    assert shares[CLASSES.index("happiness")] == pytest.approx(6 / 9) and shares[CLASSES.index("neutral")] == 0
    assert ferplus_votes(votes(happiness=5, surprise=5))[0] == NO_LABEL  # a tie is not a strict majority
    assert ferplus_votes(votes(happiness=4, sadness=3, anger=3))[0] == NO_LABEL
    label, shares = ferplus_votes(votes(contempt=6, anger=4))  # a contempt majority: no label, the anger votes remain
    assert label == NO_LABEL and shares[CLASSES.index("anger")] == 1
    label, shares = ferplus_votes(votes(neutral=4, unknown=3, NF=3))  # unknown / not-a-face votes are dropped
    assert CLASSES[label] == "neutral" and shares[CLASSES.index("neutral")] == 1
    assert ferplus_votes(votes(NF=10)) == (NO_LABEL, None)
    assert ferplus_votes(votes(**{name: 1 for name in FERPLUS_ORDER})) == (NO_LABEL, None)  # only single votes


def test_ferplus_layout(tmp_path):
    root = write_ferplus(
        tmp_path / "ferplus",
        {
            "FER2013Train": [
                [8, 2, 0, 0, 0, 0, 0, 0, 0, 0],
                [0, 7, 3, 0, 0, 0, 0, 0, 0, 0],
                [0, 5, 5, 0, 0, 0, 0, 0, 0, 0],
                [0, 0, 0, 0, 0, 0, 0, 0, 0, 10],
            ],
            "FER2013Valid": [[0, 0, 0, 9, 1, 0, 0, 0, 0, 0], [0, 0, 4, 0, 0, 0, 6, 0, 0, 0]],
        },
    )
    assert detect_layout(root) == "ferplus"
    dataset = load_dataset(root)
    assert dataset.layout == "ferplus"
    assert [CLASSES[s.label] if s.label >= 0 else None for s in dataset.split("train")] == ["neutral", "happiness", None]
    assert [CLASSES[s.label] for s in dataset.split("val")] == ["sadness", "fear"]
    assert dataset.counts()["train"][CLASSES.index("neutral")] == 1 and sum(dataset.counts()["train"]) == 2
    assert any("1 faces left out, no usable emotion vote" in n for n in dataset.notes)
    assert any("1 faces have no majority emotion" in n for n in dataset.notes)
    images, labels, votes, skipped = decode_samples(dataset.split("train"), 32, 1, progress=False)
    assert images.shape == (3, 1, 32, 32) and skipped == 0
    assert votes[2, CLASSES.index("happiness")] == 0.5 and votes[2, CLASSES.index("surprise")] == 0.5
    assert torch.allclose(votes.sum(1), torch.ones(3))


@pytest.mark.parametrize(
    "line, problem",
    [
        ('fer0000000.png,"(0, 0, 48, 48)",1,2,3', "too few votes"),
        ('fer0000000.png,"(0, 0, 48, 48)",1,2,3,4,x,0,0,0,0,0', "not a number"),
        ('fer0000000.png,"(0, 0, 48, 48)",1,2,3,4,-1,0,0,0,0,0', "negative"),
        ('fer0000000.png,"(0, 0, 48, 48)",1,2,3,4,nan,0,0,0,0,0', "nan"),
    ],
)
def test_bad_ferplus_line_names_file_and_line(tmp_path, line, problem):
    root = write_ferplus(tmp_path, {"FER2013Train": [[10, 0, 0, 0, 0, 0, 0, 0, 0, 0]]})
    label_file = root / "FER2013Train" / "label.csv"
    label_file.write_text(label_file.read_text() + line + "\n")
    result = CliRunner().invoke(main, ["train", "--data", str(root), "--quiet"])
    assert result.exit_code == 1, problem
    assert result.output.strip().splitlines() == [
        f"videmo: error: {label_file}:2: malformed line (expected 'fer0000000.png,\"(0, 0, 48, 48)\",' and 10 vote counts)"
    ]
