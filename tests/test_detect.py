"""videmo's MTCNN driver finds what facenet-pytorch's own finds, faster."""

import decord
import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from media import EXAMPLE

from videmo import detect
from videmo.detect import FaceDetector, MTCNN_MIN_FACE, crop_boxes, run_in_buckets


@pytest.fixture(scope="module")
def example_frames() -> np.ndarray:
    reader = decord.VideoReader(str(EXAMPLE))
    return reader.get_batch(list(range(0, len(reader), 6))[:32]).asnumpy()  # 32 frames over the whole clip


def facenet_boxes(frames: np.ndarray, min_face: int) -> list[np.ndarray]:
    """facenet-pytorch's MTCNN.detect on the same float frames: (K, 5) boxes and scores per frame."""
    from facenet_pytorch import MTCNN

    mtcnn = MTCNN(keep_all=True, device="cpu", min_face_size=min_face).eval()
    boxes, probs = mtcnn.detect(torch.as_tensor(frames).float())
    return [np.zeros((0, 5)) if b is None else np.column_stack([b, p]) for b, p in zip(boxes, probs)]


@pytest.mark.parametrize("min_face", [40, 20])  # at 20 P-Net sees the first pyramid level in groups of 12 frames
def test_same_boxes_and_scores_as_facenet_pytorch(example_frames, min_face):
    detector = FaceDetector(torch.device("cpu"), detect_width=None, min_face=min_face, threshold=0.0)
    images = torch.as_tensor(example_frames).permute(0, 3, 1, 2).float().contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        ours = detector.find_boxes(images, min_face)
    theirs = facenet_boxes(example_frames, min_face)
    assert sum(len(b) for b in theirs) > 20  # the clip has faces in most of these frames
    for mine, reference in zip(ours, theirs):
        order_mine, order_ref = np.argsort(-mine[:, 4]), np.argsort(-reference[:, 4])
        np.testing.assert_allclose(mine[order_mine], reference[order_ref], atol=1e-3)


def test_the_gpu_crop_path_finds_the_same_faces(example_frames):
    """On a GPU the candidate boxes are cropped by one roi_align call; the same code runs here."""
    detector = FaceDetector(torch.device("cpu"))
    loop = detector.detect(example_frames)
    detector.crop_in_one_call = True
    one_call = detector.detect(example_frames)
    matched = 0
    for a, b in zip(loop, one_call):
        if a and b:
            iou = box_iou(torch.tensor([d.box for d in a]), torch.tensor([d.box for d in b]))
            matched += int((iou.max(dim=1).values > 0.8).sum())
    total = sum(len(a) for a in loop)
    assert total > 20 and matched >= 0.95 * total
    assert abs(sum(len(b) for b in one_call) - total) <= 0.05 * total


@pytest.mark.parametrize("size", [24, 48])
def test_crops_from_the_summed_area_table_are_the_area_resizes(monkeypatch, size):
    """Boxes that cover their frame many times over are cropped from its summed-area table: the same
    floats as area resizing each box, for boxes of every size, partly outside the frame or past it."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (3, 3, 90, 160), generator=generator).float().contiguous(memory_format=torch.channels_last)
    corners = torch.randint(-50, 160, (300, 2), generator=generator).float() + 0.4
    sides = torch.randint(1, 200, (300, 2), generator=generator).float()
    boxes = torch.cat([corners, corners + sides, torch.rand(300, 1, generator=generator)], dim=1)
    image_of = torch.randint(0, 3, (300,), generator=generator)
    monkeypatch.setattr(detect, "TABLE_COVER", float("inf"))  # every box area-resized on its own
    resized = crop_boxes(images, boxes, image_of, size)
    monkeypatch.setattr(detect, "TABLE_COVER", 0.0)  # every box from its image's table
    from_table = crop_boxes(images, boxes, image_of, size)
    assert 150 < len(resized[0]) < 300  # some boxes lie wholly outside and are dropped
    for a, b in zip(resized, from_table):
        assert torch.equal(a, b)


def test_buckets_give_the_same_outputs_as_one_batch():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.LazyLinear(2))
    batch = torch.randn(77, 3, 8, 8)
    whole = net(batch)
    sizes = []

    def two_outputs(x):
        sizes.append(len(x))
        return net(x), net(x) * 2

    parts = run_in_buckets(two_outputs, batch)
    assert all(size & (size - 1) == 0 for size in sizes)  # only powers of two reach the network
    torch.testing.assert_close(parts[0], whole, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(parts[1], whole * 2, atol=1e-5, rtol=1e-5)


def test_no_faces_and_tiny_frames():
    detector = FaceDetector(torch.device("cpu"))
    assert detector.detect(np.zeros((3, 120, 160, 3), np.uint8)) == [[], [], []]
    assert detector.detect(np.zeros((2, MTCNN_MIN_FACE - 1, 20, 3), np.uint8)) == [[], []]
