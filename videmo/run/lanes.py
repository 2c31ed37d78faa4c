"""Lanes: chunks of a video detected and classified side by side, each in a thread of its own,
with their results taken in video order so that tracking and writing see frames in order.

On the CPU one lane per torch thread (each single-threaded) uses two cores better than one lane
with two threads: MTCNN's many small steps and the classifier's small batches leave a shared pool
idle between them. A lane decodes its next chunk itself, one lane at a time, while the others compute.
"""

from __future__ import annotations

import ctypes
import itertools
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import torch

from videmo.core.loading import native_loading

T = TypeVar("T")
R = TypeVar("R")


def default_lanes(device: torch.device, threads: int) -> int:
    """On the CPU, one lane per torch thread, up to 4: MTCNN's many small steps and the classifier's
    small batches use one core each better than two cores together (2 cores: 1.2-1.5x the frames a
    second of one lane with two threads). On a GPU one lane: the GPU serialises the work anyway."""
    return 1 if device.type == "cuda" else max(1, min(4, threads))


def return_free_memory() -> None:
    """Hand the heap's free pages back to the system (glibc's malloc_trim), so that freed frames and
    tensors scattered through it stop counting as resident: the 10-minute benchmark video peaked at
    1.57-1.61 GB with, 1.71 GB without, trimming every 8 chunks, for 2-3% of the speed; elsewhere than
    glibc this does nothing."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def ordered_map(work: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """``work(item)`` for each of ``items``, ``workers`` at a time in threads, yielded in the items'
    order. Each worker takes its next item from ``items`` itself, one worker at a time, so that
    making an item (decoding a chunk) runs beside the other workers' work rather than in one more
    busy thread: on a machine with a core per worker, a third busy thread makes every thread pay
    for the switching. At most ``workers + 1`` items are taken and not yet consumed. An error, in
    ``work`` or in ``items``, raises in the consumer in its item's place, after the running items
    finish; no later item starts. A consumer that stops early stops the workers. With one worker,
    it all runs in the calling thread."""
    if workers <= 1:
        yield from map(work, items)
        return
    source = iter(items)
    taking = threading.Lock()  # one worker at a time draws from ``source``
    room = threading.Semaphore(workers + 1)
    settled = threading.Condition()
    outcomes: dict[int, tuple[bool, object]] = {}  # position -> (succeeded, result or error)
    stop = threading.Event()
    drawn, end = 0, None  # items drawn so far; the position where ``source`` ran out

    def settle(position: int, succeeded: bool, value: object) -> None:
        if not succeeded:
            stop.set()
        with settled:
            outcomes[position] = (succeeded, value)
            settled.notify_all()

    def lane() -> None:
        nonlocal drawn, end
        while True:
            room.acquire()
            with taking:
                if stop.is_set() or end is not None:
                    return
                position, drawn = drawn, drawn + 1
                try:
                    item = next(source)
                except StopIteration:
                    with settled:
                        end = position
                        settled.notify_all()
                    return
                except BaseException as e:  # handed to the consumer, which raises it
                    settle(position, False, e)
                    return
            try:
                settle(position, True, work(item))
            except BaseException as e:
                settle(position, False, e)
                return

    threads = [threading.Thread(target=lane, name=f"videmo-lane-{n}", daemon=True) for n in range(workers)]
    with native_loading():  # an interrupt between two starts would leave a lane running unwatched: it waits (signals)
        for thread in threads:
            thread.start()
    try:
        for position in itertools.count():
            with settled:
                settled.wait_for(lambda: position in outcomes or (end is not None and position >= end))
                if position not in outcomes:
                    return
                succeeded, value = outcomes.pop(position)
            if not succeeded:
                raise value
            room.release()
            yield value
    finally:
        stop.set()
        for _ in threads:
            room.release()
        for thread in threads:
            thread.join()


def prefetch(batches: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Run ``batches`` in a background thread, at most ``depth`` chunks ahead of the consumer.

    Errors in the thread re-raise in the consumer; a consumer that stops early stops the thread.
    """
    waiting: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce():
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        waiting.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            waiting.put(done)
        except BaseException as e:  # handed to the consumer, which raises it
            waiting.put(e)

    thread = threading.Thread(target=produce, name="videmo-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = waiting.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                waiting.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.1)
