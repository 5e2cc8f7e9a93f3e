"""Per-user hidden split: `n_test` hidden positives and `n_test` hidden negatives per user.

Rule for who is evaluated: a user is evaluated iff they have at least `n_test + 1` positives (so at
least one positive stays in training) and at least `n_test` items they never interacted with. Every
other user keeps all positives in training and gets no test row. Hidden positives are a uniform
sample without replacement of the user's positives; hidden negatives a uniform sample without
replacement of the items the user never interacted with (neither in train nor hidden). Everything is
vectorized over users: a random key per positive sorted within users, and rejection sampling of
negatives in whole-matrix rounds.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

from data_prep.errors import ConfigError, JaxsaeError


def eligible_users(n_pos: np.ndarray, n_items: int, n_test: int) -> np.ndarray:
    """Bool mask of users evaluated by the split: `n_pos >= n_test + 1` and `n_items - n_pos >= n_test`."""
    n_pos = np.asarray(n_pos, dtype=np.int64)
    if n_test <= 0:
        return np.zeros(n_pos.shape, dtype=bool)
    return (n_pos >= n_test + 1) & (n_items - n_pos >= n_test)


def split_hidden(
    indptr: np.ndarray, indices: np.ndarray, n_items: int, n_test: int, seed: int
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hide `n_test` positives and sample `n_test` negatives per eligible user (see module docstring).

    `indptr [n_users + 1]`, `indices` are the CSR positives (distinct items within a user, sorted or
    not; sorted input skips one sort). Returns
    `(train_indptr int64, train_indices int32 sorted within user, test_users int32 ascending,
    test_pos int32 [n_eval, n_test], test_neg int32 [n_eval, n_test])`, rows sorted. Deterministic
    in `seed`.
    """
    if n_test < 0:
        raise ConfigError(f"n_test must be >= 0, got {n_test}")
    indptr = np.asarray(indptr, dtype=np.int64)
    indices = np.asarray(indices, dtype=np.int64)
    n_users = indptr.shape[0] - 1
    n_pos = np.diff(indptr)
    owner = np.repeat(np.arange(n_users, dtype=np.int64), n_pos)
    if indices.size and (indices.min() < 0 or indices.max() >= n_items):
        raise JaxsaeError(f"item index out of range [0, {n_items}) in the positives to split")
    rng = np.random.default_rng(seed)
    eligible = eligible_users(n_pos, n_items, n_test)
    test_users = np.flatnonzero(eligible).astype(np.int64)

    pos_keys = owner * n_items + indices  # user-major; sorted when items are sorted within users
    if pos_keys.size > 1 and (np.diff(pos_keys) <= 0).any():
        o = np.argsort(pos_keys, kind="stable")
        pos_keys, indices = pos_keys[o], indices[o]
        if (np.diff(pos_keys) == 0).any():
            raise JaxsaeError("duplicate (user, item) positives in the data to split")

    # Hidden positives: a random 32-bit key per positive sorted within its user (one int64 sort key);
    # the n_test smallest keys of an eligible user are hidden.
    # (Built in place, one 8-byte array at a time: this is the peak of `prepare` at ML-25M size.)
    key = owner << 32
    key |= rng.integers(0, 2**32, size=indices.shape[0], dtype=np.int64)
    order = np.argsort(key)
    del key
    rank = np.arange(indices.shape[0], dtype=np.int64)
    rank -= indptr[:-1][owner]  # owner is sorted, so owner[order] == owner: the position within the user
    rank[order] = rank.copy()
    del order
    hidden = eligible[owner] & (rank < n_test)
    del rank

    keep = ~hidden  # subsets of a sorted sequence stay sorted
    train_indices = indices[keep].astype(np.int32)
    train_indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(owner[keep], minlength=n_users), out=train_indptr[1:])
    test_pos = indices[hidden].reshape(test_users.shape[0], n_test).astype(np.int32)
    test_neg = _sample_without_replacement(rng, test_users, pos_keys, n_items, n_test, indptr, indices)
    return train_indptr, train_indices, test_users.astype(np.int32), test_pos, test_neg


def _sample_without_replacement(
    rng: np.random.Generator,
    users: np.ndarray,
    pos_keys: np.ndarray,
    n_items: int,
    n: int,
    indptr: np.ndarray,
    indices: np.ndarray,
    max_rounds: int = 32,
) -> np.ndarray:
    """`[len(users), n]` distinct items per row, none a positive (`pos_keys = user * n_items + item`, sorted).

    Rounds of i.i.d. uniform candidates per unfinished row; a candidate is kept when it is not a
    positive, not seen earlier in the round, and not already kept: the first `n` kept are a uniform
    sample without replacement of the complement. Rows still short after `max_rounds` (very dense
    users) draw from their explicit complement.
    """
    m = users.shape[0]
    out = np.full((m, n), -1, dtype=np.int64)
    filled = np.zeros(m, dtype=np.int64)
    if m == 0 or n == 0:
        return out.astype(np.int32)
    rows = np.arange(m)
    width = 2 * n + 4
    for _ in range(max_rounds):
        if rows.size == 0:
            break
        cand = rng.integers(0, n_items, size=(rows.size, width), dtype=np.int64)
        u = users[rows][:, None]
        keys = u * n_items + cand
        idx = np.minimum(np.searchsorted(pos_keys, keys), max(pos_keys.size - 1, 0))
        valid = pos_keys[idx] != keys if pos_keys.size else np.ones(cand.shape, dtype=bool)
        srt = np.argsort(cand, axis=1, kind="stable")  # first occurrence of a value comes first
        sc = np.take_along_axis(cand, srt, axis=1)
        dup = np.zeros(cand.shape, dtype=bool)
        np.put_along_axis(dup, srt[:, 1:], sc[:, 1:] == sc[:, :-1], axis=1)
        valid &= ~dup
        valid &= ~(cand[:, :, None] == out[rows][:, None, :]).any(axis=2)
        slot = filled[rows][:, None] + np.cumsum(valid, axis=1) - 1
        take = valid & (slot < n)
        r_idx = np.broadcast_to(rows[:, None], cand.shape)[take]
        out[r_idx, slot[take]] = cand[take]
        filled[rows] += take.sum(axis=1)
        rows = rows[filled[rows] < n]
    for r in rows:  # explicit complement for the rare very dense user
        u = users[r]
        allowed = np.setdiff1d(np.arange(n_items), indices[indptr[u] : indptr[u + 1]])
        allowed = np.setdiff1d(allowed, out[r, : filled[r]])
        out[r, filled[r] :] = rng.choice(allowed, size=n - filled[r], replace=False)
    return np.sort(out, axis=1).astype(np.int32)
