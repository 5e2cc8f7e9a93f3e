"""Train an outside recommender with the `implicit` library on a `jaxsae export-split` file and save its
tables with ids for `jaxsae import-rec` (docs/BYO.md).

    python -m experiments.byo_implicit SPLIT/train.csv --out tables.npz [--model als|bpr] [--factors 20]

Rows are written in a shuffled order with their ids (`user_ids`, `item_ids`): `import-rec` aligns by id.
"""
from __future__ import annotations

import argparse
import csv
from typing import List, Optional

import numpy as np


def read_pairs(path: str):
    """`(user ids, item ids)` of a `user,item` csv with a header."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[1:]
    return np.asarray([r[0] for r in rows]), np.asarray([r[1] for r in rows])


def train_tables(users: np.ndarray, items: np.ndarray, model: str = "als", factors: int = 20, iterations: int = 15,
                 seed: int = 0, regularization: float = 0.05):
    """`(user_ids, item_ids, user_factors, item_factors)` of an implicit ALS/BPR model on the pairs."""
    import scipy.sparse as sp
    from implicit.als import AlternatingLeastSquares
    from implicit.bpr import BayesianPersonalizedRanking

    uid, u = np.unique(users, return_inverse=True)
    iid, i = np.unique(items, return_inverse=True)
    mat = sp.csr_matrix((np.ones(len(u), np.float32), (u, i)), shape=(len(uid), len(iid)))
    if model == "als":
        m = AlternatingLeastSquares(factors=factors, regularization=regularization, iterations=iterations,
                                    random_state=seed, num_threads=1)
    else:
        m = BayesianPersonalizedRanking(factors=factors, iterations=iterations * 7, random_state=seed, num_threads=1)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):
        m.fit(mat, show_progress=False)
    uf, itf = (np.asarray(x, np.float32) for x in (m.user_factors, m.item_factors))
    if hasattr(uf, "to_numpy"):  # pragma: no cover - GPU models
        uf, itf = uf.to_numpy(), itf.to_numpy()
    return uid, iid, uf, itf


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("train", help="train.csv from `jaxsae export-split` (user,item)")
    p.add_argument("--out", required=True, help="tables .npz for `jaxsae import-rec --tables`")
    p.add_argument("--model", choices=["als", "bpr"], default="als")
    p.add_argument("--factors", type=int, default=20)
    p.add_argument("--iterations", type=int, default=15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--regularization", type=float, default=0.05, help="ALS L2 weight (implicit's default: 0.01)")
    a = p.parse_args(argv)
    users, items = read_pairs(a.train)
    uid, iid, uf, itf = train_tables(users, items, a.model, a.factors, a.iterations, a.seed,
                                   a.regularization)
    rng = np.random.default_rng(a.seed)
    pu, pi = rng.permutation(len(uid)), rng.permutation(len(iid))  # any order: import-rec matches ids
    np.savez(a.out, user_ids=uid[pu], item_ids=iid[pi], user_emb=uf[pu], item_emb=itf[pi])
    print(f"{a.model}: {len(uid)} users x {len(iid)} items, {uf.shape[1]} factors -> {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
