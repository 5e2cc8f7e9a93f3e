"""Filter methods chosen on validation users and reported on other users.

    python -m experiments.filter_methods RUN... [--concepts A,B] [--json out.jsonl]

RUN: a run directory with `data`, `rec` and `sae` (`jaxsae run`, or `jaxsae prepare` + `train-rec` +
`train-sae`). The SAE's held-out users (the filter's default pool) are split in two halves by a seeded
permutation: the validation users and the report users. On each half every method of `METHODS` filters
each concept (`filter_experiment`, its 100 biggest fans in that half, the default levels): the removal
at rest-RBO >= 0.8 (the headline) and the area under the removal vs rest-RBO curve. The method with the
best mean removal over the concepts on the validation half (ties: AUC) is the one chosen; the table gives
every method's figures on both halves, so a choice that does not hold on the report users shows.
Concepts: `--concepts`, else the four with the largest share of the pool's top-20 among those below 25%.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from data_prep.dataset import InteractionData
from jaxsae.app.runs import load_run_sae
from jaxsae.interventions import Steerer, baseline_top, concept_share, filter_experiment

# (label, filter_experiment options): the paper's user-side push, today's weighted edit, an item-side
# edit of the concept's latent, the norm-preserving redistribution
METHODS: Tuple[Tuple[str, Dict[str, Any]], ...] = (
    ("neuron, user side (paper)", dict(method="neuron", side="user")),
    ("weighted, user side", dict(method="weighted", side="user")),
    ("neuron, item side", dict(method="neuron", side="item")),
    ("redistribute, user side", dict(method="redistribute", side="user")),
)


def split_users(pool: np.ndarray, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """`(validation, report)`: disjoint halves of `pool`, sorted, by a permutation seeded with `seed`."""
    perm = np.random.default_rng(seed).permutation(np.asarray(pool))
    half = perm.shape[0] // 2
    return np.sort(perm[:half]), np.sort(perm[half:])


def default_concepts(steerer: Steerer, data: Any, pool: np.ndarray, n: int = 4, below: float = 0.25) -> List[str]:
    """The `n` concepts with the largest mean share of the pool's top-20 among those below `below`."""
    top = baseline_top(steerer, data, pool, 20)
    shares = [(float(concept_share(top, np.asarray(data.concepts[:, c], bool)).mean()), name)
              for c, name in enumerate(data.concept_names)]
    return [name for s, name in sorted(shares, reverse=True) if s < below][:n]


def choose(rows: Sequence[Dict[str, Any]]) -> str:
    """The method with the best mean validation removal over the concepts (ties: mean AUC)."""
    by: Dict[str, List[Tuple[float, float]]] = {}
    for r in rows:
        by.setdefault(r["method"], []).append((r["validation"]["removal"], r["validation"]["auc"]))
    return max(by, key=lambda m: (np.mean([v[0] for v in by[m]]), np.mean([v[1] for v in by[m]])))


def measure(run: Path, concepts: Optional[Sequence[str]] = None, seed: int = 0) -> Dict[str, Any]:
    """Every method on every concept, on both halves of the held-out users of `run`."""
    data = InteractionData.load(run / "data")
    sae = load_run_sae(run)
    steerer = Steerer.from_trained(sae)
    pool = np.asarray(sae.heldout_users)
    val_users, report_users = split_users(pool, seed)
    concepts = list(concepts or default_concepts(steerer, data, pool))
    rows = []
    for concept in concepts:
        for label, kw in METHODS:
            row: Dict[str, Any] = {"concept": concept, "method": label}
            for half, users in (("validation", val_users), ("report", report_users)):
                out = filter_experiment(steerer, data, concept, users, **kw)
                row[half] = {"removal": out["removal"], "rest_rbo": out["rest_rbo"], "level": out["level"],
                             "auc": out["removal_auc"], "share_before": out["concept_share_before"],
                             "max_removal": out["max_removal"]["removal"]}
            rows.append(row)
    return {"run": str(run), "dataset": data.dataset, "users": [int(len(val_users)), int(len(report_users))],
            "concepts": concepts, "rows": rows, "chosen": choose(rows)}


def markdown(result: Dict[str, Any]) -> str:
    """Per concept and method: validation and report removal at rest-RBO >= 0.8 and AUC; the chosen method
    marked, with its mean over the concepts on the report users beside the others'."""
    lines = [f"{result['dataset']} ({result['run']}; {result['users'][0]} validation / {result['users'][1]} "
             f"report users): chosen on validation: **{result['chosen']}**", "",
             "| concept (share before) | method | validation: removal at rest-RBO >= 0.8 / AUC | "
             "report: removal / rest-RBO / AUC |", "|---|---|---|---|"]
    for r in result["rows"]:
        v, t = r["validation"], r["report"]
        mark = "**" if r["method"] == result["chosen"] else ""
        lines.append(f"| {r['concept']} ({t['share_before']:.2f}) | {mark}{r['method']}{mark} | "
                     f"{v['removal']:.0%} / {v['auc']:.2f} | {t['removal']:.0%} / {t['rest_rbo']:.2f} / {t['auc']:.2f} |")
    lines += ["", "| method | mean validation removal / AUC | mean report removal / AUC |", "|---|---|---|"]
    for label, _ in METHODS:
        rs = [r for r in result["rows"] if r["method"] == label]
        mv = [np.mean([r[h][k] for r in rs]) for h in ("validation", "report") for k in ("removal", "auc")]
        lines.append(f"| {label} | {mv[0]:.0%} / {mv[1]:.2f} | {mv[2]:.0%} / {mv[3]:.2f} |")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--concepts", default=None, help="comma-separated concept names (default: see above)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the validation / report split")
    ap.add_argument("--json", default=None, help="also append one JSON line per run here")
    args = ap.parse_args(argv)
    for run in args.runs:
        result = measure(run, args.concepts.split(",") if args.concepts else None, args.seed)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(result) + "\n")
        print(markdown(result), flush=True)


if __name__ == "__main__":
    main()
