"""How a face was seen, from its five points: head pose (yaw, pitch, roll) in degrees.

Roll is the eye line's angle. Yaw and pitch come from fitting the five points to a mean 3-D face by a
scaled orthographic projection: approximate (a mean face, five points, no camera model), good for
telling a frontal face from a turned one, not for measuring a turn to the degree.

Signs, as the image shows the face: yaw > 0 when the face turns towards the image's right (its nose
moves right of its eyes' middle), pitch > 0 when it tilts up, roll > 0 when it tilts clockwise (the
eye on the image's right lower). A mirrored image flips the signs of yaw and roll.
"""

from __future__ import annotations

import numpy as np

# A mean face's five points in millimetres, in the order O-Net gives them (eye and mouth corner on the
# image's left, nose tip, then ...): x to the image's right, y up, z towards the camera, nose tip at 0.
MEAN_FACE = np.array(
    [
        [-32.0, 33.0, -26.0],  # eye, image left
        [32.0, 33.0, -26.0],  # eye, image right
        [0.0, 0.0, 0.0],  # nose tip
        [-24.0, -30.0, -22.0],  # mouth corner, image left
        [24.0, -30.0, -22.0],  # mouth corner, image right
    ]
)
POINT_ORDER = (0, 1, 2, 3, 4)  # O-Net's: left eye, right eye, nose, left mouth corner, right mouth corner


def head_pose(points: np.ndarray) -> np.ndarray:
    """(K, 3) yaw, pitch, roll in degrees for (K, 5, 2) points (x, y in image pixels, y down); NaN where
    a face has no points."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 5, 2)
    out = np.full((len(points), 3), np.nan)
    model = MEAN_FACE - MEAN_FACE.mean(axis=0)
    pseudo_inverse = np.linalg.pinv(model)  # (3, 5): least squares of image = model @ M
    for k, face in enumerate(points):
        if not np.isfinite(face).all():
            continue
        image = face - face.mean(axis=0)
        image[:, 1] = -image[:, 1]  # y up, as the model's
        m = pseudo_inverse @ image  # (3, 2): the projection's two rows, as columns
        first, second = m[:, 0], m[:, 1]
        scale = (np.linalg.norm(first) + np.linalg.norm(second)) / 2
        if scale <= 0:
            continue
        first = first / np.linalg.norm(first)
        second = second - first * (first @ second)
        second = second / np.linalg.norm(second)
        third = np.cross(first, second)  # the face's axis towards the camera, in the model's frame
        # The rotation's rows: the image's x and y axes and the view direction, in the face's frame.
        yaw = np.degrees(np.arctan2(-third[0], third[2]))
        pitch = np.degrees(np.arctan2(third[1], np.hypot(third[0], third[2])))
        eyes = face[1] - face[0]
        roll = np.degrees(np.arctan2(eyes[1], eyes[0]))
        out[k] = yaw, pitch, roll
    return out
