"""Face crops: the right pixels for each face, in the order given, whatever the frames' order."""

import numpy as np
import pytest
import torch
from torchvision.ops import roi_align

from videmo.faces.classify import EmotionClassifier, square_crop_boxes
from videmo.model.checkpoint import load_checkpoint


def test_crops_follow_the_faces_order_and_match_one_roi_align(tiny_checkpoint):
    classifier = EmotionClassifier(load_checkpoint(tiny_checkpoint), torch.device("cpu"), "fp32")
    frames = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (3, 90, 120, 3), dtype=np.uint8))
    frame_of_face = np.array([2, 0, 2, 1])
    boxes = np.array([[10, 10, 50, 60], [0, 0, 30, 30], [80, 40, 119, 89], [-10, 70, 20, 100]], dtype=np.float64)
    got, _ = classifier.crops(frames, frame_of_face, boxes)
    rois = torch.cat(
        [
            torch.tensor(frame_of_face, dtype=torch.float32)[:, None],
            torch.tensor(square_crop_boxes(boxes, classifier.margin), dtype=torch.float32),
        ],
        dim=1,
    )
    whole = roi_align(frames.permute(0, 3, 1, 2).float(), rois, classifier.size, 1.0, -1, True)
    grey = (whole * classifier.luma).sum(dim=1, keepdim=True).round().clamp(0, 255) / 255  # as PIL's "L": grey, then uint8
    expected = (grey - classifier.mean) / classifier.std
    assert got.shape == (4, 1, classifier.size, classifier.size)
    assert torch.allclose(got, expected, atol=1e-6)


def test_crops_from_the_region_around_the_faces_equal_the_whole_frames(tiny_checkpoint):
    """Only the part of a frame around its faces goes to float; the crops stay those of the whole frame
    (up to float rounding of the sample positions: at most one grey level, on a few pixels)."""
    classifier = EmotionClassifier(load_checkpoint(tiny_checkpoint), torch.device("cpu"), "fp32")
    frames = torch.from_numpy(np.random.default_rng(2).integers(0, 256, (2, 720, 1280, 3), dtype=np.uint8))
    frame_of_face = np.array([0, 0, 1, 1])
    boxes = np.array(
        [[600.3, 300.7, 641.9, 352.2], [700.5, 310.25, 731.1, 349.8], [1250.6, 690.1, 1279.9, 719.7], [3.3, 2.9, 40.7, 50.1]]
    )
    got, _ = classifier.crops(frames, frame_of_face, boxes)
    rois = torch.cat(
        [
            torch.tensor(frame_of_face, dtype=torch.float32)[:, None],
            torch.tensor(square_crop_boxes(boxes, classifier.margin), dtype=torch.float32),
        ],
        dim=1,
    )
    whole = roi_align(frames.permute(0, 3, 1, 2).float(), rois, classifier.size, 1.0, -1, True)
    grey = (whole * classifier.luma).sum(dim=1, keepdim=True).round().clamp(0, 255) / 255  # as PIL's "L": grey, then uint8
    expected = (grey - classifier.mean) / classifier.std
    difference = (got - expected).abs() * classifier.std * 255
    assert difference.max() <= 1.0 + 1e-4 and (difference > 1e-4).float().mean() < 0.01


def test_probabilities_sum_to_one_and_no_face_gives_an_empty_table(tiny_checkpoint):
    classifier = EmotionClassifier(load_checkpoint(tiny_checkpoint), torch.device("cpu"), "fp32", batch_size=2)
    frames = np.random.default_rng(1).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    probabilities = classifier.classify(
        frames, np.array([0, 1, 1]), np.array([[5, 5, 40, 40], [0, 0, 64, 64], [20, 20, 30, 30]], dtype=float)
    ).probabilities
    assert probabilities.shape == (3, 7) and np.allclose(probabilities.sum(axis=1), 1)
    assert classifier.classify(frames, np.zeros(0, dtype=np.int64), np.zeros((0, 4))).probabilities.shape == (0, 7)


def test_framing_inverts_the_crop():
    """The crop derived from boxes found in square face images turns those boxes back into the images."""
    from videmo.faces.classify import framing, square_crop_boxes

    # Face boxes as a detector finds them in 48 px face images: taller than wide, a little low.
    boxes = np.array([[5.0, 2.0, 43.0, 52.0], [4.0, 0.0, 44.0, 50.0], [6.0, 1.0, 42.0, 51.0]])
    margin, shift = framing(boxes, 48)
    assert margin == pytest.approx(48 / 50 - 1) and shift == pytest.approx((24 - 26) / 50)
    crops = square_crop_boxes(boxes, margin, shift)
    assert np.allclose(crops[2], [0, 0, 48, 48]) and np.allclose(crops[:, 2] - crops[:, 0], 48)


def test_checkpoint_crop_and_equalisation_reach_the_crops(tmp_path):
    from videmo.faces.classify import EmotionClassifier
    from videmo.model.awei import Awei
    from videmo.model.checkpoint import load_checkpoint, model_meta, save_checkpoint

    model = Awei("cnn", 1, 32)
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, model_meta(model, [0.0], [1.0], crop={"margin": -0.1, "shift": 0.05}, equalize=True))
    classifier = EmotionClassifier(load_checkpoint(path), torch.device("cpu"), "fp32")
    assert (classifier.margin, classifier.shift, classifier.equalize) == (-0.1, 0.05, True)
    frame = np.zeros((1, 100, 100, 3), dtype=np.uint8)
    frame[0, 20:80, 20:80] = np.linspace(100, 140, 60, dtype=np.uint8)[None, :, None]  # a flat, dim face
    crop, _ = classifier.crops(torch.from_numpy(frame), np.array([0]), np.array([[30.0, 30.0, 70.0, 70.0]]))
    assert crop.min() == 0 and crop.max() == pytest.approx(1.0)  # equalised: the full grey range
    assert EmotionClassifier(load_checkpoint(path), torch.device("cpu"), "fp32", margin=0.3).margin == 0.3


def test_the_mirror_image_is_averaged_in_where_the_top_two_emotions_are_close():
    """With ``mirror`` a face whose top emotion leads by less than MIRROR_MARGIN gets the mean of its and its mirror
    image's logits, so that it and its mirror image are labelled alike; a face that leads by more keeps its own
    (the mean could not overturn it), and ``mirror`` False keeps every face's own."""
    from videmo.model.inference import MIRROR_MARGIN, logits_of

    def model(batch):  # logit 0 reads the left column, logit 1 the right one: a mirror image swaps them
        return torch.nn.functional.pad(torch.stack([batch[:, 0, :, 0].mean(1), batch[:, 0, :, -1].mean(1)], dim=1), (0, 5))

    faces = torch.zeros(2, 1, 8, 8)
    faces[0, :, :, 0], faces[1, :, :, 0] = 9.0, 0.3  # leads by nearly 1, and by about 0.04
    lead = torch.softmax(model(faces), 1).topk(2, 1).values
    assert lead[0, 0] - lead[0, 1] > MIRROR_MARGIN > lead[1, 0] - lead[1, 1]
    with torch.inference_mode():
        mirrored = logits_of(model, faces, torch.contiguous_format, True)
        assert torch.equal(mirrored[0], model(faces)[0])
        assert torch.allclose(mirrored[1], (model(faces[1:]) + model(faces[1:].flip(-1)))[0] / 2)
        assert torch.allclose(mirrored[1], logits_of(model, faces[1:].flip(-1), torch.contiguous_format, True)[0])
        assert torch.equal(logits_of(model, faces, torch.contiguous_format, False), model(faces))


def test_mirror_off_labels_each_face_as_it_is(tiny_checkpoint):
    """``mirror`` False: the model's own probabilities for each face, which differ for its mirror image."""
    frames = np.random.default_rng(4).integers(0, 256, (1, 80, 100, 3), dtype=np.uint8)
    mirrored = frames[:, :, ::-1].copy()
    box = np.array([[21.0, 12.0, 61.0, 60.0]])
    mirrored_box = np.array([[100 - 61.0, 12.0, 100 - 21.0, 60.0]])
    faces = np.array([0])
    off = EmotionClassifier(load_checkpoint(tiny_checkpoint), torch.device("cpu"), "fp32", mirror=False)
    assert EmotionClassifier(load_checkpoint(tiny_checkpoint), torch.device("cpu"), "fp32").mirror and not off.mirror
    crop, _ = off.crops(torch.from_numpy(frames), faces, box)
    with torch.inference_mode():
        own = off.model(crop)
    assert np.allclose(off.classify(frames, faces, box).probabilities, torch.softmax(own, 1).numpy(), atol=1e-5)
    assert not np.allclose(
        off.classify(frames, faces, box).probabilities, off.classify(mirrored, faces, mirrored_box).probabilities, atol=1e-3
    )


def smooth_picture(height: int, width: int) -> np.ndarray:
    """A frame of smooth, lopsided shapes (a few pixels' blur, no straight edges along an axis), so that a
    turned crop can be compared pixel by pixel with an upright one."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    picture = (
        128 + 60 * np.sin(x / 9.0) * np.cos(y / 13.0) + 50 * np.exp(-((x - 0.45 * width) ** 2 + (y - 0.4 * height) ** 2) / 300)
    )
    return np.repeat(np.clip(picture, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def turned(frame: np.ndarray, degrees: float, centre: tuple[float, float]) -> np.ndarray:
    """``frame`` turned clockwise (as the image shows it) by ``degrees`` about ``centre``."""
    from PIL import Image

    return np.array(Image.fromarray(frame).rotate(-degrees, resample=Image.BICUBIC, center=centre))


def points_at(centre: tuple[float, float], degrees: float) -> np.ndarray:
    """Five points of a face at ``centre`` whose eye line is turned clockwise by ``degrees``."""
    a = np.radians(degrees)
    level = np.array([[-12, -10], [12, -10], [0, 2], [-9, 12], [9, 12]], dtype=np.float64)
    turn = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return (level @ turn.T + centre)[None]


@pytest.mark.parametrize("degrees", [20.0, -35.0])
def test_an_aligned_crop_of_a_tilted_face_is_the_upright_faces_crop(tiny_checkpoint, degrees):
    """A face tilted by its eye line, cropped with ``align``, gives the crop of the same face upright: the
    crop turns the right way, about the right point."""
    checkpoint = load_checkpoint(tiny_checkpoint)
    aligned = EmotionClassifier(checkpoint, torch.device("cpu"), "fp32", align=True)
    plain = EmotionClassifier(checkpoint, torch.device("cpu"), "fp32", align=False)
    upright = smooth_picture(200, 240)
    centre = (120.0, 100.0)
    box = np.array([[90.0, 70.0, 150.0, 130.0]])
    tilted = turned(upright, degrees, centre)
    want, _ = plain.crops(torch.from_numpy(upright[None]), np.zeros(1, dtype=np.int64), box)
    got, _ = aligned.crops(torch.from_numpy(tilted[None]), np.zeros(1, dtype=np.int64), box, points_at(centre, degrees))
    unturned, _ = plain.crops(torch.from_numpy(tilted[None]), np.zeros(1, dtype=np.int64), box)
    error = (got - want).abs().mean().item()
    assert error < 0.25 * (unturned - want).abs().mean().item()
    assert error * plain.std.item() * 255 < 4  # grey levels, from resampling twice


def test_align_without_points_or_with_level_eyes_keeps_the_crop(tiny_checkpoint):
    checkpoint = load_checkpoint(tiny_checkpoint)
    aligned = EmotionClassifier(checkpoint, torch.device("cpu"), "fp32", align=True)
    plain = EmotionClassifier(checkpoint, torch.device("cpu"), "fp32", align=False)
    frame = torch.from_numpy(smooth_picture(200, 240)[None])
    box, faces = np.array([[90.0, 70.0, 150.0, 130.0]]), np.zeros(1, dtype=np.int64)
    want, _ = plain.crops(frame, faces, box)
    for points in (None, points_at((120.0, 100.0), 0.0), np.full((1, 5, 2), np.nan)):
        got, _ = aligned.crops(frame, faces, box, points)
        assert (got - want).abs().mean().item() * plain.std.item() * 255 < 2


def test_the_checkpoint_says_whether_its_faces_are_aligned_and_analyze_can_override(tiny_checkpoint, tmp_path):
    from videmo.model.checkpoint import save_with_meta

    checkpoint = load_checkpoint(tiny_checkpoint)
    assert EmotionClassifier(checkpoint, torch.device("cpu"), "fp32").align is False  # made before the crop stored it
    aligned_path = tmp_path / "aligned.pt"
    save_with_meta(tiny_checkpoint, aligned_path, {"crop": {"margin": -0.04, "shift": -0.01, "align": True}})
    reloaded = load_checkpoint(aligned_path)
    assert EmotionClassifier(reloaded, torch.device("cpu"), "fp32").align is True
    assert EmotionClassifier(reloaded, torch.device("cpu"), "fp32", align=False).align is False
