"""Give each face a ``face_id`` that stays stable across frames and short gaps in detection, whatever
the sampling rate, and never across a cut to another shot.

Each track is a constant-velocity Kalman filter (as SORT's) on its box's centre and size; every
quantity is in box sizes and seconds, so that a gate means the same at every frame as at ``--fps 5``,
where a walking face moves more than its own width between analysed frames."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from videmo.video.cuts import Shot

# The filter's noise, in box sizes (the square root of a box's area) and seconds: the detector's jitter
# of a box's centre and size (1 sd), the speed a new face may have (1 sd across the frame, a quarter
# of it in size, so that the fastest walker of the 1080p crowd, nearest the camera, is within reach),
# and the white-noise acceleration (sizes^2/s^3), which must allow a walker's speed to drift (at 1, a
# walker in the crowd who turned back left the gate between frames 0.2 s apart and got a second id at
# --fps 5; benchmarks/tracks.py, see benchmarks/results/tracks.txt).
JITTER = 0.1
START_SPEED = 4.0
ACCELERATION = 3.0
# A track seen in one frame only waits this long for its face (then max_gap_s): a false detection
# (a hand, a coat) must not lie in wait, its unknown speed letting it take a face that appears far off.
YOUNG_GAP_S = 0.3
STILL_IOU = 0.5  # a detection overlapping a track's last box this much is taken for a face that stayed
GATE = 16.3  # squared Mahalanobis distance of a detection from a track's prediction: chi-square, 3 df, 99.9%


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection over union of (A, 4) and (B, 4) boxes."""
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = (x2 - x1).clip(0) * (y2 - y1).clip(0)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def motion(dt: float) -> tuple[np.ndarray, np.ndarray]:
    """The constant-velocity transition over ``dt`` seconds of a (centre x, centre y, size, and their
    speeds) state, and its process noise for a box of size 1."""
    transition = np.eye(6)
    transition[:3, 3:] = np.eye(3) * dt
    block = np.array([[dt**3 / 3, dt**2 / 2], [dt**2 / 2, dt]]) * ACCELERATION
    return transition, np.kron(block, np.eye(3))


def measured(box: np.ndarray) -> np.ndarray:
    """What the filter sees of an x1, y1, x2, y2 box: its centre and size (square root of its area)."""
    width, height = max(box[2] - box[0], 1e-6), max(box[3] - box[1], 1e-6)
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2, np.sqrt(width * height)])


def innovation_of(state: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    """The covariance of a measurement predicted from ``state``: the state's spread plus the detector's jitter."""
    return covariance[:3, :3] + np.eye(3) * (JITTER * state[2]) ** 2


@dataclass
class Track:
    """One face's filter: its state (centre, size, their speeds, in pixels and pixels per second) and
    covariance as of ``time_s``, and when a detection last joined it."""

    face_id: int
    state: np.ndarray
    covariance: np.ndarray
    time_s: float
    last_seen_s: float
    box: np.ndarray  # its last detection
    hits: int = 1  # detections so far

    @classmethod
    def start(cls, face_id: int, box: np.ndarray, time_s: float) -> Track:
        """A face first seen at ``box``: where it is, within the detector's jitter, and any speed up to START_SPEED."""
        z = measured(box)
        sd = np.array([JITTER, JITTER, JITTER, START_SPEED, START_SPEED, START_SPEED / 4]) * z[2]
        return cls(face_id, np.concatenate([z, np.zeros(3)]), np.diag(sd**2), time_s, time_s, box)

    def predicted(self, time_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Where the track expects its face at ``time_s``: the measurement's mean and covariance."""
        transition, noise = motion(time_s - self.time_s)
        size = self.state[2]
        state = transition @ self.state
        covariance = transition @ self.covariance @ transition.T + noise * size**2
        return state, covariance

    def distances(self, time_s: float, seen: np.ndarray) -> tuple[np.ndarray, float]:
        """Squared Mahalanobis distances of measurements ``seen`` (K, 3) from the prediction at ``time_s``, and
        the log-determinant of the innovation covariance in box sizes (what makes a vague track's near
        match cost more; in sizes, not pixels, so that a small face is not preferred for being small)."""
        state, covariance = self.predicted(time_s)
        innovation = innovation_of(state, covariance)
        residual = seen - state[:3]
        spread = float(np.linalg.slogdet(innovation / max(state[2], 1e-6) ** 2)[1])
        return np.einsum("ki,ij,kj->k", residual, np.linalg.inv(innovation), residual), spread

    def correct(self, box: np.ndarray, time_s: float) -> None:
        """Take the detection ``box`` seen at ``time_s`` into the state."""
        state, covariance = self.predicted(time_s)
        z = measured(box)
        gain = covariance[:, :3] @ np.linalg.inv(innovation_of(state, covariance))
        self.state = state + gain @ (z - state[:3])
        self.covariance = (np.eye(6) - gain @ np.eye(3, 6)) @ covariance
        self.time_s = self.last_seen_s = time_s
        self.box = box
        self.hits += 1


class FaceTracker:
    """Greedy matching of detections to live tracks, nearest to each track's predicted box first.

    A detection may join a track whose prediction it lies within GATE of. Pairs where the detection
    still covers the track's last box (IoU at least STILL_IOU) go first, most overlap first: a face
    that has not moved is not taken by another track whose prediction happens to reach it. The
    others follow in order of their cost: the squared distance plus the log-determinant of the
    prediction's spread (a Gaussian's negative log-likelihood), so that a vague young track does not
    take the detection of a well-followed face.

    A track survives ``max_gap_s`` seconds without a detection (YOUNG_GAP_S if seen once), counted
    from the first analysed frame that missed it, so that a gap means the same at every frame as
    between sparse ones; its prediction spreads as it waits. Each track takes at most one detection
    per frame, so ids never collide within a frame. Given the frames, the tracker ends every track
    at a cut to another shot, so that a face in the new shot that sits where another was is not
    taken for it.
    """

    def __init__(self, max_gap_s: float = 1.0):
        self.max_gap_s = max_gap_s
        self.tracks: list[Track] = []
        self.next_id = 0
        self.last_shot: Shot | None = None
        self.last_time_s: float | None = None

    def update(self, time_s: float, boxes: np.ndarray, frame: np.ndarray | None = None) -> list[int]:
        """Ids for ``boxes`` (K, 4) seen at ``time_s``, in the boxes' order; ``frame`` (uint8 H, W, 3) finds cuts
        between the frames given, when they are consecutive (see ``observe`` for sparse ones)."""
        shot = Shot.of(frame) if frame is not None else None
        cut = shot is not None and self.last_shot is not None and shot.is_cut_from(self.last_shot)
        self.last_shot = shot if shot is not None else self.last_shot
        return self.observe(time_s, boxes, cut)

    def observe(self, time_s: float, boxes: np.ndarray, cut: bool = False) -> list[int]:
        """``update`` told whether a cut came since the last frame observed: the decoder compares every decoded
        frame with the one before it, so that a cut means the same at every sampling rate (between frames 0.2 s
        apart, motion within a shot can change a frame nearly as much as a cut does)."""
        step = time_s - self.last_time_s if self.last_time_s is not None else 0.0
        self.last_time_s = time_s
        self.tracks = [
            t for t in self.tracks if time_s - step - t.last_seen_s <= (self.max_gap_s if t.hits > 1 else YOUNG_GAP_S) + 1e-9
        ]
        if cut:
            self.tracks = []
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        ids = [-1] * len(boxes)
        if self.tracks and len(boxes):
            seen = np.stack([measured(box) for box in boxes])
            cost = np.full((len(self.tracks), len(boxes)), np.inf)
            for track_index, track in enumerate(self.tracks):
                distance, spread = track.distances(time_s, seen)
                cost[track_index] = np.where(distance <= GATE, distance + spread, np.inf)
            overlap = iou(np.stack([t.box for t in self.tracks]), boxes)
            still = np.where(np.isfinite(cost) & (overlap >= STILL_IOU), overlap, 0.0)
            matched_tracks = set()
            for flat in np.lexsort((cost.ravel(), -still.ravel())):
                track_index, box_index = np.unravel_index(flat, cost.shape)
                if not np.isfinite(cost[track_index, box_index]):
                    break
                if ids[box_index] == -1 and track_index not in matched_tracks:
                    self.tracks[track_index].correct(boxes[box_index], time_s)
                    ids[box_index] = self.tracks[track_index].face_id
                    matched_tracks.add(track_index)
        for box_index, box in enumerate(boxes):
            if ids[box_index] == -1:
                self.tracks.append(Track.start(self.next_id, box, time_s))
                ids[box_index] = self.next_id
                self.next_id += 1
        return ids
