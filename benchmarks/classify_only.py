"""The classifier alone, on one thread, over the faces an analysis found: faces per second.

    videmo analyze VIDEO -o OUT
    python benchmarks/classify_only.py VIDEO OUT/<stem>/frames.csv [RUNTIME [PRECISION]]

Run from a checkout's root to measure that checkout's code (the script puts the working directory
first on the path), alternating with another checkout, to pair two versions on the same faces:
``cd OTHER && python /path/to/classify_only.py VIDEO FRAMES_CSV``. The video's frames are decoded
once, then ``EmotionClassifier.classify`` (the default model, runtime and mirror, as ``analyze``
runs it in each lane) labels every face chunk by chunk (16 frames), after one warm-up chunk.
RUNTIME and PRECISION (both ``auto`` by default) pair two runtimes of one checkout instead.
"""

from __future__ import annotations

import sys
import time

sys.path.insert(0, ".")

import av  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from videmo.faces.classify import EmotionClassifier  # noqa: E402
from videmo.model.checkpoint import default_weights, load_checkpoint  # noqa: E402


def main() -> None:
    if not 3 <= len(sys.argv) <= 5:
        sys.exit(f"usage: {sys.argv[0]} VIDEO FRAMES_CSV [RUNTIME [PRECISION]]")
    video, table, runtime, precision = (sys.argv[1:] + ["auto", "auto"])[:4]
    torch.set_num_threads(1)
    with av.open(video) as container:
        frames = np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])
    faces = pd.read_csv(table)
    faces = faces[faces["face_id"].notna()]
    classifier = EmotionClassifier(
        load_checkpoint(default_weights()), torch.device("cpu"), precision, **({} if runtime == "auto" else {"runtime": runtime})
    )  # releases before ONNX Runtime lack the argument
    chunks = []
    for start in range(0, len(frames), 16):
        chunk = faces[(faces["frame"] >= start) & (faces["frame"] < start + 16)]
        chunks.append(
            (
                frames[start : start + 16],
                (chunk["frame"].to_numpy() - start).astype(np.int64),
                chunk[["x1", "y1", "x2", "y2"]].to_numpy(float),
            )
        )
    classifier.classify(*chunks[0])
    started = time.perf_counter()
    for chunk in chunks:
        classifier.classify(*chunk)
    print(
        f"{video}: {len(faces)} faces, {len(faces) / (time.perf_counter() - started):.1f} faces/s "
        f"({classifier.runtime} {classifier.precision}, one thread)"
    )


if __name__ == "__main__":
    main()
