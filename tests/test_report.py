"""report.html: written after every run, escaped, and checked in a real browser (headless chromium,
driven over the DevTools protocol on a pipe, so no extra Python package is needed)."""

import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import unquote_to_bytes, urlparse

import pandas as pd
import pytest

import videmo
from videmo.core.options import AnalyzeOptions
from videmo.run import runner

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ODD_NAME = 'two <faces> & "co".mp4'  # every character HTML and URLs must escape


def quiet(line):
    pass


@pytest.fixture(scope="module")
def batch(one_face_video, two_face_video, tiny_checkpoint, tmp_path_factory):
    """Two videos (one with a name to escape) and a broken file, analysed as one batch."""
    folder = tmp_path_factory.mktemp("report")
    odd = folder / ODD_NAME
    shutil.copy(two_face_video, odd)
    (folder / "broken.mp4").write_text("not a video")
    options = AnalyzeOptions(weights=str(tiny_checkpoint), every=2, annotate=True)
    assert (
        runner.analyze_many(
            [str(one_face_video), str(odd), str(folder / "broken.mp4")], folder / "out", options, quiet=True, report=quiet
        )
        == 1
    )
    return folder / "out"


def test_the_report_is_written_with_every_value_escaped(batch):
    page = (batch / "report.html").read_text(encoding="utf-8")
    assert "&lt;faces&gt; &amp; &quot;co&quot;" in page and "<faces>" not in page
    assert 'href="two%20%3Cfaces%3E%20%26%20%22co%22/frames.csv"' in page
    assert "http://" not in page and "https://" not in page
    assert "not a video file" in page and "broken.mp4" in page  # the failed video and why
    assert not [p for p in os.listdir(batch) if p.startswith(".")]  # written atomically


def test_results_someone_edited_never_stop_the_report(batch, tmp_path):
    from videmo.batch.report import write_report

    edited = tmp_path / "out"
    shutil.copytree(batch, edited)
    summary = json.loads((edited / "one_face" / "summary.json").read_text())
    (edited / "one_face" / "summary.json").write_text(json.dumps({**summary, "frames_missing": "?", "model": "?"}))
    (edited / "one_face" / "episodes.csv").unlink()
    page = write_report(edited).read_text(encoding="utf-8")
    assert "Its summary.json could not be read" in page and page.count('data-folder="one_face"') == 1


def test_no_report_skips_it_and_an_interrupted_batch_still_gets_one(
    one_face_video, two_face_video, tiny_checkpoint, tmp_path, monkeypatch
):
    from click.testing import CliRunner

    from videmo.cli import main

    run = CliRunner().invoke(
        main,
        [
            "analyze",
            str(one_face_video),
            "-w",
            str(tiny_checkpoint),
            "-o",
            str(tmp_path / "a"),
            "-q",
            "--every",
            "3",
            "--no-report",
        ],
    )
    assert run.exit_code == 0, run.output
    assert (tmp_path / "a" / "index.csv").is_file() and not (tmp_path / "a" / "report.html").exists()
    outcomes = videmo.analyze_many(one_face_video, tmp_path / "a", weights=str(tiny_checkpoint), every=3, quiet=True)
    assert [o.status for o in outcomes] == ["skipped"]
    assert (tmp_path / "a" / "report.html").is_file()  # a run that only skips done videos writes it too

    real, done = runner.analyze_into, []

    def interrupted(analyzer, video, *args, **kwargs):
        if done:
            raise KeyboardInterrupt  # Ctrl-C during the second video
        done.append(video)
        return real(analyzer, video, *args, **kwargs)

    monkeypatch.setattr(runner, "analyze_into", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner.analyze_many(
            [str(one_face_video), str(two_face_video)],
            tmp_path / "b",
            AnalyzeOptions(weights=str(tiny_checkpoint), every=3),
            quiet=True,
            report=quiet,
        )
    page = (tmp_path / "b" / "report.html").read_text(encoding="utf-8")
    assert 'data-folder="one_face"' in page and "two_faces" not in page  # what finished, nothing else


class Browser:
    """Headless chromium over ``--remote-debugging-pipe``: DevTools JSON messages, each ended by NUL,
    read by the browser on fd 3 and written on fd 4. One page target, attached in flat mode."""

    def __init__(self, profile: Path):
        commands_r, self.commands = os.pipe()
        self.replies, replies_w = os.pipe()

        def onto_3_and_4():  # in the child: high copies first, so that neither pipe end is overwritten
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (commands_r, replies_w)]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self.process = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--hide-scrollbars",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                f"--user-data-dir={profile}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,
            preexec_fn=onto_3_and_4,
        )
        os.close(commands_r)
        os.close(replies_w)
        self.messages, self.events, self.next_id = queue.Queue(), [], 0
        threading.Thread(target=self.read, daemon=True).start()
        target = self.send("Target.createTarget", url="about:blank", session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True, session=False)["sessionId"]

    def read(self):
        buffer = b""
        while chunk := os.read(self.replies, 1 << 16):
            buffer += chunk
            *whole, buffer = buffer.split(b"\0")
            for message in whole:
                self.messages.put(json.loads(message))
        self.messages.put(None)

    def send(self, method, session=True, **params):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params, **({"sessionId": self.session} if session else {})}
        os.write(self.commands, json.dumps(message).encode() + b"\0")
        while True:
            reply = self.messages.get(timeout=60)
            assert reply is not None, "chromium exited"
            if reply.get("id") == self.next_id:
                assert "error" not in reply, (method, reply["error"])
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method, timeout=60):
        deadline = time.monotonic() + timeout
        while not any(event.get("method") == method for event in self.events):
            reply = self.messages.get(timeout=max(0.1, deadline - time.monotonic()))
            assert reply is not None, "chromium exited"
            self.events.append(reply)

    def js(self, expression):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def click(self, selector):
        box = self.js(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect(); "
            "return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def close(self):
        self.process.kill()
        self.process.wait()
        os.close(self.commands)


def screenshot(browser: Browser, path: Path, width: int = 1280, most: int = 2000) -> None:
    """The page as a person sees it at ``width`` pixels: its top ``most`` pixels, images loaded."""
    height = min(most, browser.js("document.documentElement.scrollHeight"))
    shot = browser.send(
        "Page.captureScreenshot",
        format="png",
        captureBeyondViewport=True,
        clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
    )
    path.write_bytes(base64.b64decode(shot["data"]))


def open_report(browser: Browser, report: Path, width: int = 1280) -> None:
    browser.send("Network.enable")
    browser.send("Page.enable")
    browser.send("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1, mobile=False)
    browser.send("Page.navigate", url=report.absolute().as_uri())
    browser.wait_for("Page.loadEventFired")
    # Lazy images below the fold: load them all now, and fail if any cannot be decoded.
    browser.js("Promise.all([...document.images].map(i => { i.loading = 'eager'; return i.decode(); })).then(() => true)")


def table_rows(browser):
    return browser.js(
        "[...document.querySelectorAll('#batch-table tbody tr')].filter(r => !r.hidden)"
        ".map(r => [r.dataset.folder, r.dataset.face])"
    )


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run installs it)")
def test_the_report_in_a_real_browser(batch, tmp_path):
    browser = Browser(tmp_path / "profile")
    try:
        open_report(browser, batch / "report.html")
        index = pd.read_csv(batch / "index.csv", dtype={"face_id": "Int64"})
        expected = [[folder, "" if pd.isna(face) else str(face)] for folder, face in zip(index["folder"], index["face_id"])]
        assert table_rows(browser) == expected and len(expected) == 3  # one face, then two

        # Sorting: a click on "Duration s" sorts ascending, Enter on the focused button descending.
        column = "#batch-table thead th:nth-child(3)"
        browser.click(f"{column} button")
        durations = lambda: browser.js(
            "[...document.querySelectorAll('#batch-table tbody tr')].map(r => Number(r.cells[2].dataset.v))"
        )  # noqa: E731
        assert durations() == sorted(durations()) and browser.js(f"document.querySelector('{column}').ariaSort") == "ascending"
        assert browser.js("document.activeElement.textContent") == "Duration s"  # the header is a focusable button
        for kind in ("keyDown", "keyUp"):
            browser.send(
                "Input.dispatchKeyEvent",
                type=kind,
                key="Enter",
                code="Enter",
                windowsVirtualKeyCode=13,
                **({"text": "\r"} if kind == "keyDown" else {}),
            )
        assert durations() == sorted(durations(), reverse=True) and durations()[0] > durations()[-1]
        assert browser.js(f"document.querySelector('{column}').ariaSort") == "descending"

        # Filtering by text keeps the matching rows.
        browser.js(
            "const f = document.getElementById('filter'); f.focus(); f.value = 'one_face'; f.dispatchEvent(new Event('input')); true"
        )
        assert (
            table_rows(browser) == [["one_face", "0"]]
            and browser.js("document.getElementById('shown').textContent") == "1 of 3 rows"
        )
        browser.js("const g = document.getElementById('filter'); g.value = ''; g.dispatchEvent(new Event('input')); true")

        # Every image and link resolves: files exist, fragments name an element; images decoded above.
        urls = browser.js("[...document.images].map(i => i.src).concat([...document.links].map(a => a.href))")
        images = browser.js("[...document.images].map(i => [i.naturalWidth, i.alt])")
        assert len(images) == 4 and all(width > 0 and alt for width, alt in images)
        for url in urls:
            parsed = urlparse(url)
            assert parsed.scheme == "file", url
            if parsed.fragment and Path(os.fsdecode(unquote_to_bytes(parsed.path))) == batch / "report.html":
                assert browser.js(f"document.getElementById({json.dumps(parsed.fragment)}) !== null"), url
            else:
                assert Path(os.fsdecode(unquote_to_bytes(parsed.path))).is_file(), url
        assert {Path(u).name for u in urls} >= {"frames.csv", "annotated.mp4", "summary.json", "faces.png", "timeline.png"}

        # No network: every request the page made was for a local file, and none failed.
        requests = [e["params"]["request"]["url"] for e in browser.events if e.get("method") == "Network.requestWillBeSent"]
        assert requests and all(urlparse(url).scheme in ("file", "data") for url in requests), requests
        assert not [e for e in browser.events if e.get("method") == "Network.loadingFailed"]
        assert "http" not in browser.js("document.documentElement.outerHTML").replace("http-equiv", "")

        shot = Path(os.environ.get("VIDEMO_REPORT_SCREENSHOT", tmp_path / "report.png"))
        screenshot(browser, shot)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        print(f"screenshot: {shot}")
    finally:
        browser.close()


if __name__ == "__main__":  # python tests/test_report.py REPORT.html SHOT.png: how examples/report.png is made
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as profile:
        browser = Browser(Path(profile))
        try:
            open_report(browser, Path(sys.argv[1]))
            screenshot(browser, Path(sys.argv[2]))
        finally:
            browser.close()
