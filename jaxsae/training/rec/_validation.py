"""A seeded validation slice carved from training positives, for early stopping.

Per user with at least `min_train` training positives, `per_user` of them (chosen with `seed`) are held
out of the matrix the recommender is fitted on; they become the "hidden" positives of a validation view
of the data, which the chunked full-ranking evaluator (`jaxsae.metrics._ranking`) scores every epoch.
Only training positives are ever held out, so the slice never overlaps the hidden test split, and the
test users' hidden positives are never looked at. At most `max_users` users are validated (a seeded
subset), so per-epoch evaluation costs O(max_users x n_items) however large the data is.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional, Sequence, Tuple

import numpy as np

from jaxsae.training.rec._config import RecConfig

# stream id mixed into the seed so the slice does not share random numbers with init or negatives
_STREAM = 0x5A11D


def carve_validation(data: Any, per_user: int = 2, min_train: int = 5, max_users: int = 5000,
                     seed: int = 0) -> Tuple[Any, Any, Tuple[np.ndarray, np.ndarray]]:
    """`(fit, val, (val_indptr, val_items))`: `fit` is `data` with the held-out positives removed from its
    training matrix (and popularity), hidden test split unchanged (what the model trains on); `val` is
    `fit` with the validation slice as its `test_users`/`test_pos` (no `test_neg`; what is scored each
    epoch); `val_indptr/val_items` is the held-out CSR per user (empty rows for unvalidated users).

    The held-out positives are treated as the hidden test positives are: absent from training and free
    to be drawn as negatives (excluding them from negatives would leak them: a model that trains long
    enough learns which items are never sampled). Deterministic in `seed`. Users with fewer than
    `min_train` positives keep all of them; when no user qualifies `val.test_users` is empty."""
    indptr = np.asarray(data.train_indptr, np.int64)
    indices = np.asarray(data.train_indices)
    n_users = int(data.n_users)
    counts = np.diff(indptr)
    rng = np.random.default_rng([int(seed), _STREAM])
    eligible = np.flatnonzero(counts >= max(int(min_train), int(per_user) + 1))
    if eligible.size > max_users:
        eligible = np.sort(rng.choice(eligible, size=int(max_users), replace=False))
    else:
        rng.random()  # keep the stream position independent of whether a subset was drawn
    chosen = np.zeros(n_users, bool)
    chosen[eligible] = True
    owner = np.repeat(np.arange(n_users), counts)
    key = rng.random(indices.shape[0])
    order = np.lexsort((key, owner))  # within each user's segment, a random permutation of its positives
    rank = np.empty(indices.shape[0], np.int64)
    rank[order] = np.arange(indices.shape[0]) - indptr[owner[order]]
    held = chosen[owner] & (rank < per_user)
    keep = ~held
    fit_counts = np.bincount(owner[keep], minlength=n_users)
    fit_indptr = np.concatenate([[0], np.cumsum(fit_counts)]).astype(np.asarray(data.train_indptr).dtype)
    fit_indices = indices[keep]
    val_counts = np.bincount(owner[held], minlength=n_users)
    val_indptr = np.concatenate([[0], np.cumsum(val_counts)]).astype(np.int64)
    val_items = indices[held]  # user-major, sorted within user (the CSR is sorted)
    test_pos = (val_items.reshape(eligible.size, per_user).astype(np.int32) if eligible.size
                else np.zeros((0, per_user), np.int32))
    popularity = np.bincount(fit_indices, minlength=int(data.n_items)).astype(np.asarray(data.popularity).dtype)
    info = dict(getattr(data, "info", {}) or {})
    info["validation"] = {"per_user": int(per_user), "min_train": int(min_train), "max_users": int(max_users),
                          "seed": int(seed), "n_users": int(eligible.size), "n_positives": int(held.sum())}
    fit = dataclasses.replace(data, train_indptr=fit_indptr, train_indices=fit_indices, popularity=popularity,
                              info=info)
    val = dataclasses.replace(fit, test_users=eligible.astype(np.int32), test_pos=test_pos,
                              test_neg=np.zeros((eligible.size, 0), np.int32))
    return fit, val, (val_indptr, val_items)


# ---- early stopping on the slice ---------------------------------------------------------------------
def early_stopping(config: RecConfig) -> bool:
    """True when `config` stops on a validation slice (patience > 0) instead of a fixed schedule."""
    return int(config.patience) > 0


def best_of(history: Sequence[Mapping[str, Any]], metric: str) -> Tuple[Optional[int], float]:
    """`(epoch, score)` of the best validation `val_<metric>` in `history` (earliest on ties; None if none)."""
    best_epoch, best = None, -np.inf
    for h in history:
        v = h.get(f"val_{metric}")
        if v is not None and v > best:
            best_epoch, best = int(h["epoch"]), float(v)
    return best_epoch, best


def should_stop(history: Sequence[Mapping[str, Any]], config: RecConfig) -> bool:
    """Early stopping: `patience` epochs have passed since the best validation score."""
    if not early_stopping(config) or not history:
        return False
    best_epoch, _ = best_of(history, config.val_metric)
    return best_epoch is not None and int(history[-1]["epoch"]) - best_epoch >= config.patience


# The slice on sparse data: one held-out positive per user with at least two (see `validation_split`).
SPARSE_SLICE = (1, 2)


def slice_options(data: Any, config: RecConfig) -> Tuple[int, int]:
    """`(per_user, min_train)` of the validation slice: the config's, except that with the default (2, 5)
    on sparse data, where that rule validates fewer than half the users `SPARSE_SLICE` (one of at least
    two positives) would, the sparse rule. Why: with a median of 2-3 positives per user almost nobody has
    5, and a slice of a few dozen users chooses epochs and models by noise."""
    rule = (int(config.val_per_user), int(config.val_min_train))
    default = tuple(RecConfig.__dataclass_fields__[k].default for k in ("val_per_user", "val_min_train"))
    if rule != default:
        return rule
    counts = np.diff(np.asarray(data.train_indptr))
    n_rule = int(np.sum(counts >= max(rule[1], rule[0] + 1)))
    n_sparse = int(np.sum(counts >= max(SPARSE_SLICE[1], SPARSE_SLICE[0] + 1)))
    return SPARSE_SLICE if n_rule < 0.5 * n_sparse else rule


def validation_split(data: Any, config: RecConfig) -> Tuple[Any, Optional[Any]]:
    """`(fit, val)`: the data the model is fitted on and the validation view scored every epoch.

    Fixed schedule: `(data, None)`. Early stopping: `jaxsae.training.rec._validation.carve_validation` with
    the slice of `slice_options` and the config's seed (`val`'s hidden positives are the held-out training
    positives), or `(data, None)` when no user has enough positives to hold some out."""
    if not early_stopping(config):
        return data, None

    per_user, min_train = slice_options(data, config)
    fit, val, _ = carve_validation(data, per_user=per_user, min_train=min_train,
                                   max_users=config.val_max_users, seed=config.seed)
    if val.test_users.shape[0] == 0:
        return data, None
    return fit, val
