"""Every option declared once: a field of an options object (``AnalyzeOptions``, ``TrainConfig``,
``BatchOptions``) with its default, and beside it, in the field's metadata, its flag, range, choices
and help. The command's options (``cli``), the objects' own checks and the library's argument checks
(``api``) are all read from here, so an option is added or changed in one place.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class Spec:
    """How one option is offered and checked, beside its field's default."""

    help: str
    flag: str | None = None  # the command's flag; default: --field-name
    short: str | None = None  # a one-letter alias, "-w"
    low: float | None = None  # the range: lowest (excluded with open_low), highest (excluded with open_high)
    open_low: bool = False
    high: float | None = None
    open_high: bool = False
    choices: tuple[str, ...] | None = None
    switch: bool = False  # --x/--no-x rather than a flag that only turns on
    path: bool = False
    default_words: str | None = None  # the command leaves it unset and says this default in its help
    flag_value: str | None = None  # the value of the flag given without one ("--ray" alone is "local")
    command: bool = True  # offered by the command line

    def bounds(self) -> str:
        """The range in words: 'above 0', 'at least 1 and at most 256'."""
        text = f"{'above' if self.open_low else 'at least'} {plain(self.low)}"
        if self.high is not None:
            text += f" and {'below' if self.open_high else 'at most'} {plain(self.high)}"
        return text

    def in_range(self, value: float) -> bool:
        if self.low is not None and (value < self.low or (self.open_low and value == self.low)):
            return False
        return self.high is None or value < self.high or (not self.open_high and value == self.high)


def option(default: Any, help: str, **spec: Any) -> Any:
    """A dataclass field with a default and the ``Spec`` of its option."""
    return field(default=default, metadata={"spec": Spec(help=help, **spec)})


def specs(options: type) -> list[tuple[Field, Spec]]:
    """The fields of an options dataclass that are options, in its order, each with its ``Spec``."""
    return [(f, f.metadata["spec"]) for f in fields(options) if "spec" in f.metadata]


def spec_of(options: type, name: str) -> Spec:
    return next(s for f, s in specs(options) if f.name == name)


def flag_of(f: Field, spec: Spec) -> str:
    return spec.flag or "--" + f.name.replace("_", "-")


def keyword_of(f: Field, spec: Spec) -> str:
    """The library's keyword for an option: its flag's name (``--smooth`` is ``smooth=``)."""
    return flag_of(f, spec).removeprefix("--").replace("-", "_")


def default_of(f: Field) -> Any:
    return None if f.default is MISSING else f.default


def whole(f: Field) -> bool:
    """Whether the option takes whole numbers (its field is an int)."""
    return str(f.type).split(" ")[0] == "int"


def numeric(f: Field) -> bool:
    return str(f.type).split(" ")[0] in ("int", "float")


def optional(f: Field) -> bool:
    """Whether None is a value (the option is not set)."""
    return "None" in str(f.type)


def plain(value: object) -> str:
    """A bound as a message shows it: no '.0' on a whole number."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value)
