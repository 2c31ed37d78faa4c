"""Episodes from synthetic probability sequences: boundaries land where they must, within one analysed frame."""

import numpy as np
import pandas as pd
import pytest

from videmo.core.emotions import CLASSES
from videmo.results.episodes import add_episodes
from videmo.results.tables import frames_table, timeline, track_summaries

HAPPY, SAD, NEUTRAL = CLASSES.index("happiness"), CLASSES.index("sadness"), CLASSES.index("neutral")


def one_face(
    labels: list[int], fps: float = 10, every: int = 1, strength: float = 0.8, missing: range = range(0)
) -> pd.DataFrame:
    """A one-face frames table: frame k shows labels[k] with probability ``strength``; ``missing`` frames have no face."""
    kept = [k for k in range(0, len(labels), every)]
    probabilities, face_ids = [], []
    for k in kept:
        p = np.full(len(CLASSES), (1 - strength) / (len(CLASSES) - 1))
        p[labels[k]] = strength
        probabilities.append(p if k not in missing else np.full(len(CLASSES), np.nan))
        face_ids.append(0 if k not in missing else None)
    n = len(kept)
    boxes = np.where(np.array(face_ids, dtype=object)[:, None] == None, np.nan, 10.0) * np.ones((n, 4))  # noqa: E711
    return frames_table(kept, [k / fps for k in kept], face_ids, boxes, np.ones(n), np.array(probabilities))


@pytest.mark.parametrize("every", [1, 5])
def test_a_step_from_one_emotion_to_another(every):
    frames, episodes = add_episodes(one_face([HAPPY] * 40 + [SAD] * 40, every=every))
    assert list(episodes["emotion"]) == ["happiness", "sadness"]
    step = every / 10
    assert abs(episodes["t_end"].iloc[0] - 4.0) <= step and abs(episodes["t_start"].iloc[1] - 4.0) <= step
    assert episodes["t_start"].iloc[0] == 0 and episodes["t_end"].iloc[1] == pytest.approx(8.0)
    assert episodes["n_frames"].sum() == len(frames)
    assert episodes["mean_probability"].iloc[0] == pytest.approx(0.8) and episodes["duration_s"].sum() == pytest.approx(8.0)
    assert (frames["emotion_smoothed"] == np.where(frames["time_s"] < episodes["t_start"].iloc[1], "happiness", "sadness")).all()


def test_a_one_frame_blip_is_not_an_episode():
    labels = [HAPPY] * 20 + [SAD] + [HAPPY] * 20
    frames, episodes = add_episodes(one_face(labels, strength=0.95))
    assert list(episodes["emotion"]) == ["happiness"] and episodes["n_frames"].iloc[0] == 41
    assert frames["emotion"].iloc[20] == "sadness" and frames["emotion_smoothed"].iloc[20] == "happiness"  # raw label kept


def test_alternating_close_probabilities_do_not_flicker():
    frames = one_face([HAPPY] * 60)
    probabilities = np.full((60, len(CLASSES)), 0.02)
    probabilities[0::2, HAPPY], probabilities[0::2, NEUTRAL] = 0.50, 0.40  # happiness ahead on even frames,
    probabilities[1::2, HAPPY], probabilities[1::2, NEUTRAL] = 0.42, 0.46  # neutral on odd ones; happiness on average
    frames[list(CLASSES)] = probabilities
    frames["emotion"] = pd.array(np.array(CLASSES)[probabilities.argmax(axis=1)], dtype="string")
    assert frames["emotion"].nunique() == 2  # the raw labels flicker
    _, episodes = add_episodes(frames)
    assert list(episodes["emotion"]) == ["happiness"] and episodes["n_frames"].iloc[0] == 60


def test_a_gap_in_the_track_ends_the_episode():
    frames, episodes = add_episodes(one_face([HAPPY] * 60, missing=range(20, 40)))
    assert list(episodes["emotion"]) == ["happiness", "happiness"]
    assert episodes["t_end"].iloc[0] == pytest.approx(2.0) and episodes["t_start"].iloc[1] == pytest.approx(4.0)
    assert frames["emotion_smoothed"].iloc[20:40].isna().all()


def test_a_short_episode_merges_into_the_neighbour_it_resembles():
    # 3 s happy, 0.3 s sad, 3 s neutral: the sad stretch is too short and its frames lean to neither; the
    # episodes still cover the whole track without a gap.
    frames, episodes = add_episodes(one_face([HAPPY] * 30 + [SAD] * 3 + [NEUTRAL] * 30), min_episode_s=0.5)
    assert list(episodes["emotion"]) == ["happiness", "neutral"]
    assert episodes["t_end"].iloc[0] == episodes["t_start"].iloc[1]
    assert abs(episodes["t_end"].iloc[0] - 3.15) <= 0.2


def test_settings_are_seconds_not_frames():
    at_10 = add_episodes(one_face([HAPPY] * 40 + [SAD] * 3 + [HAPPY] * 40, fps=10))[1]
    at_30 = add_episodes(one_face([HAPPY] * 120 + [SAD] * 9 + [HAPPY] * 120, fps=30))[1]
    assert list(at_10["emotion"]) == list(at_30["emotion"]) == ["happiness"]
    kept = add_episodes(one_face([HAPPY] * 40 + [SAD] * 10 + [HAPPY] * 40, fps=10))[1]  # 1 s of sadness stays
    assert list(kept["emotion"]) == ["happiness", "sadness", "happiness"]


def test_no_faces_no_episodes():
    frames = frames_table([0, 1], [0.0, 0.1], [None, None], np.full((2, 4), np.nan), np.full(2, np.nan), np.full((2, 7), np.nan))
    frames, episodes = add_episodes(frames)
    assert episodes.empty and frames["emotion_smoothed"].isna().all()


def test_a_faces_headline_is_the_emotion_its_episodes_show_longest():
    # 2 s of clear happiness, then 6 s in which two frames of three lean just to happiness and the third
    # is clearly sad: the raw labels are two thirds happiness, the smoothed ones (and the episodes) sadness.
    frames = one_face([HAPPY] * 80)
    probabilities = np.full((80, len(CLASSES)), 0.02)
    probabilities[:20, HAPPY] = 0.88
    flicker = probabilities[20:]
    flicker[:, HAPPY], flicker[:, SAD] = 0.45, 0.40
    flicker[2::3, HAPPY], flicker[2::3, SAD] = 0.02, 0.86
    frames[list(CLASSES)] = probabilities
    frames["emotion"] = pd.array(np.array(CLASSES)[probabilities.argmax(axis=1)], dtype="string")
    frames, episodes = add_episodes(frames)
    assert set(episodes["emotion"]) == {"happiness", "sadness"}
    longest = episodes.groupby("emotion")["duration_s"].sum().idxmax()
    (track,) = track_summaries(frames)
    assert longest == "sadness" and track["dominant_emotion"] == longest
    assert track["emotion_share"]["sadness"] == pytest.approx((frames["emotion_smoothed"] == "sadness").mean(), abs=1e-4)
    assert track["emotion_share_raw"]["happiness"] == pytest.approx(60 / 80, abs=1e-4)  # the single-frame labels, kept
    assert sum(track["emotion_share"].values()) == pytest.approx(1, abs=1e-3) == sum(track["emotion_share_raw"].values())


def test_a_track_too_short_to_be_a_face_keeps_its_rows_flagged_and_nothing_else():
    # face 0 for 2 s at 10 fps; face 1 (a hand, say) in one frame only
    long_face = one_face([HAPPY] * 20)
    blip = frames_table([5], [0.5], [1], np.full((1, 4), 10.0), np.ones(1), np.eye(len(CLASSES))[[SAD]])
    frames = pd.concat([long_face, blip], ignore_index=True).sort_values(["frame", "face_id"], ignore_index=True)
    frames, episodes = add_episodes(frames)
    assert len(frames) == 21 and list(frames.loc[frames["face_id"] == 1, "emotion"]) == ["sadness"]  # its row stays
    assert frames.loc[frames["face_id"] == 1, "short_track"].all() and not frames.loc[frames["face_id"] == 0, "short_track"].any()
    assert frames.loc[frames["face_id"] == 1, "emotion_smoothed"].isna().all()
    assert list(episodes["face_id"]) == [0]
    assert [t["face_id"] for t in track_summaries(frames)] == [0]
    assert list(timeline(frames, 1.0, 2.0)["face_id"].unique()) == [0]
    kept = add_episodes(frames.drop(columns=["emotion_smoothed", "short_track"]), min_track_s=0)[0]  # no minimum: it counts
    assert not kept["short_track"].any() and [t["face_id"] for t in track_summaries(kept)] == [0, 1]
