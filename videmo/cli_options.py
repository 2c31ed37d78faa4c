"""Click's options generated from the option spec (core.spec): every option of the command is declared once, beside its options object's field."""

from __future__ import annotations

import dataclasses
import math

import click

from videmo.core.spec import default_of, flag_of, numeric, specs, whole


class Number(click.FloatRange):
    """A finite number, in range: click's FloatRange lets nan and inf through (every comparison with nan is false)."""

    name = "number"

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value} is not a finite number.", param, ctx)
        return number


def options_of(options: type, only: tuple[str, ...] | None = None, unset: str | None = None):
    """Click's options for every field of ``options`` that the command offers (or those ``only`` names),
    from its spec: the flag, range, choices, default and help declared once beside the field. With
    ``unset``, none has a default: the help says ``unset`` instead."""

    def decorate(command):
        for f, spec in reversed(specs(options)):
            if spec.command and (only is None or f.name in only):
                kwargs = settings(f, spec)
                if unset:
                    kwargs.update(default=None, show_default=False, help=f"{spec.help} [default: {unset}]")
                    kwargs.pop("flag_value", None) if kwargs.get("is_flag") else None
                command = click.option(*declarations(f, spec), **kwargs)(command)
        return command

    return decorate


def declarations(f, spec) -> list[str]:
    flag = flag_of(f, spec)
    if spec.switch:
        flag = f"{flag}/--no-{flag.removeprefix('--')}"
    return [*([spec.short] if spec.short else []), flag, f.name]


def settings(f, spec) -> dict:
    default = default_of(f)
    kwargs = {"help": spec.help}
    if spec.choices:
        kwargs["type"] = click.Choice(spec.choices)
    elif numeric(f) and whole(f):
        kwargs["type"] = (
            click.IntRange(spec.low, spec.high, min_open=spec.open_low, max_open=spec.open_high) if spec.low is not None else int
        )
    elif numeric(f):
        kwargs["type"] = Number(spec.low, spec.high, min_open=spec.open_low, max_open=spec.open_high)
    elif spec.path:
        kwargs["type"] = click.Path()
    if spec.flag_value is not None:
        kwargs.update(is_flag=False, flag_value=spec.flag_value, metavar="[ADDRESS]")
    elif str(f.type) == "bool" and not spec.switch:
        kwargs.update(is_flag=True, flag_value=not default, default=default)
        return kwargs
    if spec.default_words:
        kwargs["help"] += f" [default: {spec.default_words}]"
    elif f.default is dataclasses.MISSING:
        kwargs["required"] = True
    elif default is not None:
        kwargs.update(default=default, show_default=True)
    elif spec.switch:  # --x/--no-x, neither given: None (click would make it False)
        kwargs.update(default=None)
    return kwargs
