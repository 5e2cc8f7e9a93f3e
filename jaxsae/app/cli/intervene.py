"""`jaxsae intervene RUN --filter CONCEPT | --nudge CONCEPT | --promote ITEM | --benchmark CONCEPT [options]`.

The flags are the fields of `InterveneTarget` and `InterveneOptions` (`jaxsae.app.stages.intervene`, the stage"s
one definition). Writes `RUN/interventions/{filter,nudge,promote}-<name>.json` (`benchmark.json`) (keys in
docs/ARCHITECTURE.md) and `config.json`. Negative levels need `--levels=-0.5,-1` (with `=`).
"""
from __future__ import annotations

import argparse

from jaxsae.app.cli.flags import stage_command, stage_config
from jaxsae.app.stages import intervene as stage

config_from_args = stage_config(stage)  # the validated options of a parsed command line


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    stage_command(
        sub, stage=stage, name="intervene",
        help="filter, nudge or promote through an SAE neuron, or benchmark steering against baselines without an SAE (RUN/interventions/)",
        run_help="run directory with data/, rec/ and sae/")
