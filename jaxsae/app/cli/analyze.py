"""`jaxsae analyze RUN [--k 5,10,20,50] [--null-seeds 5] [--min-support N] ...`.

The flags are the fields of `AnalysisConfig` (`jaxsae.app.stages.analyze`, the stage"s one definition);
writes `RUN/analysis/`.
"""
from __future__ import annotations

import argparse

from jaxsae.app.cli.flags import stage_command, stage_config
from jaxsae.app.stages import analyze as stage

config_from_args = stage_config(stage)  # the validated options of a parsed command line


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    stage_command(
        sub, stage=stage, name="analyze",
        help="concept purity, popularity/temporal neurons, MS and neuron cards (RUN/analysis/)",
        run_help="run directory with data/, rec/ and sae/")
