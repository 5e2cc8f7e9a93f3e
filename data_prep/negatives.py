"""Per-epoch negative sampling: one negative per positive from items the user never touched.

Weights over items: `"exp"` -> `exp(alpha * c_i / sum_j c_j)` (the paper's rule; alpha=1 is nearly
uniform), `"power"` -> `c_i ** beta`, `"uniform"`. Sampling is vectorized rejection: draw candidates
for every positive at once, reject those that are the user's positives, redraw only the rejected ones.
A pure function of its key: the same key gives the same negatives.

Which items are "the user's positives": the recommender trainer passes `all_positives_csr(data)`, the
training positives *and* the hidden test positives, so a held-out positive is never taught as a
negative (that would leak the test split into training as wrong labels). The reference code
excludes them too (its negatives come from the complement of the full ratings matrix).
"""
from __future__ import annotations

from typing import Any, Union

import numpy as np

from data_prep.errors import JaxsaeError

SCHEMES = ("exp", "power", "uniform")
# Up to this many user x item cells (64 MB of bools) positives are looked up in a dense bitmap.
DENSE_MASK_MAX_CELLS = 64_000_000


def item_sampling_weights(popularity: np.ndarray, scheme: str = "exp", alpha: float = 1.0, beta: float = 0.75) -> np.ndarray:
    """Probabilities over items (sum to 1) from train counts `popularity` under `scheme`."""
    c = np.asarray(popularity, dtype=np.float64)
    if scheme == "exp":
        total = c.sum()
        w = np.exp(alpha * c / total) if total > 0 else np.ones_like(c)
    elif scheme == "power":
        w = np.power(c, beta)
    elif scheme == "uniform":
        w = np.ones_like(c)
    else:
        raise JaxsaeError(f"unknown negative sampling scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")
    if not np.isfinite(w).all() or w.sum() <= 0:
        raise JaxsaeError(f"negative sampling weights for scheme {scheme!r} are degenerate (all zero or non-finite)")
    return w / w.sum()


def as_numpy_rng(key: Union[int, np.random.Generator, Any]) -> np.random.Generator:
    """A NumPy Generator from an int seed, a Generator, or a JAX PRNG key (raw uint32 or typed)."""
    if isinstance(key, np.random.Generator):
        return key
    if isinstance(key, (int, np.integer)):
        return np.random.default_rng(int(key))
    try:  # a JAX key: typed keys need key_data
        import jax

        if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
            key = jax.random.key_data(key)
    except (ImportError, AttributeError):
        pass
    return np.random.default_rng(np.asarray(key, dtype=np.uint32).ravel().tolist())


def all_positives_csr(data: Any) -> "tuple[np.ndarray, np.ndarray]":
    """`(indptr, indices)` CSR of every positive of every user: training positives plus hidden test
    positives (`data.test_pos`, -1 entries ignored), items sorted and unique within a user."""
    n_users, n_items = int(data.n_users), int(data.n_items)
    indptr = np.asarray(data.train_indptr, np.int64)
    owner = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(indptr))
    keys = owner * n_items + np.asarray(data.train_indices, np.int64)
    test_pos = np.asarray(data.test_pos, np.int64).reshape(len(np.asarray(data.test_users)), -1)
    if test_pos.size:
        hu = np.repeat(np.asarray(data.test_users, np.int64), test_pos.shape[1])
        hi = test_pos.ravel()
        keep = hi >= 0
        keys = np.concatenate([keys, hu[keep] * n_items + hi[keep]])
    keys = np.unique(keys)
    users = keys // n_items
    out_ptr = np.zeros(n_users + 1, np.int64)
    out_ptr[1:] = np.cumsum(np.bincount(users, minlength=n_users))
    return out_ptr, (keys % n_items).astype(np.int64)


def sample_negatives(
    key: Union[int, np.random.Generator, Any],
    users: np.ndarray,
    train_indptr: np.ndarray,
    train_indices: np.ndarray,
    n_items: int,
    probs: "np.ndarray | None" = None,
    max_rounds: int = 64,
) -> np.ndarray:
    """One negative item per entry of `users` (int32), never a training positive of that user.

    `train_indptr/train_indices` are the CSR positives; `probs` the item probabilities
    (`item_sampling_weights`), uniform when None. The draw for a positive of user u follows `probs`
    restricted to the items u never interacted with (rejection); where that restriction has zero mass
    (e.g. `"power"` weights of unseen items), uniformly over those items.
    """
    rng = as_numpy_rng(key)
    users = np.asarray(users, dtype=np.int64)
    indptr = np.asarray(train_indptr, dtype=np.int64)
    n_pos = np.diff(indptr)
    if users.size and (n_pos[users] >= n_items).any():
        bad = int(users[np.argmax(n_pos[users] >= n_items)])
        raise JaxsaeError(f"user {bad} interacted with every item: no negative can be sampled")
    owner = np.repeat(np.arange(n_pos.shape[0], dtype=np.int64), n_pos)
    pos_keys = owner * n_items + np.asarray(train_indices, dtype=np.int64)  # user-major
    if pos_keys.size > 1 and (np.diff(pos_keys) < 0).any():  # items not sorted within a user
        pos_keys = np.sort(pos_keys)

    def draw(n: int) -> np.ndarray:
        if probs is None:
            return rng.integers(0, n_items, size=n, dtype=np.int64)
        return rng.choice(n_items, size=n, p=probs)

    n_rows = n_pos.shape[0]
    if n_rows * n_items <= DENSE_MASK_MAX_CELLS:  # a dense user x item bitmap: O(1) look-ups
        dense = np.zeros(n_rows * n_items, dtype=bool)
        dense[pos_keys] = True

        def is_positive(u: np.ndarray, it: np.ndarray) -> np.ndarray:
            return dense[u * n_items + it]
    else:  # sorted keys and binary search: O(log nnz) look-ups, O(nnz) memory

        def is_positive(u: np.ndarray, it: np.ndarray) -> np.ndarray:
            if pos_keys.size == 0:
                return np.zeros(u.shape, dtype=bool)
            k = u * n_items + it
            idx = np.minimum(np.searchsorted(pos_keys, k), pos_keys.size - 1)
            return pos_keys[idx] == k

    out = draw(users.size)
    todo = np.flatnonzero(is_positive(users, out))
    for _ in range(max_rounds):
        if todo.size == 0:
            break
        out[todo] = draw(todo.size)
        todo = todo[is_positive(users[todo], out[todo])]
    for j in todo:  # very dense users: draw from the explicit complement
        u = users[j]
        allowed = np.setdiff1d(np.arange(n_items), train_indices[indptr[u] : indptr[u + 1]])
        p = None if probs is None or probs[allowed].sum() <= 0 else probs[allowed] / probs[allowed].sum()
        out[j] = rng.choice(allowed, p=p)
    return out.astype(np.int32)
