"""`jaxsae sweep RUN [--grid default|large|FILE] [--axis FIELD=V1,V2 ...] [--FIELD VALUE ...]`.

Trains a grid of SAEs on RUN's recommender in few compiled programs, scores every setting on
validation users (never the held-out users of `RUN/sae/metrics.json`) and writes
`RUN/sweep/sweep.json`, `RUN/sweep/pareto.png` and `config.json`; the selection rule is in
`jaxsae.selection._sweep`. `train-sae RUN --sae auto` runs the same sweep and installs its choice as
RUN/sae. Every `SAETrainConfig` field is a flag setting the sweep's base (`--set FIELD=VALUE` too), and
`--axis` takes any of them (`jaxsae.app.stages.train_sae.build_sweep`).
"""
from __future__ import annotations

import argparse
from pathlib import Path
from jaxsae.app.cli.flags import add_options
from jaxsae.app.stages import train_sae as stage
from jaxsae.app.cli.flags import given
from jaxsae.app.stages.auto_sae import run_sweep


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:

    p = sub.add_parser("sweep", help="train a grid of SAEs, score them on validation users, pick one (RUN/sweep/)",
                       description="Train a grid of SAEs in few compiled programs, score each on validation users "
                                   "(concepts beyond the null, rbo@30, kendall_tau@30, popularity) and write "
                                   "RUN/sweep/sweep.json and pareto.png.")
    p.add_argument("run", metavar="RUN", help="run directory with data/ and rec/")
    add_options(p, stage.SWEEP_OPTIONS, titles=stage.SWEEP_TITLES)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:

    config = stage.build_sweep(given(args, exclude=("run",)))
    doc, _ = run_sweep(Path(args.run), config, log=lambda s: print(f"[sweep] {s.removeprefix('sweep: ')}", flush=True))
    c = doc["cost"]
    print(f"[sweep] {c['n_runs']} SAEs in {c['n_programs']} programs, {c['wall_s']:.1f} s "
          f"({c['wall_per_sae_s']:.2f} s per SAE)", flush=True)
    return 0
