"""videmo's MTCNN driver, with its own faster paths, finds what facenet-pytorch's own finds."""

import decord
import numpy as np
import pytest
import torch
from media import EXAMPLE
from torchvision.ops import box_iou

from videmo.faces import detect
from videmo.faces.areas import summed_area_tables, table_level, table_parts
from videmo.faces.detect import FaceDetector
from videmo.faces.mtcnn import (
    MTCNN_MIN_FACE,
    PNET_FAST_PIXELS,
    cell_boxes,
    crop_boxes,
    level_parts,
    max_pool_2x2,
    pnet_forward,
    prelu_,
    run_in_buckets,
)


@pytest.fixture(scope="module")
def example_frames() -> np.ndarray:
    reader = decord.VideoReader(str(EXAMPLE))
    return reader.get_batch(list(range(0, len(reader), 6))[:32]).asnumpy()  # 32 frames over the whole clip


def facenet_boxes(frames: np.ndarray, min_face: int) -> list[np.ndarray]:
    """facenet-pytorch's MTCNN.detect on the same float frames: (K, 15) boxes, scores and the five points
    (x1..x5, y1..y5) per frame."""
    from facenet_pytorch import MTCNN

    mtcnn = MTCNN(keep_all=True, device="cpu", min_face_size=min_face).eval()
    boxes, probs, points = mtcnn.detect(torch.as_tensor(frames).float(), landmarks=True)
    return [
        np.zeros((0, 15)) if b is None else np.column_stack([b, p, q[:, :, 0], q[:, :, 1]])
        for b, p, q in zip(boxes, probs, points)
    ]


@pytest.mark.parametrize("min_face", [40, 20])  # at 20 P-Net sees the first pyramid level in groups of 3 frames
def test_same_boxes_scores_and_points_as_facenet_pytorch(example_frames, min_face):
    detector = FaceDetector(torch.device("cpu"), detect_width=None, min_face=min_face, threshold=0.0)
    images = torch.as_tensor(example_frames).permute(0, 3, 1, 2).float().contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        ours = detector.find_boxes(images, summed_area_tables(example_frames), min_face)
    theirs = facenet_boxes(example_frames, min_face)
    assert sum(len(b) for b in theirs) > 20  # the clip has faces in most of these frames
    for mine, reference in zip(ours, theirs):
        order_mine, order_ref = np.argsort(-mine[:, 4]), np.argsort(-reference[:, 4])
        np.testing.assert_allclose(mine[order_mine], reference[order_ref], atol=1e-3)


def test_the_gpu_crop_path_finds_the_same_faces(example_frames):
    """On a GPU the pyramid is area-interpolated and the candidate boxes cropped by one roi_align call;
    the same code runs here."""
    detector = FaceDetector(torch.device("cpu"))
    loop = detector.detect(example_frames)
    detector.use_tables = False
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
def test_crops_from_the_summed_area_tables_are_the_area_resizes(size):
    """Boxes are cropped from their frame's summed-area table: the same floats as area resizing each box,
    for boxes of every size, partly outside the frame or past it."""
    generator = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 256, (3, 90, 160, 3), generator=generator, dtype=torch.uint8)
    images = frames.permute(0, 3, 1, 2).float().contiguous(memory_format=torch.channels_last)
    corners = torch.randint(-50, 160, (300, 2), generator=generator).float() + 0.4
    sides = torch.randint(1, 200, (300, 2), generator=generator).float()
    boxes = torch.cat([corners, corners + sides, torch.rand(300, 1, generator=generator)], dim=1)
    image_of = torch.randint(0, 3, (300,), generator=generator)
    crops, kept, kept_image_of = crop_boxes(images, summed_area_tables(frames.numpy()), boxes, image_of, size)
    assert 150 < len(crops) < 300  # some boxes lie wholly outside and are dropped
    for crop, box, i in zip(crops, kept, kept_image_of):
        left, top = max(int(box[0]), 1) - 1, max(int(box[1]), 1) - 1
        right, bottom = min(int(box[2]), 160), min(int(box[3]), 90)
        assert torch.equal(crop, torch.nn.functional.adaptive_avg_pool2d(images[i, :, top:bottom, left:right], size))


@pytest.mark.parametrize("shape", [(90, 160), (361, 641), (37, 13)])
def test_pyramid_levels_from_the_tables_are_the_area_interpolation(shape):
    generator = torch.Generator().manual_seed(1)
    frames = torch.randint(0, 256, (2, *shape, 3), generator=generator, dtype=torch.uint8)
    images = frames.permute(0, 3, 1, 2).float()
    tables = summed_area_tables(frames.numpy())
    for scale in (0.92, 0.709, 0.3, 0.1):
        size = (int(shape[0] * scale + 1), int(shape[1] * scale + 1))
        level = torch.nn.functional.interpolate(images, size=size, mode="area")
        assert torch.equal(table_level(tables, shape, size), level)
        h, w = max(1, size[0] // 2), max(1, size[1] // 3)
        top, left = min(1, size[0] - h), min(2, size[1] - w)
        parts = torch.tensor(
            [[0, 0, h, 0, w], [1, size[0] - h, size[0], size[1] - w, size[1]], [1, top, top + h, left, left + w]]
        )
        for part, pixels in zip(parts.tolist(), table_parts(tables, parts, shape, size)):
            i, top, bottom, left, right = part
            assert torch.equal(pixels, level[i, :, top:bottom, left:right])


def test_p_net_on_parts_of_a_level_gives_the_whole_levels_cells(example_frames):
    """Between keyframes P-Net sees only the parts of each level around the faces; its candidates there
    are the whole level's own (same boxes; scores and offsets to rounding), so a face that stays put keeps its box."""
    from facenet_pytorch.models.utils.detect_face import generateBoundingBox

    detector = FaceDetector(torch.device("cpu"))
    frames = example_frames[:2]
    shape, tables = frames.shape[1:3], summed_area_tables(frames)
    windows = [
        torch.tensor([[250.0, 40.0, 420.0, 230.0, 100.0], [0.0, 300.0, 60.0, 360.0, 60.0]]),
        torch.tensor([[500.0, 0.0, 640.0, 90.0, 50.0]]),
    ]
    found = 0
    with torch.inference_mode():
        for scale in (0.3, 0.3 * 0.709, 0.3 * 0.709**3):
            size = (int(shape[0] * scale + 1), int(shape[1] * scale + 1))
            offsets, probs = detector.pnet(detect.normalise(table_level(tables, shape, size)))
            parts = level_parts(windows, shape, size, scale)
            assert len(parts) and (parts[:, [1, 3]] % 2 == 0).all()  # even starts: P-Net pairs rows as on the whole level
            assert len(set((parts[:, 2] - parts[:, 1]).tolist())) == 1 and len(set((parts[:, 4] - parts[:, 3]).tolist())) == 1
            part_offsets, part_probs = detector.pnet(detect.normalise(table_parts(tables, parts, shape, size)))
            h, w = part_probs.shape[2:]
            for (i, top, _, left, _), o, p in zip(parts.tolist(), part_offsets, part_probs):
                cells = (i, slice(None), slice(top // 2, top // 2 + h), slice(left // 2, left // 2 + w))
                # to fp32 rounding: oneDNN sums a smaller image's convolutions in another order
                torch.testing.assert_close(p, probs[cells], rtol=0, atol=1e-5)
                torch.testing.assert_close(o, offsets[cells], rtol=0, atol=1e-5)
            everywhere, image_of = generateBoundingBox(offsets, probs[:, 1], scale, 0.6)
            mine, part_of = cell_boxes(part_offsets, part_probs[:, 1], scale, parts[:, [1, 3]] // 2)
            for box, i in zip(mine, parts[part_of, 0]):  # each candidate is the whole level's, at the same place
                assert ((everywhere[:, :4] == box[:4]).all(dim=1) & (image_of == i)).any()
            found += len(mine)
    assert found  # the faces' windows have candidates


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


@pytest.mark.parametrize(
    "shape", [(1, 3, 333, 591), (2, 3, 128, 129), (3, 3, 13, 12)]
)  # odd and even sides; the last below the fast path
def test_p_nets_own_prelu_and_pool_give_its_floats(shape):
    from facenet_pytorch.models.mtcnn import PNet

    net = PNet().eval().to(memory_format=torch.channels_last)
    torch.manual_seed(0)
    x = (torch.rand(shape) * 2 - 1).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        for theirs, ours in zip(net(x), pnet_forward(net, x)):
            assert torch.equal(theirs, ours)
    assert shape[0] * shape[2] * shape[3] >= PNET_FAST_PIXELS or shape[2] < 20
    for channels, rows in ((10, 8), (16, 4), (32, 1)):
        y = torch.randn(2, channels, 7, 9).contiguous(memory_format=torch.channels_last)  # 126 pixels: a partial last row
        weight = torch.randn(channels)
        expected = torch.nn.functional.prelu(y, weight)
        assert torch.equal(prelu_(y.clone(), weight, rows), expected)
        assert torch.equal(max_pool_2x2(y), torch.nn.functional.max_pool2d(y, 2, 2, ceil_mode=True))


def test_summed_area_tables_are_the_running_sums():
    frames = np.random.default_rng(0).integers(0, 256, (2, 5, 7, 3), dtype=np.uint8)
    expected = np.zeros((2, 6, 8, 3), np.int64)
    expected[:, 1:, 1:] = frames.astype(np.int64).cumsum(axis=1).cumsum(axis=2)
    tables = summed_area_tables(frames)
    assert tables.dtype == torch.int32 and np.array_equal(tables.numpy(), expected)


def test_no_faces_and_tiny_frames():
    detector = FaceDetector(torch.device("cpu"))
    assert detector.detect(np.zeros((3, 120, 160, 3), np.uint8)) == [[], [], []]
    assert detector.detect(np.zeros((2, MTCNN_MIN_FACE - 1, 20, 3), np.uint8)) == [[], []]
