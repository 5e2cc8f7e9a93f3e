"""`jaxsae train-rec RUN [--model mf|ncf] [options]`: train a recommender on `RUN/data`.

The flags are the fields of `TrainRecOptions` and `RecConfig` (`jaxsae.app.stages.train_rec`, the stage's one
definition). Writes `RUN/rec/` (checkpoint, `config.json`, `stage.json`, then `metrics.json`).
"""
from __future__ import annotations

import argparse
from pathlib import Path
from jaxsae.app.cli.flags import add_options
from jaxsae.app.stages import train_rec as stage
from jaxsae.app.cli.flags import given


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:

    p = sub.add_parser("train-rec", help="train an MF or NCF recommender on RUN/data (writes RUN/rec/)",
                       description="Train an MF or NCF recommender on RUN/data; writes RUN/rec/.")
    p.add_argument("run", metavar="RUN", help="run directory holding data/ (from `jaxsae prepare`)")
    p.add_argument("--resume", action="store_true", help="continue from RUN/rec's last checkpoint")
    add_options(p, stage.OPTIONS, titles=stage.TITLES)
    p.set_defaults(func=main)


def config_from_args(args: argparse.Namespace) -> "object":
    """The validated `TrainRecConfig` of the command line (the stage's own `build`)."""

    return stage.build(given(args, exclude=("run", "resume")))


def main(args: argparse.Namespace) -> int:

    config = config_from_args(args)  # validated before anything is read
    stage.run(Path(args.run), config, resume=args.resume, log=lambda s: print(s, flush=True))
    return 0
