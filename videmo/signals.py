"""Ctrl-C and SIGTERM for a command: raised as exceptions in the main thread, none of them lost,
so that the same cleanup runs (no half-written results folder), and turned with every VidemoError
into one line on stderr and the exit status a shell expects."""

from __future__ import annotations

import _thread
import contextlib
import functools
import signal
import sys
import threading

import click

from videmo.core.errors import VidemoError, printable


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that the same cleanup runs (no half-written results folder)."""


class Interrupts:
    """Ctrl-C and SIGTERM as exceptions in the main thread, none of them lost; for one command.

    Python cannot raise out of ``__del__``: it prints "Exception ignored in" and goes on. A Ctrl-C
    that landed while decord's VideoReader freed its handle there was lost, and the run went on to the
    end and exited 0 (CI's interruption test caught it). The unraisable hook keeps such an interrupt
    and has it raised again 50 ms later, by then outside the finalizer (and again if it lands in
    another). An interrupt that is raised cancels those pending, so that none lands in the cleanup it
    starts; one still pending when the command ends is raised then."""

    def __enter__(self) -> Interrupts:
        self.pending: KeyboardInterrupt | None = None
        self.timers: list[threading.Timer] = []
        self.sigterm = signal.signal(signal.SIGTERM, self.raise_interrupt)
        self.sigint = signal.getsignal(signal.SIGINT)
        if self.sigint is signal.default_int_handler:  # not where the shell set Ctrl-C to be ignored
            signal.signal(signal.SIGINT, self.raise_interrupt)
        self.unraisablehook, sys.unraisablehook = sys.unraisablehook, self.keep_swallowed
        return self

    def raise_interrupt(self, signum: int, frame) -> None:
        self.pending = None
        for timer in self.timers:
            timer.cancel()
        raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt

    def keep_swallowed(self, unraisable) -> None:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            return self.unraisablehook(unraisable)
        self.pending = unraisable.exc_value
        signum = signal.SIGTERM if isinstance(unraisable.exc_value, Terminated) else signal.SIGINT
        # Later, from another thread: raised now, in this hook, it would be swallowed again.
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


def one_line_errors(command):
    """Turn VidemoError (bad input) into one line on stderr and exit status 1; Ctrl-C into 130, SIGTERM into 143."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        in_main_thread = threading.current_thread() is threading.main_thread()  # signal handlers can only be set there
        try:
            with Interrupts() if in_main_thread else contextlib.nullcontext():
                return command(*args, **kwargs)
        except VidemoError as e:
            click.echo(printable(f"videmo: error: {e}"), err=True)
            sys.exit(1)
        except Terminated:
            click.echo("videmo: terminated", err=True)
            sys.exit(128 + signal.SIGTERM)
        except KeyboardInterrupt:
            click.echo("videmo: interrupted", err=True)
            sys.exit(128 + signal.SIGINT)

    return wrapper
