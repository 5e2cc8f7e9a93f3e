"""`jaxsae ablate RUN [--pred-weights 0,1,2,5,10] [--steps N] [--seeds 0,1] [--sae-preset NAME]`.

The flags are the fields of `AblationConfig` (`jaxsae.app.stages.ablate`, the stage"s one definition); writes
`RUN/ablation/` (`ablation.json`: per w_pred `rbo@30`, `kendall_tau@30`, `rbo_paper`, `kendall_tau_paper`,
`ms`, `best_purity@10`, `n_concepts_pure@10`, `fvu`, `l0`; `ablation.png`; `config.json`).
"""
from __future__ import annotations

import argparse

from jaxsae.app.cli.flags import stage_command, stage_config
from jaxsae.app.stages import ablate as stage

config_from_args = stage_config(stage)  # the validated options of a parsed command line


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    stage_command(
        sub, stage=stage, name="ablate",
        help="retrain the SAE for several w_pred and compare fidelity, MS, purity (RUN/ablation/)",
        run_help="run directory with data/ and rec/ (and sae/ for its config)")
