"""`jaxsae ablate RUN --pred-weights 0,1,2,5,10 [--steps N] [--seeds 0,1]` (SPEC §6.4, §8).

Retrains the run's SAE (the config of `RUN/sae`, a paper setting with `--sae-preset`, or the defaults
when there is none) once per
`w_pred` and seed, all in one vmapped program, and writes `RUN/ablation/ablation.json` (one row per
w_pred: `rbo@30`, `kendall_tau@30`, `rbo_paper`, `kendall_tau_paper`, `ms`, `best_purity@10`, `n_concepts_pure@10`, `fvu`, `l0`),
`ablation.png` when matplotlib is installed, and `config.json`.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from jaxsae.cli.analyze import float_list, int_list
from jaxsae.io import save_stage_config, write_json


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("ablate", help="retrain the SAE for several w_pred and compare fidelity, MS, purity (RUN/ablation/)")
    p.add_argument("run", metavar="RUN", help="run directory with data/ and rec/ (and sae/ for its config)")
    p.add_argument("--pred-weights", default="0,1,2,5,10", help="w_pred values, comma-separated (paper: 0,1,2,5,10)")
    p.add_argument("--steps", type=int, default=None, help="steps per run (default: the SAE config's budget)")
    p.add_argument("--seeds", default="0", help="initialization seeds per weight, comma-separated")
    p.add_argument("--sae-preset", default=None,
                   help="ablate a paper SAE setting (e.g. ml1m-mf: tied ReLU, KL) instead of RUN/sae's config")
    p.set_defaults(func=main)


def config_from_args(args: argparse.Namespace) -> Any:
    """The validated `AblationConfig` of the command line."""
    from jaxsae.analysis.ablation import AblationConfig

    return AblationConfig(pred_weights=tuple(float_list(args.pred_weights)), seeds=tuple(int_list(args.seeds)),
                          steps=args.steps, sae_preset=args.sae_preset)


def main(args: argparse.Namespace) -> int:
    from data_prep.dataset import InteractionData
    from jaxsae.analysis.ablation import ablate, plot
    from jaxsae.checkpoint import checkpoint_meta
    from jaxsae.sae.config import SAETrainConfig
    from jaxsae.training.recommender import load_recommender

    config = config_from_args(args)
    from jaxsae import lineage

    run = Path(args.run)
    lineage.require(run, "rec")
    data = InteractionData.load(run / "data")
    sae_ok = lineage.status(run, "sae").ok  # the SAE's config is used only when that SAE is usable
    meta = checkpoint_meta(run / "sae") if sae_ok else None
    base = SAETrainConfig.from_dict(meta["config"]) if meta else SAETrainConfig()
    if config.sae_preset is not None:
        from jaxsae.sae.config import from_preset

        base = from_preset(config.sae_preset, seed=base.seed)
        print(f"[ablate] ablating the paper's {config.sae_preset} SAE setting ({base.sae}, {base.latents} latents)",
              flush=True)
    elif not meta:
        print("[ablate] no usable trained SAE in RUN/sae: using the default SAE config", flush=True)
    two_tower = load_recommender(run / "rec")
    with lineage.stage(run, "ablation", config={"ablation": config, "sae_config": base.to_dict()},
                       inputs=("data", "rec"), optional_inputs=("sae",)) as out:
        save_stage_config(out, config, seed=base.seed, extra={"sae_config": base.to_dict()})
        rows = ablate(two_tower, data, base, config, log=lambda s: print(f"[ablate] {s.removeprefix('ablate: ')}",
                                                                          flush=True))
        has_png = plot(rows, out / "ablation.png")
        write_json(out / "ablation.json", rows)
    out = run / "ablation"
    print(f"[ablate] {'w_pred':>7}{'rbo@30':>8}{'tau@30':>8}{'rbo_pap':>8}{'tau_pap':>8}{'ms':>7}{'p@10':>7}"
          f"{'pure':>6}{'fvu':>7}{'l0':>6}", flush=True)
    for r in rows:
        print(f"[ablate] {r['w_pred']:7g}{r['rbo@30']:8.3f}{r['kendall_tau@30']:8.3f}{r['rbo_paper']:8.3f}"
              f"{r['kendall_tau_paper']:8.3f}{r['ms']:7.3f}"
              f"{r['best_purity@10']:7.2f}{r['n_concepts_pure@10']:6.1f}{r['fvu']:7.3f}{r['l0']:6.2f}", flush=True)
    print(f"[ablate] -> {out / 'ablation.json'}{' and ablation.png' if has_png else ''}", flush=True)
    return 0
