"""Recommender defaults across datasets: the early-stopping default (refit, and the best-epoch
model without refit) against the former fixed 4-epoch default and most-popular, on the hidden split.

    jaxsae prepare ml-100k --out runs/ml100k      # ... one prepared run directory per dataset
    python -m experiments.rec_defaults runs/ml100k runs/mls runs/hetrec runs/demo [--json out.jsonl]

Prints one markdown row per run: hit@10 / ndcg@10 of each variant, the chosen epoch and wall time.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Dict, List

VARIANTS = {
    "former default (d=20, L2 0.01, 4 epochs)": dict(dim=20, l2=0.01, patience=0, epochs=4),
    "early stopping, best-epoch model": dict(refit=False),
    "early stopping + refit (default)": dict(),
}


def measure(run: Path) -> Dict[str, Any]:
    """Train every variant on `run/data`; figures on the hidden split beside most-popular."""
    from data_prep.dataset import InteractionData
    from jaxsae.metrics import evaluate_most_popular, evaluate_two_tower
    from jaxsae.training.rec import RecConfig, train_recommender

    data = InteractionData.load(run / "data")
    pop = evaluate_most_popular(data, ks=(10,))
    row: Dict[str, Any] = {"run": str(run), "most_popular": {k: pop[k] for k in ("hit@10", "ndcg@10")}}
    for name, kw in VARIANTS.items():
        t0 = time.perf_counter()
        tr = train_recommender(data, RecConfig(**kw), log=None)
        m = evaluate_two_tower(tr.two_tower, data, ks=(10,))
        row[name] = {"hit@10": m["hit@10"], "ndcg@10": m["ndcg@10"], "best_epoch": tr.best_epoch,
                     "epochs_run": len(tr.history), "wall_s": time.perf_counter() - t0,
                     "val": (tr.validation or {}).get("best")}
    return row


def markdown(rows: List[Dict[str, Any]]) -> str:
    """The table: per run most-popular and each variant's hit@10 / ndcg@10 (epochs, seconds)."""
    head = "| data | most popular | " + " | ".join(VARIANTS) + " |"
    lines = [head, "|" + "---|" * (2 + len(VARIANTS))]
    for r in rows:
        p = r["most_popular"]
        cells = [f"{p['hit@10']:.3f} / {p['ndcg@10']:.3f}"]
        for name in VARIANTS:
            v = r[name]
            cells.append(f"{v['hit@10']:.3f} / {v['ndcg@10']:.3f} (epoch {v['best_epoch']}, {v['wall_s']:.0f} s)")
        lines.append(f"| {Path(r['run']).name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="prepared run directories (RUN/data)")
    ap.add_argument("--json", default=None, help="also write one JSON line per run here")
    args = ap.parse_args()
    rows = []
    for run in args.runs:
        rows.append(measure(Path(run)))
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(rows[-1]) + "\n")
    print(markdown(rows))


if __name__ == "__main__":
    main()
