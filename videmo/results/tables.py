"""Turn per-face detections and probabilities into the per-frame table, timelines and track summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd

from videmo.core.emotions import CLASSES

BOX_COLUMNS = ["x1", "y1", "x2", "y2"]
FRAME_COLUMNS = ["frame", "time_s", "decoded", "face_id", *BOX_COLUMNS, "det_score", *CLASSES, "emotion"]
TIMELINE_COLUMNS = ["face_id", "t_start", "t_end", "n_frames", *CLASSES, "emotion"]
FRAME_DTYPES = {
    "frame": "int64", "time_s": "float64", "decoded": "bool", "face_id": "Int64", **{c: "float64" for c in BOX_COLUMNS},
    "det_score": "float64", **{c: "float64" for c in CLASSES}, "emotion": "string",
}


def frames_table(frames: list[int], times: list[float], face_ids: list[int | None], boxes: np.ndarray,
                 scores: np.ndarray, probabilities: np.ndarray, decoded: list[bool] | None = None) -> pd.DataFrame:
    """One row per analysed frame and face; a frame without faces, or one whose data
    did not decode (``decoded`` False), has one row with empty face fields (``face_id`` None, NaN elsewhere)."""
    table = pd.DataFrame({"frame": np.asarray(frames, dtype=np.int64), "time_s": np.asarray(times, dtype=np.float64),
                          "decoded": np.asarray(decoded if decoded is not None else [True] * len(frames), dtype=bool)})
    table["face_id"] = pd.array(face_ids, dtype="Int64")
    table[BOX_COLUMNS] = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    table["det_score"] = np.asarray(scores, dtype=np.float64)
    table[list(CLASSES)] = np.asarray(probabilities, dtype=np.float64).reshape(-1, len(CLASSES))
    has_face = table["face_id"].notna().to_numpy()
    labels = np.array(CLASSES, dtype=object)[np.nan_to_num(table[list(CLASSES)].to_numpy(), nan=-1).argmax(axis=1)]
    table["emotion"] = pd.array(np.where(has_face, labels, None), dtype="string")
    return table.astype(FRAME_DTYPES)[FRAME_COLUMNS]


def tracked(frames: pd.DataFrame) -> pd.DataFrame:
    """The rows with a face, but those of tracks too short to count (``short_track``, where the table has it)."""
    faces = frames["face_id"].notna()
    return frames[faces & ~frames["short_track"].fillna(False).astype(bool)] if "short_track" in frames else frames[faces]


def timeline(frames: pd.DataFrame, bin_s: float, end_s: float) -> pd.DataFrame:
    """Mean probabilities per face and time bin [k*bin, (k+1)*bin), the last bin ending at ``end_s``
    (short tracks left out)."""
    faces = tracked(frames)
    if faces.empty:
        return pd.DataFrame({c: pd.Series(dtype=FRAME_DTYPES.get(c, "float64")) for c in TIMELINE_COLUMNS}).astype(
            {"face_id": "Int64", "n_frames": "int64", "emotion": "string"})
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


def track_summaries(frames: pd.DataFrame) -> list[dict]:
    """Per track: when it was seen, how often, its dominant emotion and each emotion's share of its frames.

    ``frames`` needs ``emotion_smoothed`` (``episodes.add_episodes``): a face's ``dominant_emotion``
    is its most common smoothed label, the label its episodes carry, so headline and episodes agree;
    ``emotion_share`` holds the shares of the smoothed labels, ``emotion_share_raw`` those of the
    single-frame labels (``emotion``), which flicker wherever two emotions are close. Short tracks
    (``short_track``) have none."""
    faces = tracked(frames)
    summaries = []
    for face_id, rows in faces.groupby("face_id", sort=True):
        share = shares(rows["emotion_smoothed"])
        summaries.append({
            "face_id": int(face_id),
            "first_s": round(float(rows["time_s"].min()), 3),
            "last_s": round(float(rows["time_s"].max()), 3),
            "n_frames": int(len(rows)),
            "dominant_emotion": most_common(share),
            "emotion_share": share,
            "emotion_share_raw": shares(rows["emotion"]),
            "mean_probability": {c: round(float(rows[c].mean()), 4) for c in CLASSES},
        })
    return summaries
