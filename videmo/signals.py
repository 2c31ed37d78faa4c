"""Ctrl-C and SIGTERM for a command: raised as exceptions in the main thread, none of them lost,
so that the same cleanup runs (no half-written results folder), and turned with every VidemoError
into one line on stderr and the exit status a shell expects."""

from __future__ import annotations

import _thread
import contextlib
import functools
import os
import signal
import sys
import threading

import click

from videmo.core.errors import VidemoError, printable
from videmo.core.loading import is_loading


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that the same cleanup runs (no half-written results folder)."""


class Interrupts:
    """Ctrl-C and SIGTERM as exceptions in the main thread, none of them lost; for one command.

    Python cannot raise out of ``__del__``: it prints "Exception ignored in" and goes on. A Ctrl-C
    that landed while decord's VideoReader freed its handle there was lost, and the run went on to the
    end and exited 0 (CI's interruption test caught it). The unraisable hook keeps such an interrupt
    and has it raised again 50 ms later, by then outside the finalizer (and again if it lands in
    another). An interrupt that is raised cancels those pending, so that none lands in the cleanup it
    starts; one still pending when the command ends is raised then.

    Nor is one raised while the models load (``core.loading``), inside an import, or inside code that ``exec`` or ``eval`` runs from a string (dataclasses
    and namedtuples make their methods so): it is held and delivered again, 50 ms at a time, until the main thread
    is out of it. Raised while torch or ONNX Runtime loaded, it left their native half-initialised state to be
    torn down at exit (about 1 in 14 timed interrupts aborted with "terminate called without an active
    exception", exit 134); raised inside a string's code, CPython marks it unhandled even once caught, and the
    process killed itself with SIGINT at exit instead of exiting 130."""

    def __enter__(self) -> Interrupts:
        self.pending: KeyboardInterrupt | None = None
        self.timers: list[threading.Timer] = []
        self.outer = sys._getframe(1)  # the command's: what runs it (python -c, an import) is not loading
        self.sigterm = signal.signal(signal.SIGTERM, self.raise_interrupt)
        self.sigint = signal.getsignal(signal.SIGINT)
        if self.sigint is signal.default_int_handler or getattr(
            self.sigint, "videmo_startup", False
        ):  # not where the shell set Ctrl-C to be ignored
            signal.signal(signal.SIGINT, self.raise_interrupt)
        self.unraisablehook, sys.unraisablehook = sys.unraisablehook, self.keep_swallowed
        return self

    def raise_interrupt(self, signum: int, frame) -> None:
        if is_loading() or loading(frame, self.outer):
            self.pending = Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
            self.deliver_later(signum)
            return
        self.pending = None
        for timer in self.timers:
            timer.cancel()
        raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt

    def keep_swallowed(self, unraisable) -> None:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            return self.unraisablehook(unraisable)
        self.pending = unraisable.exc_value
        # Later, from another thread: raised now, in this hook, it would be swallowed again.
        self.deliver_later(signal.SIGTERM if isinstance(unraisable.exc_value, Terminated) else signal.SIGINT)

    def deliver_later(self, signum: int) -> None:
        """The signal delivered to the main thread again in 50 ms."""
        timer = threading.Timer(0.05, _thread.interrupt_main, (signum,))
        timer.daemon = True
        self.timers.append(timer)
        timer.start()

    def __exit__(self, kind, value, traceback) -> None:
        for timer in self.timers:
            timer.cancel()
        sys.unraisablehook = self.unraisablehook
        signal.signal(signal.SIGTERM, self.sigterm if self.sigterm is not None else signal.SIG_DFL)  # None: set outside Python
        if self.sigint is signal.default_int_handler:
            signal.signal(signal.SIGINT, self.sigint)
        if self.pending is not None and not (kind is not None and issubclass(kind, KeyboardInterrupt)):
            raise self.pending


def loading(frame, outer) -> bool:
    """Whether ``frame`` runs inside an import, a thread's start, or code run by ``exec``/``eval`` from a string, below
    ``outer`` (the command's frame: ``python -c`` runs the command itself from a string)."""
    while frame is not None and frame is not outer:
        name = frame.f_code.co_filename
        if (
            name == "<string>"
            or name.startswith("<frozen importlib")
            or (name == threading.__file__ and frame.f_code.co_name == "start")
        ):
            return True  # a Thread.start interrupted leaves a thread running that its starter never knew of
        frame = frame.f_back
    return False


def one_line_errors(command):
    """Turn VidemoError (bad input) into one line on stderr and exit status 1; Ctrl-C into 130, SIGTERM into 143;
    output that could not be printed (``echo``) into one line and a failure's status, after the command ran to its end."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        UNPRINTED.clear()
        try:
            result = guarded(command, *args, **kwargs)
        except SystemExit as e:
            sys.exit(printed(e.code))
        status = printed(0)
        if status:
            sys.exit(status)
        return result

    return wrapper


def guarded(command, *args, **kwargs):
    in_main_thread = threading.current_thread() is threading.main_thread()  # signal handlers can only be set there
    try:
        check_working_folder()
        with Interrupts() if in_main_thread else contextlib.nullcontext():
            return command(*args, **kwargs)
    except VidemoError as e:
        echo(printable(f"videmo: error: {e}"), err=True)
        sys.exit(1)
    except Terminated:
        echo("videmo: terminated", err=True)
        sys.exit(128 + signal.SIGTERM)
    except KeyboardInterrupt:
        echo("videmo: interrupted", err=True)
        sys.exit(128 + signal.SIGINT)


def check_working_folder() -> None:
    """A VidemoError, before torch loads, where the working folder was deleted: torch then cannot load (oneMKL's
    "FATAL ERROR: Cannot load libtorch_cpu.so"), even where every path given is absolute."""
    try:
        os.getcwd()
    except FileNotFoundError:
        raise VidemoError("the working folder no longer exists (deleted while a shell was in it): cd to another folder") from None


UNPRINTED: list[OSError | ValueError] = []  # why stdout could not be printed to, in this command


def echo(message: str, err: bool = False) -> None:
    """click.echo that never raises. Where stdout or stderr cannot be written (a closed pipe, a full disk, a
    closed descriptor), the rest of that stream goes to the null device, as Python's docs advise for SIGPIPE
    (so that the flush at exit cannot fail either), and the command goes on; stdout's failure is kept in
    UNPRINTED for ``printed``. stderr's is not: no line could say it."""
    try:
        if not err and 1 in getattr(sys.modules.get("videmo"), "closed_at_start", ()):
            raise OSError(9, os.strerror(9))  # EBADF: `videmo ... >&-`; its stdout is the null device now
        click.echo(message, err=err)
    except (OSError, ValueError) as e:  # ValueError: a closed file
        silence(err, e)


def silence(err: bool, error: OSError | ValueError) -> None:
    """Send the rest of stdout (or stderr) to the null device after ``error`` writing it."""
    if not err and not UNPRINTED:
        UNPRINTED.append(error)
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, (sys.stderr if err else sys.stdout).fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError):  # not a descriptor (a test's capture), or None
        pass


def printed(status):
    """``status``, or 1 where it was 0 and stdout could not be printed, said in one line on stderr."""
    try:
        if sys.stdout is not None:
            sys.stdout.flush()  # what print left in its buffer: Python's own flush at exit would fail on it
    except (OSError, ValueError) as e:
        silence(False, e)
    if not UNPRINTED:
        return status
    cause = UNPRINTED[0]
    echo(f"videmo: error: stdout: the output could not be printed ({getattr(cause, 'strerror', None) or cause})", err=True)
    return status if status not in (0, None) else 1
