"""`jaxsae import-rec RUN --tables FILE [FILE] [--score dot|cosine] [--by-position]`: an outside model as
`RUN/rec/`. The flags are the fields of `ImportRecOptions` (`jaxsae.app.stages.import_rec`)."""
from __future__ import annotations

import argparse

from jaxsae.app.cli.flags import stage_command, stage_config
from jaxsae.app.stages import import_rec as stage

config_from_args = stage_config(stage)  # the validated options of a parsed command line


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    stage_command(
        sub, stage=stage, name="import-rec",
        help="use embeddings trained elsewhere as RUN/rec/ (aligned by id)",
        run_help="run directory holding data/ (from `jaxsae prepare`)",
        description="Write RUN/rec/ from outside user/item tables aligned by id to RUN/data.")
