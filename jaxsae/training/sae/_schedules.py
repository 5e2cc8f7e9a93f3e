"""Which rows each SAE step sees: the batch plans of `SAETrainConfig.schedule` and `.pairs`.

A `BatchPlan` turns the config, the training users and (for `pairs="positives"`) the data into
`(users [S, B], items [S, B])` index batches for any window of steps, a pure function of the seed, so a
resumed run repeats nothing. Row b of a step pairs user b with item b.

- `"stream"` (jaxsae's default): successive seeded permutations of the training users (and of all
  items), cut into batches across epoch boundaries (`batch_indices`, unchanged).
- `"drop_last"` (the reference's `DataLoader(shuffle=True, drop_last=True)`): every epoch a fresh
  permutation of the users, `floor(n / B)` full batches, the last partial one dropped; items: a fresh
  permutation per epoch, `floor(n_items / B)` batches, cycled while the user batches last
  (`zip(users, itertools.cycle(items))`, ML-1M training cell 8). ML-1M MF: 18 steps per epoch, 324 in 18.
- `"zip"` (the reference Matryoshka loop, Last.fm training cell 20): `zip(user_loader, item_loader)`
  without cycling, `min(ceil(n_users / B), ceil(n_items / B))` steps per epoch. The loaders' own
  settings are not in the notebooks; with PyTorch's default `drop_last=False` the last item batch is
  partial, which fixed-shape steps fill by wrapping around the epoch's permutation (docs/REFERENCE.md).
- `pairs="positives"` (the reference ML-1M NCF SAE, training cell 15): each row is an observed training
  positive `(u, i)` of a training user; the pairs are permuted per epoch like the users above.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional, Tuple

import numpy as np

from jaxsae.errors import ConfigError
from jaxsae.training.sae._batches import _stream, batch_indices

__all__ = ["BatchPlan", "batch_plan", "positive_pairs"]


def positive_pairs(data: Any, train_users: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """`(users, items)` int32 of every training positive whose user is a training user (user-major)."""
    users, items = data.train_pairs()
    keep = np.zeros(int(data.n_users), bool)
    keep[np.asarray(train_users, np.int64)] = True
    sel = keep[users]
    return users[sel].astype(np.int32), items[sel].astype(np.int32)


def _perm(pool: np.ndarray, seed: int, tag: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, 0x5AE, tag, epoch]).permutation(pool)


@dataclasses.dataclass(frozen=True)
class BatchPlan:
    """The batches of one SAE run (see module doc); `total` steps, `per_epoch` of them per epoch."""

    schedule: str
    pairs: str
    train_users: np.ndarray
    n_items: int
    seed: int
    batch_size: int
    total: int
    per_epoch: int
    pair_users: Optional[np.ndarray] = None
    pair_items: Optional[np.ndarray] = None

    def batches(self, first_step: int, n_steps: int) -> Tuple[np.ndarray, np.ndarray]:
        """User and item index batches `[n_steps, B]` for steps `[first_step, first_step + n_steps)`."""

        b = self.batch_size
        if self.schedule == "stream":
            if self.pairs == "random":
                return batch_indices(self.train_users, self.n_items, self.seed, first_step, n_steps, b)
            idx = _stream(np.arange(len(self.pair_users), dtype=np.int64), self.seed, 4, first_step * b,
                          (first_step + n_steps) * b).reshape(n_steps, b)
            return self.pair_users[idx], self.pair_items[idx]
        us, it = [], []
        s = self.per_epoch
        for e in range(first_step // s, (first_step + n_steps - 1) // s + 1):
            u, i = self._epoch(e)
            us.append(u)
            it.append(i)
        off = (first_step // s) * s
        sl = slice(first_step - off, first_step - off + n_steps)
        return np.concatenate(us)[sl], np.concatenate(it)[sl]

    def _epoch(self, e: int) -> Tuple[np.ndarray, np.ndarray]:
        """The `[per_epoch, B]` user and item batches of epoch e."""
        s, b = self.per_epoch, self.batch_size
        if self.pairs == "positives":  # drop_last over the permuted pairs
            idx = _perm(np.arange(len(self.pair_users), dtype=np.int64), self.seed, 4, e)[: s * b].reshape(s, b)
            return self.pair_users[idx], self.pair_items[idx]
        users = _perm(np.asarray(self.train_users, np.int32), self.seed, 2, e)
        items = _perm(np.arange(self.n_items, dtype=np.int32), self.seed, 3, e)
        if self.schedule == "drop_last":
            u = users[: s * b].reshape(s, b)
            n_ib = self.n_items // b
            i = items[: n_ib * b].reshape(n_ib, b)[np.arange(s) % n_ib]
            return u, i
        # zip: s = min(ceil(n_u / B), ceil(n_i / B)); a partial last batch wraps around its permutation
        return np.resize(users, s * b).reshape(s, b), np.resize(items, s * b).reshape(s, b)


def batch_plan(config: Any, train_users: np.ndarray, n_items: int, data: Any = None) -> BatchPlan:
    """The `BatchPlan` of `config` (a `SAETrainConfig`) for these training users; `data` is needed for
    `pairs="positives"`."""
    pu = pi = None
    n_pairs = None
    if config.pairs == "positives":
        if data is None:
            raise ConfigError("pairs='positives' needs the run's data (training positives)")
        pu, pi = positive_pairs(data, train_users)
        n_pairs = int(len(pu))
        if n_pairs == 0:
            raise ConfigError("pairs='positives': the training users have no training positives")
    per_epoch = config.steps_per_epoch(len(train_users), n_items, n_pairs)
    total = config.total_steps(len(train_users), n_items, n_pairs)
    return BatchPlan(schedule=config.schedule, pairs=config.pairs, train_users=np.asarray(train_users, np.int32),
                     n_items=int(n_items), seed=int(config.seed), batch_size=int(config.batch_size), total=int(total),
                     per_epoch=int(per_epoch), pair_users=pu, pair_items=pi)
