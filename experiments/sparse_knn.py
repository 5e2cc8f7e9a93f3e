"""An item-kNN candidate with a popularity prior on the sparse proxies, chosen on the validation slice only.

    JAXSAE_DATA_DIR=/work/shared/data python -m experiments.sparse_knn ml-1m ml-latest-small \
        [--seeds 0,1] [--json out.jsonl]

For each dataset and proxy seed: `sparse_proxy` of the data (every user keeps 2 + Poisson(1) rows),
prepared with one hidden positive per user; the recommender's validation slice (`validation_split`,
the sparse rule: one held-out training positive per user with at least two) is carved; on the fitted
matrix X (users x items, binary, counts c) the candidate scores

    s(u, i) = sum_j x_uj S_ji + beta log(1 + c_i) / log(1 + max c),   S_ji = (X^T X)_ji / (sqrt(c_j c_i) + lam)

(S's diagonal zeroed: an item-item cosine with shrinkage `lam`, plus a popularity prior) for every
(lam, beta) of the grid, full-ranking ndcg@10 on the slice. The best is kept only if it beats
most-popular's validation ndcg@10 by more than 1% (the grid's floor rule); it is then rebuilt on all
training positives and scored on the hidden split beside most-popular. Prints one markdown row per
dataset and seed.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import jax.numpy as jnp
import numpy as np

from data_prep import registry
from data_prep.preprocess import PrepareOptions, prepare
from experiments.rec_grid import emit, sparse_proxy
from jaxsae.metrics import evaluate_most_popular, evaluate_ranking
from jaxsae.training.rec import FLOOR_MARGIN, RecConfig, validation_split

LAMBDAS = (0.0, 10.0, 100.0)
BETAS = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)


def knn_parts(data: Any) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(X, c, X^T X)` of `data`'s training matrix (dense float32; the proxies are small)."""
    n_u, n_i = int(data.n_users), int(data.n_items)
    x = np.zeros((n_u, n_i), np.float32)
    counts = np.diff(np.asarray(data.train_indptr))
    x[np.repeat(np.arange(n_u), counts), np.asarray(data.train_indices)] = 1.0
    return x, x.sum(axis=0), x.T @ x


def knn_scores(parts: Tuple[np.ndarray, np.ndarray, np.ndarray], lam: float, betas: Sequence[float]):
    """`[scores_fn(users) -> [C, n_items]]` of the formula above for each of `betas` at shrinkage `lam`."""
    x, c, co = parts
    s = co / (np.sqrt(np.outer(c, c)) + lam + 1e-12)
    np.fill_diagonal(s, 0.0)
    xj, sj = jnp.asarray(x), jnp.asarray(s.astype(np.float32))
    del s
    pop = np.log1p(c) / np.log1p(max(float(c.max()), 1.0))
    return [(lambda users, pj=jnp.asarray((b * pop).astype(np.float32)): xj[jnp.asarray(users)] @ sj + pj[None, :])
            for b in betas]


def measure(name: str, seed: int) -> Dict[str, Any]:
    """The row of dataset `name`'s sparse proxy with proxy seed `seed`."""
    data_dir = Path(os.environ.get("JAXSAE_DATA_DIR", "data")) / name
    data = prepare(sparse_proxy(registry.load(name, data_dir), seed=seed), PrepareOptions(n_test=1))
    _, val = validation_split(data, RecConfig())
    pop_val = evaluate_most_popular(val, ks=(10,))["ndcg@10"]
    tried: List[Tuple[float, float, float]] = []
    parts = knn_parts(val)
    for lam in LAMBDAS:
        for beta, fn in zip(BETAS, knn_scores(parts, lam, BETAS)):
            tried.append((lam, beta, float(evaluate_ranking(fn, val, ks=(10,), chunk_size=256)["ndcg@10"])))
    del parts
    lam, beta, best = max(tried, key=lambda t: t[2])
    kept = best > pop_val * (1 + FLOOR_MARGIN)
    pop = evaluate_most_popular(data, ks=(10,))
    test = evaluate_ranking(knn_scores(knn_parts(data), lam, [beta])[0], data, ks=(10,), chunk_size=256)
    return {"dataset": f"sparse:{name}", "seed": seed, "lam": lam, "beta": beta, "val_knn": best,
            "val_most_popular": float(pop_val), "kept": "item-kNN" if kept else "most-popular",
            "test_knn": {k: test[k] for k in ("hit@10", "ndcg@10")},
            "test_most_popular": {k: pop[k] for k in ("hit@10", "ndcg@10")}, "tried": tried}


def markdown(rows: List[Dict[str, Any]]) -> str:
    """One row per dataset and seed: the chosen (lam, beta), validation ndcg@10 against most-popular,
    hidden-split hit@10 / ndcg@10 of the item-kNN and most-popular, and the ratio."""
    lines = ["| proxy (seed) | chosen lam, beta | validation ndcg@10: kNN / most popular | kept | "
             "test kNN | test most popular | kNN / most popular |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        t, p = r["test_knn"], r["test_most_popular"]
        lines.append(f"| {r['dataset']} ({r['seed']}) | {r['lam']:g}, {r['beta']:g} | {r['val_knn']:.4f} / "
                     f"{r['val_most_popular']:.4f} | {r['kept']} | {t['hit@10']:.3f} / {t['ndcg@10']:.3f} | "
                     f"{p['hit@10']:.3f} / {p['ndcg@10']:.3f} | {t['hit@10'] / max(p['hit@10'], 1e-12):.2f}x / "
                     f"{t['ndcg@10'] / max(p['ndcg@10'], 1e-12):.2f}x |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("datasets", nargs="+", help="base dataset names (their sparse proxies are used)")
    ap.add_argument("--seeds", default="0,1", help="proxy seeds")
    ap.add_argument("--json", default=None, help="also append one JSON line per row here")
    args = ap.parse_args()
    rows = []
    for name in args.datasets:
        for seed in (int(s) for s in args.seeds.split(",")):
            rows.append(measure(name, seed))
            emit(rows[-1], args.json, markdown)
    print(markdown(rows))


if __name__ == "__main__":
    main()
