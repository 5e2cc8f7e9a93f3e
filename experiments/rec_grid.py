"""The recommender's validation grid against most-popular and the single former default, on the hidden split.

    JAXSAE_DATA_DIR=/work/shared/data python -m experiments.rec_grid ml-100k ml-latest-small \
        lastfm-hetrec-2k synthetic sparse:ml-latest-small [--json out.jsonl]

Each dataset is loaded and prepared as `jaxsae prepare` does by default (n_test 5); `sparse:NAME` is
`sparse_proxy` of NAME: every user keeps `2 + Poisson(1)` of their rows (a median of 3 rows, 2 training
positives), prepared with one hidden positive per user. Prints one markdown row per dataset: hit@10 /
ndcg@10 of most-popular, of the single default (d=64, L2 0.03, no grid) and of the grid's choice, the
candidate kept, wall and CPU seconds (`--grid-only`: the grid alone).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np

SPARSE_PREFIX = "sparse:"


def sparse_proxy(raw: Any, extra_mean: float = 1.0, seed: int = 0) -> Any:
    """A very sparse copy of `raw` (a `RawDataset`): each user keeps `min(n_u, 2 + Poisson(extra_mean))`
    of their rows, chosen at random (median 3 rows per user with the default; every user keeps at least
    2, so one can be hidden). Deterministic in `seed`."""
    import dataclasses

    users = np.asarray(raw.user)
    rng = np.random.default_rng(seed)
    codes, inverse = np.unique(users.astype(str), return_inverse=True)  # string order, for integer ids too
    keep_n = 2 + rng.poisson(extra_mean, size=codes.size)
    order = np.lexsort((rng.random(users.size), inverse))  # rows grouped by user, shuffled within
    start = np.searchsorted(inverse[order], np.arange(codes.size))
    rank = np.empty(users.size, np.int64)
    rank[order] = np.arange(users.size) - start[inverse[order]]
    keep = rank < keep_n[inverse]
    cut = {name: np.asarray(getattr(raw, name))[keep] for name in ("user", "item", "value", "timestamp")}
    info = {**(raw.info or {}), "sparse_proxy": {"extra_mean": extra_mean, "seed": seed, "rows": int(keep.sum())}}
    return dataclasses.replace(raw, name=f"sparse-{raw.name}", info=info, **cut)


def load_prepared(name: str) -> Any:
    """`InteractionData` of dataset `name` (or `sparse:NAME`), prepared with the defaults."""
    from data_prep import registry
    from data_prep.preprocess import PrepareOptions, prepare

    sparse = name.startswith(SPARSE_PREFIX)
    base = name[len(SPARSE_PREFIX):] if sparse else name
    spec = registry.get(base)
    data_dir = Path(os.environ.get("JAXSAE_DATA_DIR", "data")) / base if spec.needs_data_dir else None
    raw = registry.load(base, data_dir, **({"size": "demo"} if base == "synthetic" else {}))
    if sparse:
        return prepare(sparse_proxy(raw), PrepareOptions(n_test=1))
    return prepare(raw, PrepareOptions())


def measure(name: str, variants: Tuple[str, ...] = ("single default", "grid")) -> Dict[str, Any]:
    """Most-popular and `variants` (the single default, the grid) on dataset `name`'s hidden split, with
    wall and CPU seconds of training (this process's user + system time)."""
    from jaxsae.metrics import evaluate_most_popular, evaluate_two_tower
    from jaxsae.training.rec import RecConfig, train_recommender

    data = load_prepared(name)
    counts = np.diff(np.asarray(data.train_indptr))
    pop = evaluate_most_popular(data, ks=(10,))
    row: Dict[str, Any] = {"dataset": name, "users": int(data.n_users), "items": int(data.n_items),
                           "median_train_per_user": float(np.median(counts)),
                           "most_popular": {k: pop[k] for k in ("hit@10", "ndcg@10")}}
    configs = {"single default": RecConfig(grid=False), "grid": RecConfig()}
    for label in variants:
        t0, c0 = time.perf_counter(), time.process_time()
        tr = train_recommender(data, configs[label], log=None)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        m = evaluate_two_tower(tr.two_tower, data, ks=(10,))
        row[label] = {"hit@10": m["hit@10"], "ndcg@10": m["ndcg@10"], "wall_s": wall, "cpu_s": cpu,
                      "best_epoch": tr.best_epoch, "grid": (tr.validation or {}).get("grid"),
                      "load_avg": os.getloadavg()[0]}
    return row


def markdown(rows: List[Dict[str, Any]]) -> str:
    """The table: per dataset most-popular, the single default and the grid (hit@10 / ndcg@10; wall and
    CPU seconds)."""
    lines = ["| data | users | median train/user | most popular | single default | grid (kept) | grid / most popular |",
             "|---|---|---|---|---|---|---|"]

    def cell(v: Any) -> str:
        if v is None:
            return "-"
        kept = (v.get("grid") or {}).get("chosen")
        return (f"{v['hit@10']:.3f} / {v['ndcg@10']:.3f} ({kept + ', ' if kept else ''}{v['wall_s']:.0f} s wall, "
                f"{v['cpu_s']:.0f} s CPU)")

    for r in rows:
        p, s, g = r["most_popular"], r.get("single default"), r.get("grid")
        ratio = (f"{g['hit@10'] / max(p['hit@10'], 1e-12):.2f}x / {g['ndcg@10'] / max(p['ndcg@10'], 1e-12):.2f}x"
                 if g else "-")
        lines.append(f"| {r['dataset']} | {r['users']} | {r['median_train_per_user']:g} | "
                     f"{p['hit@10']:.3f} / {p['ndcg@10']:.3f} | {cell(s)} | {cell(g)} | {ratio} |")
    return "\n".join(lines)


def emit(row: Dict[str, Any], json_path: "str | None", table: Any) -> None:
    """One measured row as it arrives: appended as a JSON line to `json_path` (when given) and printed as
    `table([row])`, so an interrupted experiment keeps every row it finished."""
    if json_path:
        with open(json_path, "a") as f:
            f.write(json.dumps(row) + "\n")
    print(table([row]), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("datasets", nargs="+", help="dataset names, or sparse:NAME for the sparse proxy of NAME")
    ap.add_argument("--json", default=None, help="also append one JSON line per dataset here")
    ap.add_argument("--grid-only", action="store_true", help="skip the single default")
    args = ap.parse_args()
    rows = []
    for name in args.datasets:
        rows.append(measure(name, ("grid",) if args.grid_only else ("single default", "grid")))
        emit(rows[-1], args.json, markdown)
    print(markdown(rows))


if __name__ == "__main__":
    main()
