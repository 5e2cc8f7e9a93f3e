"""Host-side cost of one recommender epoch at ML-25M size: negatives, shuffle and batches (BENCHMARKS.md).

    python scripts/bench_epoch_host.py [--data DIR] [--epochs 2]

Makes (once, saved to DIR) an `InteractionData` of ML-25M size: 162,541 users x 59,047 items, log-normal
interactions per user around 153.6 with Zipf item popularity, 5 hidden positives for up to 100,000 users;
then times `EpochSampler` (built once) and `epoch_batches` per epoch, wall and process CPU seconds, with
a checksum of the shuffled items (equal checksums: the same batches). Run it with `PYTHONPATH` at another
checkout to compare code on the same data.
"""
import argparse
import os
import resource
import time

import jax
import numpy as np

from data_prep.dataset import InteractionData
from jaxsae.training import rec


def make(n_u: int = 162541, n_i: int = 59047, per: float = 153.6, seed: int = 0) -> InteractionData:
    rng = np.random.default_rng(seed)
    n = np.clip(np.round(np.exp(np.log(per) - .5 * .81 + .9 * rng.standard_normal(n_u))), 20, n_i // 2).astype(np.int64)
    pop = np.arange(1, n_i + 1) ** -0.9
    pop = (pop / pop.sum())[rng.permutation(n_i)]
    owner = np.repeat(np.arange(n_u, dtype=np.int64), n)
    keys = np.unique(owner * n_i + rng.choice(n_i, size=owner.size, p=pop))
    u, it = keys // n_i, (keys % n_i).astype(np.int32)
    indptr = np.zeros(n_u + 1, np.int64)
    indptr[1:] = np.cumsum(np.bincount(u, minlength=n_u))
    tu = np.flatnonzero(np.diff(indptr) >= 12)[:100000].astype(np.int32)
    keep, tp = np.ones(it.size, bool), np.zeros((tu.size, 5), np.int32)
    for j in range(5):  # each test user's last 5 items are hidden
        idx = indptr[tu + 1] - 1 - j
        keep[idx], tp[:, j] = False, it[idx]
    u2, it2 = u[keep], it[keep]
    indptr[1:] = np.cumsum(np.bincount(u2, minlength=n_u))
    return InteractionData(dataset="ml25m-size", n_users=n_u, n_items=n_i, user_ids=np.arange(n_u).astype(str),
                           item_ids=np.arange(n_i).astype(str), item_titles=np.arange(n_i).astype(str),
                           train_indptr=indptr, train_indices=it2, test_users=tu, test_pos=tp,
                           test_neg=rng.integers(0, n_i, size=(tu.size, 5)).astype(np.int32),
                           popularity=np.bincount(it2, minlength=n_i).astype(np.int64),
                           concepts=np.zeros((n_i, 0), bool), concept_names=[], concept_families=[],
                           year=np.full(n_i, -1))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="/tmp/jaxsae-ml25m-size")
    p.add_argument("--epochs", type=int, default=2)
    args = p.parse_args()
    if not os.path.exists(os.path.join(args.data, "data.npz")):
        make().save(args.data)
    data = InteractionData.load(args.data)
    cfg = rec.RecConfig(model="mf", patience=0, epochs=args.epochs)
    key, probs = jax.random.PRNGKey(0), rec.negative_probs(data, cfg)
    t, c = time.perf_counter(), time.process_time()
    sampler = rec.EpochSampler(data, cfg, probs) if hasattr(rec, "EpochSampler") else None
    print(f"n_train {data.n_train:,}; sampler build wall {time.perf_counter() - t:.1f}s cpu {time.process_time() - c:.1f}s")
    kw = {"sampler": sampler} if sampler is not None else {}
    for e in range(1, args.epochs + 1):
        t, c = time.perf_counter(), time.process_time()
        b = rec.epoch_batches(data, cfg, rec.epoch_key(key, e), probs, **kw)
        dt, dc = time.perf_counter() - t, time.process_time() - c
        print(f"epoch {e}: wall {dt:.1f}s cpu {dc:.1f}s, {b[0].size:,} rows, {b[0].size / dt:,.0f} rows/s wall, "
              f"checksum {int(b[1].astype(np.int64).sum())}", flush=True)
        del b
    print(f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


if __name__ == "__main__":
    main()
