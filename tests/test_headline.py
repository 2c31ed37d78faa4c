"""One headline per face everywhere (dominant emotion, its share, the runner-up and its share), the
warning when frames lie too far apart for the episode settings, and the small readers and reprs."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import invoke

import videmo
from videmo.core.emotions import CLASSES
from videmo.results.episodes import add_episodes, sampling_warning
from videmo.results.tables import frames_table, ranked, track_summaries

README = Path(__file__).parents[1] / "README.md"
HEADLINE = ["dominant_emotion", "dominant_share", "runner_up", "runner_up_share"]


def share(**given) -> dict:
    return {c: given.get(c, 0.0) for c in CLASSES}


def one_face(labels: list[str], fps: float = 10) -> pd.DataFrame:
    """A one-face frames table, frame k clearly showing labels[k]."""
    n = len(labels)
    probabilities = np.full((n, len(CLASSES)), 0.02)
    probabilities[np.arange(n), [CLASSES.index(label) for label in labels]] = 0.88
    return frames_table(list(range(n)), [k / fps for k in range(n)], [0] * n, np.full((n, 4), 10.0), np.ones(n), probabilities)


def test_the_runner_up_shows_a_close_call_and_is_empty_for_one_emotion_or_a_shared_second_place():
    assert ranked(share(surprise=0.47, neutral=0.38, happiness=0.15)) == ("surprise", 0.47, "neutral", 0.38)
    assert ranked(share(fear=1.0)) == ("fear", 1.0, None, 0.0)
    assert ranked(share(neutral=0.5, surprise=0.5)) == ("surprise", 0.5, "neutral", 0.5)  # a tie for first: both named
    assert ranked(share(anger=0.6, fear=0.2, sadness=0.2)) == ("anger", 0.6, None, 0.0)  # no one runner-up


def test_summary_tracks_carry_the_headline_of_the_smoothed_labels():
    frames, _ = add_episodes(one_face(["happiness"] * 30 + ["sadness"] * 20))
    (track,) = track_summaries(frames)
    keys = list(track)
    assert keys[keys.index("dominant_emotion") : keys.index("dominant_emotion") + 4] == HEADLINE
    assert (track["dominant_emotion"], track["runner_up"]) == ("happiness", "sadness")
    assert (
        track["dominant_share"] == track["emotion_share"]["happiness"]
        and track["runner_up_share"] == track["emotion_share"]["sadness"]
    )
    assert track["dominant_share"] + track["runner_up_share"] == pytest.approx(1)


@pytest.fixture(scope="module")
def batch(tmp_path_factory, one_face_video, two_face_video, tiny_checkpoint):
    """An output folder of two videos' results, analysed with the command (frames 0.2 s apart)."""
    output = tmp_path_factory.mktemp("headline")
    run = invoke("analyze", one_face_video, two_face_video, "-w", tiny_checkpoint, "-o", output, "-q", "--every", "2")
    assert run.exit_code == 0, run.stderr
    return output, run


def test_index_csv_puts_the_headline_after_the_dominant_emotion_as_summary_json_has_it(batch):
    output, _ = batch
    index = videmo.read_index(output)
    columns = list(index.columns)
    assert columns[columns.index("dominant_emotion") : columns.index("dominant_emotion") + 4] == HEADLINE
    assert columns[columns.index("runner_up_share") + 1] == "share_surprise"  # the old columns follow in their order
    for row in index.dropna(subset=["face_id"]).itertuples(index=False):
        track = next(t for t in videmo.read_summary(output / row.folder)["tracks"] if t["face_id"] == row.face_id)
        assert (
            row.dominant_share
            == pytest.approx(track["dominant_share"])
            == pytest.approx(getattr(row, f"share_{row.dominant_emotion}"))
        )
        assert row.runner_up_share == pytest.approx(track["runner_up_share"])
        assert (None if pd.isna(row.runner_up) else row.runner_up) == track["runner_up"]


def test_read_index_gives_counts_as_integers(batch):
    index = videmo.read_index(batch[0])
    assert str(index["frames_analysed"].dtype) == "int64"
    assert all(str(index[c].dtype) == "Int64" for c in ["face_id", "n_frames", *[f"episodes_{c}" for c in CLASSES]])
    assert str(index["runner_up"].dtype) == "string"


def test_the_readmes_recipe_gives_the_numbers_of_index_csv(batch):
    output, _ = batch
    readme = README.read_text(encoding="utf-8")
    recipe = [
        'shares = faces.groupby("face_id")["emotion_smoothed"].value_counts(normalize=True)',
        "shares.groupby(level=0).head(2)",
    ]
    assert all(line in readme for line in recipe)
    index = videmo.read_index(output)
    for folder in ("one_face", "two_faces"):
        faces = videmo.read_results(output / folder).dropna(subset=["face_id"])
        shares = faces.groupby("face_id")["emotion_smoothed"].value_counts(normalize=True)
        top = shares.groupby(level=0).head(2)
        for row in index[index["folder"] == folder].itertuples(index=False):
            mine = top.loc[row.face_id].tolist()
            assert mine[0] == pytest.approx(row.dominant_share, abs=1e-4)
            assert (mine[1] if len(mine) > 1 else 0.0) == pytest.approx(row.runner_up_share, abs=1e-4)


def test_the_report_and_the_face_sheet_show_the_runner_up(batch, tmp_path):
    from videmo.results.figures import runner_up_caption

    output, _ = batch
    page = (output / "report.html").read_text(encoding="utf-8")
    assert '<button type="button">Runner-up</button>' in page
    assert runner_up_caption({"runner_up": "neutral", "runner_up_share": 0.38}) == ("neutral", "vs neutral 38%")
    assert runner_up_caption({"emotion_share": share(surprise=0.47, neutral=0.38, fear=0.15)}) == ("neutral", "vs neutral 38%")
    assert runner_up_caption({"emotion_share": share(fear=1.0)}) == (None, "")
    from videmo.batch.report import batch_table

    row = {
        "video": "v.mp4",
        "folder": "v",
        "face_id": 2,
        "duration_s": 9.0,
        "first_s": 2.7,
        "last_s": 7.0,
        "n_frames": 129,
        "dominant_emotion": "surprise",
        "dominant_share": 0.4729,
        "runner_up": "neutral",
        "runner_up_share": 0.3798,
        **{f"share_{c}": 0.0 for c in CLASSES},
        **{f"episodes_{c}": 0 for c in CLASSES},
    }
    table = batch_table(pd.DataFrame([row]), {})
    assert "surprise 47%</td>" in table and re.search(r'data-v="0.3798">.*neutral 38%</td>', table)


def test_the_closing_lines_speak_of_face_frames_and_faces(batch):
    from videmo.batch.report import batch_line

    output, run = batch
    closing = [line for line in run.stdout.splitlines() if line.startswith("two_faces.mp4: ")]
    assert len(closing) == 1 and re.match(
        r"two_faces\.mp4: 10 frames analysed, \d+ face-frames? of \d+ faces?, \d+ episodes?, ", closing[0]
    )
    assert "videmo: warning" not in run.stderr  # frames 0.2 s apart suit the default episode settings
    assert batch_line(output) == f"videmo: batch table {output / 'index.csv'}, report {output / 'report.html'}"
    assert batch_line(output, report=False) == f"videmo: batch table {output / 'index.csv'}"
    assert batch_line(output / "one_face") is None


@pytest.mark.parametrize(
    "fps, smooth, min_episode, said",
    [
        (
            2,
            0.5,
            0.5,
            "the analysed frames are 0.5 s apart, so --smooth 0.5 s smooths nothing and --min-episode 0.5 s keeps "
            "one-frame episodes: raise --smooth and --min-episode to at least 1 s",
        ),
        (3, 0.5, 0.5, "0.333 s apart, so --smooth 0.5 s smooths nothing: raise --smooth to at least 0.67 s"),
        (2, 1.0, 0.25, "so --min-episode 0.25 s keeps one-frame episodes: raise --min-episode to at least 1 s"),
        (5, 0.5, 0.5, None),
        (25, 0.5, 0.5, None),
        (2, 0, 0, None),
        (2, 1.0, 1.0, None),
    ],
)
def test_frames_further_apart_than_the_episode_settings_are_warned_of(fps, smooth, min_episode, said):
    warning = sampling_warning(one_face(["happiness"] * 20, fps=fps), smooth, min_episode, "clip.mp4")
    if said is None:
        assert warning is None
    else:
        assert warning.startswith("clip.mp4: ") and said in warning and "\n" not in warning
        assert warning.endswith("or sample more frames (a higher --fps or a lower --every)")
    assert sampling_warning(one_face(["happiness"]), smooth, min_episode, "clip.mp4") is None  # one frame: no step to speak of


def test_read_batch_episodes_is_every_videos_episodes_with_its_video_and_folder(batch, one_face_video, two_face_video):
    output, _ = batch
    episodes = videmo.read_batch_episodes(output)
    assert "read_batch_episodes" in videmo.__all__
    assert list(episodes.columns) == ["video", "folder", *videmo.read_episodes(output / "one_face").columns]
    for video, folder in ((one_face_video, "one_face"), (two_face_video, "two_faces")):
        mine = episodes[episodes["folder"] == folder]
        assert set(mine["video"]) == {str(video)}
        assert mine.drop(columns=["video", "folder"]).reset_index(drop=True).equals(videmo.read_episodes(output / folder))
    with pytest.raises(videmo.VidemoError, match="one video's results, not an output folder of many"):
        videmo.read_batch_episodes(output / "one_face")


def test_an_analysis_is_shown_in_one_line_not_its_tables(tmp_path):
    from videmo.results.types import Analysis

    frames, episodes = add_episodes(one_face(["happiness"] * 30))
    summary = {"video": {"path": "/videos/hamilton_clip.mp4"}, "counts": {"frames_analysed": 275, "tracks": 7}}
    with_folder = Analysis(frames, episodes, pd.DataFrame(), summary, tmp_path / "hamilton_clip")
    assert repr(with_folder) == f"<Analysis hamilton_clip.mp4: 275 frames, 7 faces, 1 episode -> {tmp_path / 'hamilton_clip'}>"
    assert repr(Analysis(frames, episodes, pd.DataFrame(), summary)).endswith("1 episode (not saved)>")


def test_the_timeline_draws_nothing_where_the_face_was_not_seen():
    from videmo.results.figures import seen_stretches, timeline_figure

    seen = [k for k in range(60) if not 20 <= k < 40]  # at 10 frames/s: unseen from 2 s to 4 s
    frames = one_face(["happiness"] * 60).iloc[seen].reset_index(drop=True)
    frames, episodes = add_episodes(frames)
    assert [len(piece) for piece in seen_stretches(frames["time_s"].to_numpy(), 0.1)] == [20, 20]
    axis = next(a for a in timeline_figure(frames, "clip.mp4", episodes).axes if "p(emotion)" in a.get_ylabel())
    drawn = [path.vertices[:, 0] for collection in axis.collections for path in collection.get_paths()]
    assert drawn and not any(((x > 2.0 + 1e-6) & (x < 3.9)).any() for x in drawn)  # the first stretch ends at 1.9 + one frame
