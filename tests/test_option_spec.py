"""Every option is declared once (core.options' fields and their specs): the command's options, the
options objects' checks and the library's argument checks all follow that one declaration."""

from __future__ import annotations

import click
import pytest

import videmo
from videmo.cli import main
from videmo.core.errors import VidemoError
from videmo.core.options import AnalyzeOptions, BatchOptions
from videmo.core.spec import default_of, flag_of, keyword_of, specs
from videmo.core.training import TrainConfig


def params(command: str) -> dict[str, click.Parameter]:
    return {p.name: p for p in main.commands[command].params}


@pytest.mark.parametrize("command, options", [("analyze", AnalyzeOptions), ("analyze", BatchOptions), ("train", TrainConfig)])
def test_the_command_offers_each_option_with_its_declared_flag_default_and_range(command, options):
    offered = params(command)
    for f, spec in specs(options):
        if not spec.command:
            assert f.name not in offered
            continue
        param = offered[f.name]
        assert flag_of(f, spec) in param.opts + param.secondary_opts
        if spec.default_words is None and default_of(f) is not None:
            assert param.default == default_of(f)
        if spec.low is not None:
            assert param.type.min == spec.low and param.type.min_open == spec.open_low
            assert param.type.max == spec.high
        if spec.choices:
            assert tuple(param.type.choices) == tuple(spec.choices)


@pytest.mark.parametrize(
    "f, spec", [(f, s) for f, s in specs(AnalyzeOptions) if s.low is not None], ids=lambda x: getattr(x, "name", "")
)
def test_the_library_and_the_options_object_refuse_what_the_spec_refuses(f, spec):
    below = spec.low - 1
    with pytest.raises(ValueError, match=f"^{keyword_of(f, spec)} "):
        videmo.analyze("a.mp4", **{keyword_of(f, spec): below})
    with pytest.raises(VidemoError, match=f"^{f.name} "):
        AnalyzeOptions(**{f.name: below})


def test_a_training_option_out_of_its_range_is_refused_by_the_config_too():
    with pytest.raises(VidemoError, match="^--label-smoothing 1: must be at least 0 and below 1"):
        TrainConfig(data="x", label_smoothing=1.0).check()
    with pytest.raises(VidemoError, match="^--augment sideways: choose one of"):
        TrainConfig(data="x", augment="sideways").check()
