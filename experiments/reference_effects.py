"""The measured effect of each reference-code option (docs/REFERENCE.md): starting from a run's SAE config
(a `--variant reference` run), turn one option back to jaxsae's default at a time, retrain at the same
w_pred, and report the reference's fidelity (`rbo_paper`, `kendall_tau_paper`), ours (`rbo@30`,
`kendall_tau@30`) and MS, averaged over seeds.

    python -m experiments.reference_effects runs/ml100k-mf-ref [--seeds 0,1,2] [--out effects.md] [--json F]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

# option -> jaxsae's default value (a toggle is applied only when the run's config differs from it)
DEFAULTS: Tuple[Tuple[str, Any], ...] = (
    ("input_scaling", "none"), ("std_ddof", 0), ("kl_log_eps", 0.0), ("schedule", "stream"),
    ("pairs", "random"), ("pre_bias", True), ("latent_bias_init", "zeros"), ("normalize", True),
)
KEYS = ("rbo_paper", "kendall_tau_paper", "rbo@30", "kendall_tau@30", "ms", "fvu", "l0")


def measure_config(two_tower: Any, data: Any, config: Any, seeds: List[int]) -> Dict[str, float]:
    """Mean over seeds of `KEYS` for an SAE trained with `config` (the ablation's own measurements)."""
    from jaxsae.selection import measure
    from jaxsae.training.sae import train_sae

    rows = []
    rec_items = np.asarray(two_tower.item_emb, np.float32)
    for s in seeds:
        trained, _ = train_sae(two_tower, data, config.replace(seed=s), log=lambda _: None)
        rows.append(measure(trained, data, rec_items))
    return {k: float(np.mean([r[k] for r in rows])) for k in KEYS}


def main(argv: Optional[List[str]] = None) -> str:
    from data_prep.dataset import InteractionData
    from jaxsae.checkpoint import checkpoint_meta
    from jaxsae.sae import SAETrainConfig
    from jaxsae.training.rec import load_recommender

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="a run trained with --variant reference")
    p.add_argument("--seeds", default="0", help="seeds per setting, comma-separated")
    p.add_argument("--out", type=Path, default=None, help="also write the markdown table here")
    p.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    meta = checkpoint_meta(args.run / "sae")
    if meta is None:
        raise SystemExit(f"{args.run}/sae: no trained SAE")
    base = SAETrainConfig.from_dict(meta["config"])
    data = InteractionData.load(args.run / "data")
    tt = load_recommender(args.run / "rec")
    settings: List[Tuple[str, Any]] = [("reference (as trained)", base)]
    for name, default in DEFAULTS:
        if getattr(base, name) != default:
            settings.append((f"{name} = {default!r} (jaxsae)", base.replace(**{name: default})))
    all_defaults = base.replace(**{n: d for n, d in DEFAULTS if getattr(base, n) != d})
    settings.append(("all of the above at jaxsae's values", all_defaults))
    rows = []
    for label, cfg in settings:
        m = measure_config(tt, data, cfg, seeds)
        rows.append({"setting": label, **m})
        print(f"[effects] {label}: " + " ".join(f"{k} {m[k]:.3f}" for k in KEYS), flush=True)
    head = "| setting | " + " | ".join(KEYS) + " |"
    lines = [head, "|" + "---|" * (len(KEYS) + 1)]
    lines += ["| " + r["setting"] + " | " + " | ".join(f"{r[k]:.3f}" for k in KEYS) + " |" for r in rows]
    text = (f"w_pred {base.w_pred:g}, seeds {seeds}, run {args.run}\n\n" + "\n".join(lines) + "\n")
    print(text)
    if args.out:
        args.out.write_text(text)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return text


if __name__ == "__main__":
    main()
