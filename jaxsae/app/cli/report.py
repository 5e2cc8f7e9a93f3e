"""`jaxsae report RUN`: RUN/report/index.html and report.md from the run"s JSON, and the
neuron explorer RUN/report/explorer.html. The flags are the fields of `ReportOptions`
(`jaxsae.app.stages.report`)."""
from __future__ import annotations

import argparse

from jaxsae.app.cli.flags import stage_command, stage_config
from jaxsae.app.stages import report as stage

config_from_args = stage_config(stage)  # the validated options of a parsed command line


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    stage_command(
        sub, stage=stage, name="report",
        help="write RUN/report/index.html and report.md with tables and figures",
        run_help="run directory")
