"""Which setting gives which w_pred curve: from a run's recommender and SAE config, retrain the whole w_pred
ablation once per setting (a few SAE options changed) and report the reference's fidelity (`rbo_paper`,
`kendall_tau_paper`) and MS per w_pred as mean +- standard deviation over seeds.

    python -m experiments.curve_effects runs/ml1m-mf-ref --seeds 0,1,2 \\
        --setting "as trained" --setting "input_scaling=none" --setting "input_scaling=none;epochs=null;steps=5000"

A setting is `key=value;key=value` over `SAETrainConfig` fields (values read as JSON, else as text), or
"as trained". `--sae-from RUN2` takes the SAE config from another run (the same SAE on another recommender).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

KEYS = ("rbo_paper", "kendall_tau_paper", "ms", "rbo@30", "kendall_tau@30", "fvu", "l0")


def parse_setting(text: str) -> Dict[str, Any]:
    """`"a=1;b=none;c=null"` -> `{"a": 1, "b": "none", "c": None}`; "as trained" -> `{}`."""
    out: Dict[str, Any] = {}
    for part in (p.strip() for p in text.split(";")):
        if not part or part == "as trained":
            continue
        key, _, raw = part.partition("=")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw.strip()
    return out


def curve(two_tower: Any, data: Any, config: Any, weights: List[float], seeds: List[int]) -> Dict[str, Any]:
    """The ablation rows of `config` with, per metric, the seeds' standard deviation beside the mean."""
    from jaxsae.selection import AblationConfig, ablate

    t0 = time.perf_counter()
    rows = ablate(two_tower, data, config, AblationConfig(pred_weights=tuple(weights), seeds=tuple(seeds)),
                  log=lambda _: None)
    for r in rows:
        for k in KEYS:
            r[f"{k}_sd"] = float(np.std([s[k] for s in r["per_seed"]]))
    return {"rows": rows, "steps": rows[0]["steps"], "seconds": time.perf_counter() - t0}


def markdown(results: List[Dict[str, Any]], weights: List[float], keys=("rbo_paper", "kendall_tau_paper", "ms")) -> str:
    """One row per setting and metric, `mean +- sd` per w_pred."""
    head = "| setting | steps | metric | " + " | ".join(f"w_pred {w:g}" for w in weights) + " |"
    lines = [head, "|" + "---|" * (3 + len(weights))]
    for res in results:
        for k in keys:
            cells = [f"{r[k]:.3f} +- {r[k + '_sd']:.3f}" for r in res["rows"]]
            lines.append(f"| {res['setting']} | {res['steps']} | {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> str:
    """Parse, train every setting's ablation, print and write the table."""
    from data_prep.dataset import InteractionData
    from jaxsae.checkpoint import checkpoint_meta
    from jaxsae.sae import SAETrainConfig
    from jaxsae.training.rec import load_recommender

    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("run", type=Path, help="run directory with data/, rec/ and sae/")
    p.add_argument("--sae-from", type=Path, default=None, help="take the SAE config from this run instead")
    p.add_argument("--setting", action="append", default=None, help="key=value;... (repeatable)")
    p.add_argument("--weights", default="0,1,2,5,10", help="w_pred values")
    p.add_argument("--seeds", default="0", help="initialization seeds, comma-separated")
    p.add_argument("--out", type=Path, default=None, help="also write the markdown here")
    p.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    args = p.parse_args(argv)
    weights = [float(w) for w in args.weights.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    meta = checkpoint_meta((args.sae_from or args.run) / "sae")
    if meta is None:
        raise SystemExit(f"{args.sae_from or args.run}/sae: no trained SAE")
    base = SAETrainConfig.from_dict(meta["config"])
    data = InteractionData.load(args.run / "data")
    tt = load_recommender(args.run / "rec")
    results = []
    for text in args.setting or ["as trained"]:
        res = {"setting": text, **curve(tt, data, base.replace(**parse_setting(text)), weights, seeds)}
        results.append(res)
        print(f"[curves] {text} ({res['steps']} steps, {res['seconds']:.0f} s): "
              + " ".join(f"{r['rbo_paper']:.3f}" for r in res["rows"]), flush=True)
        if args.json:  # written after every setting: a long sweep keeps what it measured
            args.json.write_text(json.dumps(results, indent=1))
    text = (f"run {args.run}" + (f", SAE config of {args.sae_from}" if args.sae_from else "")
            + f", seeds {seeds}\n\n" + markdown(results, weights))
    print(text)
    if args.out:
        args.out.write_text(text)
    return text


if __name__ == "__main__":
    main()
