"""The seven emotions, in the classifier's order (RAF-DB's labels 1..7, the columns of frames.csv),
and the one colour each has in every figure, video and page."""

from __future__ import annotations

CLASSES = ("surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral")


# One colour per emotion, the same in every figure, the annotated video and report.html: Okabe and Ito's
# palette for colour-blind readers (six of its colours; its yellow, which white shows poorly, left out)
# and a light grey for neutral, where their grey looked like fear's purple under deuteranopia. No two
# emotions come closer than 17 CIELAB units for normal, protanopic or deuteranopic sight (tests/test_figures.py).
EMOTION_COLOURS = {
    "surprise": "#56B4E9",
    "fear": "#CC79A7",
    "disgust": "#009E73",
    "happiness": "#E69F00",
    "sadness": "#0072B2",
    "anger": "#D55E00",
    "neutral": "#CCCCCC",
}


def ink(colour: str) -> str:
    """Black or white, whichever reads better as text on ``colour`` (a '#rrggbb'), by its WCAG luminance."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "#000000" if (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) else "#ffffff"
