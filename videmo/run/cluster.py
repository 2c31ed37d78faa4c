"""``videmo analyze --ray``: the same analysis, one video per unit of work, on a pool of Ray actors.

Each actor builds one Analyzer (the models, loaded once) and analyses whole videos with the
single-machine ``analyze_into``, writing each results folder straight into the output folder: the
files are those of a run without Ray, byte for byte. The output folder must therefore be one that
every node sees (one machine, or a shared file system such as NFS). The driver finds the videos,
skips those already done, hands one video at a time to each idle actor and reports each closing line.

An actor whose process dies is restarted and its video retried (``MAX_TASK_RETRIES`` times); a
video that fails for its own reasons comes back as its error line, reported once and never retried.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path

from tqdm import tqdm

from videmo.core.errors import VidemoError, printable
from videmo.core.files import hidden, writer_tag
from videmo.core.options import AnalyzeOptions
from videmo.run.runner import analyze_reported, closing_lines, one_line, plan_videos, update_tables

CONNECT_S = 30  # how long a --ray address is given to answer
MAX_TASK_RETRIES = 2  # a video whose worker process died is tried again this many times
ADDRESS = re.compile(r"^(auto|local|ray://\S+|[\w.\-]+:\d+|\[[0-9a-fA-F:]+\]:\d+)$")


@dataclass
class RayOptions:
    address: str | None = None  # None or "local": start a local Ray instance; "auto", "ray://host:port", "host:port": join it
    workers: int | None = None  # None: as many as the cluster's CPUs (and GPUs) allow
    cpus_per_worker: float = 1.0
    gpus_per_worker: float | None = None  # None: 1 when the cluster has GPUs (and --device is not cpu), else 0


def import_ray():
    try:
        import ray
    except ImportError:
        raise VidemoError("--ray needs Ray: pip install 'videmo[ray]'") from None
    return ray


class VideoWorker:
    """One Ray actor: the models loaded once, then any number of videos."""

    def __init__(self, options: AnalyzeOptions, cpus: float):
        import torch

        from videmo.run.pipeline import Analyzer

        torch.set_num_threads(max(1, int(cpus)))  # as many threads as the CPUs Ray reserved for this actor
        self.analyzer, self.error = None, None
        try:
            self.analyzer = Analyzer(options)
        except VidemoError as e:  # bad options or weights: reported once by the driver, not a restart loop
            self.error = str(e)

    def ready(self) -> tuple[str | None, str]:
        """None once the models are loaded, else why they could not be; and the tag of the hidden
        files this actor writes (see files.writer_tag), for the driver to remove should it die."""
        return self.error, writer_tag()

    def analyze(self, video: Path, folder: Path, shown: Path, overwrite: bool) -> tuple[list[str], bool, str]:
        """Analyse ``video`` into ``folder``; the lines to report (``shown`` as its folder), whether it
        succeeded, and this actor's tag (a restarted actor has another)."""
        result, error = analyze_reported(self.analyzer, video, folder, overwrite, progress=False)
        if error is not None:
            return [error], False, writer_tag()
        return closing_lines(video, result, shown), True, writer_tag()


def analyze_on_ray(
    paths: list[str],
    output: str | os.PathLike,
    options: AnalyzeOptions,
    ray_options: RayOptions | None = None,
    overwrite: bool = False,
    quiet: bool = False,
    report=print,
    worker_class: type = VideoWorker,
    html_report: bool = True,
) -> int:
    """``analyze_many`` on a Ray cluster: the same lines, the same results folders, the same return value
    (the number of inputs that failed)."""
    ray_options = ray_options or RayOptions()
    report = one_line(report)
    ray = import_ray()
    check_address(ray_options.address)
    todo, folders, failures = plan_videos(paths, output, overwrite, report, options)
    if not todo:
        update_tables(output, todo, failures, html_report)
        return len(failures)
    if options.weights is not None:  # workers need not share the driver's working folder
        options = replace(options, weights=str(Path(options.weights).absolute()))
    started_here = connect(ray, ray_options.address)
    actors = []
    try:
        cpus, gpus, workers = worker_resources(ray, ray_options, options, len(todo), started_here)
        actor_class = ray.remote(worker_class).options(
            num_cpus=cpus, num_gpus=gpus, max_restarts=-1, max_task_retries=MAX_TASK_RETRIES
        )
        actors = [actor_class.remote(options, cpus) for _ in range(workers)]
        run_queue(ray, actors, todo, folders, overwrite, quiet, report, failures)
    finally:
        for actor in actors:
            ray.kill(actor)
        if started_here:
            ray.shutdown()
        update_tables(output, todo, failures, html_report)
    return len(failures)


def check_address(address: str | None) -> None:
    if address is not None and not ADDRESS.match(address):
        raise VidemoError(
            f"--ray {address}: not a Ray address; give auto, ray://HOST:PORT or HOST:PORT, "
            "or put --ray after the paths to start a local Ray instance"
        )


def connect(ray, address: str | None) -> bool:
    """Join the cluster at ``address``, or start a local instance (None, 'local': Ray's ``address="local"``, which
    joins neither the cluster RAY_ADDRESS names nor the last one ``ray start`` ran, as Ray's default would); True when
    this call started Ray (and so must shut it down). A Ray already initialised in this process is used as it is."""
    if ray.is_initialized():
        return False
    local = address in (None, "local")
    in_main_thread = threading.current_thread() is threading.main_thread()
    if not local:
        check_listening(address)
    sigterm = signal.getsignal(signal.SIGTERM) if in_main_thread else None
    try:
        ray.init(
            address="local" if local else address,
            include_dashboard=False if local else None,
            logging_level=logging.ERROR if local else logging.WARNING,
        )  # local: no notes about a cluster's security
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = "start a local Ray instance" if local else f"connect to the Ray cluster at {address}"
        raise VidemoError(f"--ray: cannot {where} ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    finally:
        if in_main_thread and sigterm is not None:  # ray.init sets its own, which would skip videmo's cleanup
            signal.signal(signal.SIGTERM, sigterm)
    return True


def check_listening(address: str | None, timeout_s: float = CONNECT_S) -> None:
    """A VidemoError within ``timeout_s`` where nothing accepts a connection at the HOST:PORT address Ray would join
    (``ray://`` or a cluster's GCS): Ray itself retries for minutes, printing only its own warnings. For 'auto' that is
    the cluster Ray finds (``found_cluster``), if any; a local instance (None, 'local') joins none and is not checked."""
    found, advice = "", "check the address and that its port is open to this machine"
    if address in (None, "local"):
        return
    if address == "auto":
        address, source = found_cluster()
        if address is None:  # Ray finds a cluster's running processes, or fails at once
            return
        found = f"{source}; "
        advice = "check RAY_ADDRESS" if source == "from RAY_ADDRESS" else "forget it (ray stop)"
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as e:
        cause = "no answer" if isinstance(e, TimeoutError) else e.strerror or str(e) or type(e).__name__
        raise VidemoError(
            f"--ray: cannot connect to the Ray cluster at {address} ({found}{cause}; waited up to {timeout_s:g} s): "
            f"start it (ray start --head), or {advice}"
        ) from None


def found_cluster() -> tuple[str | None, str]:
    """The cluster that ``ray.init`` joins when given 'auto' (or no address), and where it was found, in Ray's order:
    RAY_ADDRESS, else the last cluster started on this machine (``ray start`` writes its address into Ray's temporary
    folder, ``ray stop`` removes it; a cluster that died keeps it); (None, "") where neither names one."""
    given = os.environ.get("RAY_ADDRESS", "")
    if given == "local":
        return None, ""
    if given and given != "auto":
        return given, "from RAY_ADDRESS"
    if "RAY_TMPDIR" in os.environ:
        temporary = os.environ["RAY_TMPDIR"]
    elif sys.platform.startswith("linux") and "TMPDIR" in os.environ:
        temporary = os.environ["TMPDIR"]
    else:
        temporary = "/tmp" if sys.platform.startswith(("linux", "darwin")) else tempfile.gettempdir()
    try:
        written = (Path(temporary) / "ray" / "ray_current_cluster").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None, ""
    return (written, "the last cluster started on this machine") if written else (None, "")


def worker_resources(ray, ray_options: RayOptions, options: AnalyzeOptions, videos: int, local: bool) -> tuple[float, float, int]:
    """CPUs and GPUs per actor and the number of actors: by default as many as the cluster holds, never more than videos."""
    total = ray.cluster_resources()
    cpus = ray_options.cpus_per_worker
    gpus = ray_options.gpus_per_worker
    if gpus is None:
        gpus = 1.0 if total.get("GPU", 0) >= 1 and options.device != "cpu" else 0.0
    if cpus <= 0 or gpus < 0:
        raise VidemoError("--cpus-per-worker must be above 0 and --gpus-per-worker at least 0")
    nodes = [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]
    if local and not any(node.get("CPU", 0) >= cpus and node.get("GPU", 0) >= gpus for node in nodes):
        raise VidemoError(
            f"no Ray node has {cpus:g} CPU(s) and {gpus:g} GPU(s) for one worker "
            f"(the cluster has {total.get('CPU', 0):g} CPUs, {total.get('GPU', 0):g} GPUs); "
            "lower --cpus-per-worker or --gpus-per-worker"
        )
    workers = ray_options.workers
    if workers is None:
        workers = int(total.get("CPU", 0) // cpus)
        if gpus > 0:
            workers = min(workers, int(total.get("GPU", 0) // gpus))
    return cpus, gpus, max(1, min(workers, videos))


def run_queue(
    ray, actors: list, todo: list[Path], folders: dict[Path, Path], overwrite: bool, quiet: bool, report, failures: dict[str, str]
) -> None:
    """Hand one video at a time to each idle actor; report each video's lines as it finishes. Adds
    each failed video's error line to ``failures``."""
    pending = {actor.ready.remote(): (actor, None) for actor in actors}  # the future -> its actor and video (None: loading)
    tags: dict = {}  # actor -> the tag of its hidden files, as it last said
    queue, starting = deque(todo), len(actors)
    started, start_errors = False, {}  # why actors could not start, each reason once
    bar = tqdm(total=len(todo), desc="videos", unit="video", disable=True if quiet or len(todo) < 2 else None)
    try:
        while pending:
            [future], _ = ray.wait(list(pending), num_returns=1)
            actor, video = pending.pop(future)
            try:
                value, error = ray.get(future), None
            except ray.exceptions.RayError as e:
                value, error = None, describe(e)
            if value is not None:
                *value, tags[actor] = value
            if video is None:  # an actor has loaded its models, or could not
                starting -= 1
                error = error or value[0]
                if error is not None:
                    if error not in start_errors and started:
                        report(f"videmo: error: a Ray worker could not start: {error}")
                    start_errors.setdefault(error, None)
                    if starting == 0 and not started:  # the same bad options or weights on every worker, as a rule
                        raise VidemoError("; ".join(start_errors) if len(start_errors) > 1 else error)
                    continue
                if not started:
                    started = True
                    for reason in start_errors:
                        report(f"videmo: error: a Ray worker could not start: {reason}")
            else:
                lines, ok = (
                    value if error is None else ([f"videmo: error: {video}: analysis failed on the Ray cluster ({error})"], False)
                )
                for line in lines:
                    report(line)
                if not ok:
                    failures[printable(str(video))] = printable(lines[-1])
                bar.update(1)
                if error is not None and actor in tags:  # the actor died mid-video: what it left, and only that
                    remove_leftovers(folders[video], tags[actor])
            if queue:
                video = queue.popleft()
                folder = folders[video]
                pending[actor.analyze.remote(video, folder.absolute(), folder, overwrite)] = (actor, video)
    finally:
        bar.close()


def describe(error: Exception) -> str:
    """One line for a Ray error: the exception raised in the actor, or why the actor died."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, BaseException):
        error = cause
    lines = [line for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def remove_leftovers(folder: Path, tag: str) -> None:
    """What an actor killed mid-video left beside ``folder`` (its hidden partial folder or annotated
    video), by its tag: another run sharing the output folder may be writing the same video."""
    partial, annotated = hidden(folder, "partial", tag), hidden(folder, "annotated", tag, ".mp4")
    shutil.rmtree(partial, ignore_errors=True)
    annotated.unlink(missing_ok=True)
