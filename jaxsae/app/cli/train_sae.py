"""`jaxsae train-sae RUN [--sae tied|topk|matryoshka|auto] [options]`: train the SAE of a run.

The flags are the fields of `TrainSAEOptions`, `SAETrainConfig` and, for `--sae auto` (the default without
`--sae`/`--preset`), the sweep's (`jaxsae.app.stages.train_sae`, the stage's one definition). Reads `RUN/data/`
and `RUN/rec/`, trains through the frozen recommender and writes `RUN/sae/` (checkpoint, `config.json`,
`history.json`, then `metrics.json`).
"""
from __future__ import annotations

import argparse
from pathlib import Path
from jaxsae.app.cli.flags import add_options
from jaxsae.app.stages import train_sae as stage
from jaxsae.app.cli.flags import given


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:

    p = sub.add_parser("train-sae", help="train the sparse autoencoder through the frozen recommender (RUN/sae/)",
                       description="Train a prediction-aware SAE on RUN/rec's embeddings; writes RUN/sae/.")
    p.add_argument("run", help="run directory (holds data/ and rec/)")
    p.add_argument("--resume", action="store_true", help="continue from RUN/sae's last checkpoint")
    add_options(p, stage.OPTIONS, titles=stage.TITLES)
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> "object":
    """The validated config of the command line (the stage's own `build`): an `SAETrainConfig`, or with
    `--sae auto` the `SweepConfig` whose grid the automatic choice sweeps."""

    return stage.build(given(args, exclude=("run", "resume")))


def run(args: argparse.Namespace) -> int:

    config = config_from_args(args)  # validated before anything is read
    stage.run(Path(args.run), config, resume=args.resume, log=lambda line: print(line, flush=True))
    return 0
