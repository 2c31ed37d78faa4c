"""Turn per-face detections and probabilities into the per-frame table, timelines and track summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd

from videmo.core.emotions import CLASSES

BOX_COLUMNS = ["x1", "y1", "x2", "y2"]
# O-Net's five points, "left" and "right" as the image shows them, in displayed pixels like the box.
LANDMARK_COLUMNS = [
    f"{point}_{axis}" for point in ("eye_left", "eye_right", "nose", "mouth_left", "mouth_right") for axis in "xy"
]
# How each face was seen: the label's confidence, the face's size, head pose (faces.pose), the crop's sharpness
# and brightness, and the five points.
SEEN_COLUMNS = ["confidence", "face_px", "yaw", "pitch", "roll", "sharpness", "brightness", *LANDMARK_COLUMNS]
FRAME_COLUMNS = ["frame", "time_s", "decoded", "face_id", *BOX_COLUMNS, "det_score", *CLASSES, "emotion", *SEEN_COLUMNS]
TIMELINE_COLUMNS = ["face_id", "t_start", "t_end", "n_frames", *CLASSES, "emotion"]
FRAME_DTYPES = {
    "frame": "int64",
    "time_s": "float64",
    "decoded": "bool",
    "face_id": "Int64",
    **{c: "float64" for c in BOX_COLUMNS},
    "det_score": "float64",
    **{c: "float64" for c in CLASSES},
    "emotion": "string",
    **{c: "float64" for c in SEEN_COLUMNS},
}


def frames_table(
    frames: list[int],
    times: list[float],
    face_ids: list[int | None],
    boxes: np.ndarray,
    scores: np.ndarray,
    probabilities: np.ndarray,
    decoded: list[bool] | None = None,
    seen: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per analysed frame and face; a frame without faces, or one whose data
    did not decode (``decoded`` False), has one row with empty face fields (``face_id`` None, NaN elsewhere).
    ``seen``: (K, len(SEEN_COLUMNS)) how each face was seen (NaN where not measured)."""
    table = pd.DataFrame(
        {
            "frame": np.asarray(frames, dtype=np.int64),
            "time_s": np.asarray(times, dtype=np.float64),
            "decoded": np.asarray(decoded if decoded is not None else [True] * len(frames), dtype=bool),
        }
    )
    table["face_id"] = pd.array(face_ids, dtype="Int64")
    table[BOX_COLUMNS] = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    table["det_score"] = np.asarray(scores, dtype=np.float64)
    table[list(CLASSES)] = np.asarray(probabilities, dtype=np.float64).reshape(-1, len(CLASSES))
    has_face = table["face_id"].notna().to_numpy()
    labels = np.array(CLASSES, dtype=object)[np.nan_to_num(table[list(CLASSES)].to_numpy(), nan=-1).argmax(axis=1)]
    table["emotion"] = pd.array(np.where(has_face, labels, None), dtype="string")
    seen = np.full((len(table), len(SEEN_COLUMNS)), np.nan) if seen is None else np.asarray(seen, dtype=np.float64)
    table[SEEN_COLUMNS] = seen.reshape(-1, len(SEEN_COLUMNS)).round(4)
    return table.astype(FRAME_DTYPES)[FRAME_COLUMNS]


def tracked(frames: pd.DataFrame) -> pd.DataFrame:
    """The rows with a face, but those of tracks too short to count (``short_track``) and unreadable
    face-frames (``unreadable``), where the table has these columns."""
    keep = frames["face_id"].notna()
    for flag in ("short_track", "unreadable"):
        if flag in frames:
            keep &= ~frames[flag].fillna(False).astype(bool)
    return frames[keep]


def timeline(frames: pd.DataFrame, bin_s: float, end_s: float) -> pd.DataFrame:
    """Mean probabilities per face and time bin [k*bin, (k+1)*bin), the last bin ending at ``end_s``
    (short tracks left out)."""
    faces = tracked(frames)
    if faces.empty:
        return pd.DataFrame({c: pd.Series(dtype=FRAME_DTYPES.get(c, "float64")) for c in TIMELINE_COLUMNS}).astype(
            {"face_id": "Int64", "n_frames": "int64", "emotion": "string"}
        )
    # rounded first: a frame on a bin's edge opens that bin (0.3 / 0.1 is 2.9999999999999996, not 3)
    bins = np.floor(np.round(faces["time_s"].to_numpy() / bin_s, 9)).astype(np.int64)
    grouped = faces.assign(bin=bins).groupby(["face_id", "bin"], sort=True)
    means = grouped[list(CLASSES)].mean()
    table = means.reset_index()
    table["n_frames"] = grouped.size().to_numpy()
    table["t_start"] = table["bin"] * bin_s
    table["t_end"] = np.minimum((table["bin"] + 1) * bin_s, max(end_s, table["t_start"].max()))
    table["emotion"] = pd.array(np.array(CLASSES)[means.to_numpy().argmax(axis=1)], dtype="string")
    return table.astype({"face_id": "Int64", "n_frames": "int64"})[TIMELINE_COLUMNS]


def shares(labels: pd.Series) -> dict[str, float]:
    """Each emotion's share of these labels, rounded to 4 places (every emotion present, 0 where absent)."""
    counts = labels.value_counts(normalize=True)
    return {c: round(float(counts.get(c, 0.0)), 4) for c in CLASSES}


def most_common(share: dict[str, float]) -> str:
    """The emotion with the largest share (ties go to the first in CLASSES)."""
    return max(CLASSES, key=lambda c: (share[c], -CLASSES.index(c)))


def ranked(share: dict[str, float]) -> tuple[str, float, str | None, float]:
    """A face's headline from its shares: the dominant emotion and its share, and the runner-up (the one
    emotion with the next largest share) and its share, so that a close call shows. Ties for first go
    to the first in CLASSES, the other tied emotion then being the runner-up; a face of one emotion, or
    one whose second place is shared by several emotions, has no runner-up (None, share 0)."""
    dominant = most_common(share)
    rest = [c for c in CLASSES if c != dominant and share[c] > 0]
    second = max((share[c] for c in rest), default=0.0)
    tied = [c for c in rest if share[c] == second]
    runner_up = tied[0] if len(tied) == 1 else None
    return dominant, share[dominant], runner_up, share[runner_up] if runner_up else 0.0


def track_summaries(frames: pd.DataFrame) -> list[dict]:
    """Per track: when it was seen, how often, its dominant emotion and each emotion's share of its frames.

    ``frames`` needs ``emotion_smoothed`` (``episodes.add_episodes``): a face's ``dominant_emotion``
    is its most common smoothed label, the label its episodes carry, so headline and episodes agree;
    ``emotion_share`` holds the shares of the smoothed labels, ``emotion_share_raw`` those of the
    single-frame labels (``emotion``), which flicker wherever two emotions are close;
    ``dominant_share``, ``runner_up`` and ``runner_up_share`` say how close the call was (``ranked``).
    Short tracks (``short_track``) have none."""
    faces = tracked(frames)
    flagged = frames[frames["unreadable"].fillna(False).astype(bool)] if "unreadable" in frames else frames.iloc[:0]
    unreadable = flagged.groupby("face_id").size().to_dict()
    summaries = []
    for face_id, rows in faces.groupby("face_id", sort=True):
        share = shares(rows["emotion_smoothed"])
        dominant, dominant_share, runner_up, runner_up_share = ranked(share)
        summaries.append(
            {
                "face_id": int(face_id),
                "first_s": round(float(rows["time_s"].min()), 3),
                "last_s": round(float(rows["time_s"].max()), 3),
                "n_frames": int(len(rows)),
                "dominant_emotion": dominant,
                "dominant_share": dominant_share,
                "runner_up": runner_up,
                "runner_up_share": runner_up_share,
                "emotion_share": share,
                "emotion_share_raw": shares(rows["emotion"]),
                "mean_probability": {c: round(float(rows[c].mean()), 4) for c in CLASSES},
                "seen": seen_summary(rows, int(unreadable.get(face_id, 0))),
            }
        )
    return summaries


def seen_summary(rows: pd.DataFrame, unreadable: int) -> dict:
    """How a face was seen over its readable frames (medians; its mean confidence), and how many of
    its frames were unreadable; None for what an older frames.csv did not measure."""
    median = lambda column: round(float(rows[column].median()), 2) if column in rows and rows[column].notna().any() else None  # noqa: E731
    confidence = round(float(rows["confidence"].mean()), 4) if "confidence" in rows and rows["confidence"].notna().any() else None
    return {
        "yaw": median("yaw"),
        "pitch": median("pitch"),
        "roll": median("roll"),
        "face_px": median("face_px"),
        "sharpness": median("sharpness"),
        "brightness": median("brightness"),
        "mean_confidence": confidence,
        "unreadable_frames": unreadable,
    }
