"""`jaxsae ablate RUN [--pred-weights 0,1,2,5,10] [--steps N] [--seeds 0,1] [--sae-preset NAME]`.

The flags are the fields of `AblationConfig` (`jaxsae.app.stages.ablate`, the stage's one definition); writes
`RUN/ablation/` (`ablation.json`: per w_pred `rbo@30`, `kendall_tau@30`, `rbo_paper`, `kendall_tau_paper`,
`ms`, `best_purity@10`, `n_concepts_pure@10`, `fvu`, `l0`; `ablation.png`; `config.json`).
"""
from __future__ import annotations

import argparse
from pathlib import Path
from jaxsae.app.cli.flags import add_options
from jaxsae.app.stages import ablate as stage
from jaxsae.app.cli.flags import given


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:

    p = sub.add_parser("ablate", help="retrain the SAE for several w_pred and compare fidelity, MS, purity (RUN/ablation/)")
    p.add_argument("run", metavar="RUN", help="run directory with data/ and rec/ (and sae/ for its config)")
    add_options(p, stage.OPTIONS)
    p.set_defaults(func=main)


def config_from_args(args: argparse.Namespace) -> "object":
    """The validated `AblationConfig` of the command line (the stage's own `build`)."""

    return stage.build(given(args, exclude=("run",)))


def main(args: argparse.Namespace) -> int:

    stage.run(Path(args.run), config_from_args(args), log=lambda s: print(s, flush=True))
    return 0
