"""Recommendation quality by full ranking: one definition per metric.

For an evaluated user with hidden positives H (the held-out `test_pos` row; `-1` entries are padding)
the *candidates* are all items, minus the user's training positives when `exclude_train` (hidden items
are always candidates). The rank of a hidden item j is its position in the candidates sorted by score,
ties broken by the lower item index (exactly the order `top_k`/`jax.lax.top_k` returns):

    rank(j) = 1 + #{c in candidates : s_c > s_j  or  (s_c == s_j and c < j)}

So a constant scorer ranks items by index, never "everything first". NaN scores count as -inf.
With n_h = |H| and hits_K = #{j in H : rank(j) <= K}:

- `hit@K    = 1[hits_K > 0]`
- `ndcg@K   = sum_{j in H, rank(j) <= K} 1 / log2(rank(j) + 1)  /  sum_{r=1}^{min(n_h, K)} 1 / log2(r + 1)`
- `mrr@K    = 1 / min_{j in H} rank(j)` if that rank <= K, else 0 (best-ranked hidden positive)
- `recall@K = hits_K / min(n_h, K)`  (so a perfect ranking scores 1 even when n_h > K)
- `mpr      = mean_{j in H} (rank(j) - 1) / (n_candidates - 1)`  (0 = top, ~0.5 = random, lower is better)

Each is averaged over evaluated users (users with at least one hidden positive). Users are processed in
chunks of `chunk_size`, so memory is O(chunk x n_items); the per-chunk computation is jitted.
"""
from __future__ import annotations

from functools import partial
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxsae.errors import ConfigError

ScoresFn = Callable[[jax.Array], jax.Array]
RANK_METRICS = ("hit", "ndcg", "mrr", "recall")


@partial(jax.jit, static_argnames=("k",))
def top_k(scores: jax.Array, k: int, exclude_mask: Optional[jax.Array] = None) -> Tuple[jax.Array, jax.Array]:
    """The `k` best items per row: `(values [C, k], indices [C, k])`, excluded items (mask True) never chosen
    unless fewer than `k` remain (they then come last with value -inf). Ties: lower index first."""
    scores = jnp.where(jnp.isnan(scores), -jnp.inf, scores)
    if exclude_mask is not None:
        scores = jnp.where(exclude_mask, -jnp.inf, scores)
    return jax.lax.top_k(scores, k)


def hidden_ranks(scores: jax.Array, hidden: jax.Array, candidates: jax.Array) -> jax.Array:
    """1-based rank of each hidden item among the candidates (module docstring rule), `[C, T]` int32.

    `scores [C, n_items]`, `hidden [C, T]` item ids (entries < 0 give meaningless ranks: mask them),
    `candidates [C, n_items]` bool. Loops over the T hidden columns so memory stays O(C x n_items).
    """
    scores = jnp.where(jnp.isnan(scores), -jnp.inf, scores)
    n_items = scores.shape[1]
    hid = jnp.clip(hidden, 0, n_items - 1)
    s_h = jnp.take_along_axis(scores, hid, axis=1)
    idx = jnp.arange(n_items)[None, :]
    cols = []
    for t in range(hidden.shape[1]):
        sj, j = s_h[:, t : t + 1], hid[:, t : t + 1]
        better = candidates & ((scores > sj) | ((scores == sj) & (idx < j)))
        cols.append(1 + jnp.sum(better, axis=1, dtype=jnp.int32))
    return jnp.stack(cols, axis=1)


def metrics_from_ranks(ranks: jax.Array, valid: jax.Array, n_candidates: jax.Array,
                       ks: Sequence[int]) -> Dict[str, jax.Array]:
    """Per-user metrics `[C]` from hidden ranks `[C, T]`, their validity mask and the candidate counts `[C]`."""
    ranks_f = ranks.astype(jnp.float32)
    n_h = jnp.sum(valid, axis=1)
    out: Dict[str, jax.Array] = {}
    for k in ks:
        in_k = valid & (ranks <= k)
        hits = jnp.sum(in_k, axis=1)
        gains = jnp.where(in_k, 1.0 / jnp.log2(ranks_f + 1.0), 0.0)
        ideal = jnp.cumsum(1.0 / jnp.log2(jnp.arange(1, k + 1, dtype=jnp.float32) + 1.0))
        idcg = ideal[jnp.clip(jnp.minimum(n_h, k) - 1, 0, k - 1)]
        best = jnp.min(jnp.where(valid, ranks, jnp.iinfo(jnp.int32).max), axis=1)
        denom = jnp.maximum(jnp.minimum(n_h, k), 1)
        out[f"hit@{k}"] = (hits > 0).astype(jnp.float32)
        out[f"ndcg@{k}"] = jnp.sum(gains, axis=1) / idcg
        out[f"mrr@{k}"] = jnp.where(best <= k, 1.0 / best.astype(jnp.float32), 0.0)
        out[f"recall@{k}"] = hits.astype(jnp.float32) / denom.astype(jnp.float32)
    pct = (ranks_f - 1.0) / jnp.maximum(n_candidates[:, None] - 1, 1).astype(jnp.float32)
    out["mpr"] = jnp.sum(jnp.where(valid, pct, 0.0), axis=1) / jnp.maximum(n_h, 1).astype(jnp.float32)
    return out


@partial(jax.jit, static_argnames=("ks",))
def _chunk_metrics(scores: jax.Array, hidden: jax.Array, exclude: jax.Array,
                   ks: Tuple[int, ...]) -> Dict[str, jax.Array]:
    valid = hidden >= 0
    n_items = scores.shape[1]
    is_hidden = jnp.zeros(scores.shape, bool).at[
        jnp.arange(scores.shape[0])[:, None], jnp.clip(hidden, 0, n_items - 1)].max(valid)
    candidates = ~exclude | is_hidden
    ranks = hidden_ranks(scores, hidden, candidates)
    return metrics_from_ranks(ranks, valid, jnp.sum(candidates, axis=1), ks)


def train_mask(data: Any, users: np.ndarray) -> np.ndarray:
    """Bool `[len(users), n_items]`: True where the item is a training positive of the user (host side)."""
    indptr = np.asarray(data.train_indptr)
    starts, ends = indptr[users], indptr[np.asarray(users) + 1]
    counts = ends - starts
    rows = np.repeat(np.arange(len(users)), counts)
    offs = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    cols = np.asarray(data.train_indices)[np.repeat(starts, counts) + offs]
    mask = np.zeros((len(users), data.n_items), dtype=bool)
    mask[rows, cols] = True
    return mask


def _eval_rows(data: Any, users: Optional[Sequence[int]]) -> np.ndarray:
    """Rows of `data.test_users` to evaluate (all, or those whose user is in `users`, in that order)."""
    test_users = np.asarray(data.test_users)
    if users is None:
        rows = np.arange(test_users.shape[0])
    else:
        where = {int(u): r for r, u in enumerate(test_users)}
        rows = np.asarray([where[int(u)] for u in np.asarray(users).reshape(-1) if int(u) in where], dtype=np.int64)
    if rows.size:
        has_hidden = (np.asarray(data.test_pos)[rows] >= 0).any(axis=1)
        rows = rows[has_hidden]
    if rows.size == 0:
        raise ConfigError("no user to evaluate: none of the requested users has hidden test positives")
    return rows


def evaluate_ranking(scores_fn: ScoresFn, data: Any, users: Optional[Sequence[int]] = None,
                     ks: Sequence[int] = (10, 20), chunk_size: int = 1024, exclude_train: bool = True,
                     per_user: bool = False) -> Dict[str, Any]:
    """Mean `hit/ndcg/mrr/recall@K` and `mpr` over evaluated users by full ranking (module docstring).

    `scores_fn(user_ids int32[C]) -> [C, n_items]` scores of every item (higher = better); `users`
    restricts evaluation to those users (default: every `data.test_users` row). Returns a dict with
    `"hit@10"`, ..., `"mpr"` (floats) and `"n_eval_users"`; with `per_user=True` also `"users"` and
    `"per_user"` (metric -> array over evaluated users).
    """
    ks = tuple(int(k) for k in ks)
    if not ks or min(ks) < 1:
        raise ConfigError(f"ks must be positive integers, got {ks}")
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be >= 1, got {chunk_size}")
    rows = _eval_rows(data, users)
    eval_users = np.asarray(data.test_users)[rows].astype(np.int32)
    hidden_all = np.asarray(data.test_pos)[rows].astype(np.int32)
    n = rows.shape[0]
    c = min(chunk_size, n)
    parts: Dict[str, list] = {}
    for start in range(0, n, c):
        u = eval_users[start : start + c]
        h = hidden_all[start : start + c]
        m = u.shape[0]
        if m < c:  # pad the last chunk to the compiled shape; padded rows are dropped below
            u = np.concatenate([u, np.full(c - m, u[0], np.int32)])
            h = np.concatenate([h, np.full((c - m, h.shape[1]), -1, np.int32)])
        exclude = train_mask(data, u) if exclude_train else np.zeros((c, data.n_items), bool)
        scores = jnp.asarray(scores_fn(jnp.asarray(u)), jnp.float32)
        if scores.shape != (c, data.n_items):
            raise ConfigError(f"scores_fn returned shape {scores.shape}, expected {(c, data.n_items)}")
        out = jax.device_get(_chunk_metrics(scores, jnp.asarray(h), jnp.asarray(exclude), ks))
        for name, v in out.items():
            parts.setdefault(name, []).append(np.asarray(v, np.float64)[:m])
    per = {name: np.concatenate(v) for name, v in parts.items()}
    result: Dict[str, Any] = {}
    for k in ks:
        for name in RANK_METRICS:
            result[f"{name}@{k}"] = float(per[f"{name}@{k}"].mean())
    result["mpr"] = float(per["mpr"].mean())
    result["n_eval_users"] = int(n)
    if per_user:
        result["users"] = eval_users
        result["per_user"] = per
    return result


@jax.jit
def _two_tower_scores(tt: Any, users: jax.Array) -> jax.Array:
    return tt.logits_cross(users)


def evaluate_two_tower(tt: Any, data: Any, users: Optional[Sequence[int]] = None, ks: Sequence[int] = (10, 20),
                       chunk_size: int = 1024, exclude_train: bool = True, per_user: bool = False) -> Dict[str, Any]:
    """`evaluate_ranking` of a `TwoTower`'s full logits (`global + user + item bias + score`)."""
    if tt.n_items != data.n_items or tt.n_users != data.n_users:
        raise ConfigError(f"recommender has {tt.n_users} users x {tt.n_items} items but the data has "
                          f"{data.n_users} x {data.n_items}")
    return evaluate_ranking(lambda u: _two_tower_scores(tt, u), data, users=users, ks=ks,
                            chunk_size=chunk_size, exclude_train=exclude_train, per_user=per_user)


def most_popular_scores(data: Any) -> ScoresFn:
    """The most-popular baseline: every user scores item i by its training count `popularity[i]`."""
    pop = jnp.asarray(np.asarray(data.popularity, np.float32))
    return lambda users: jnp.broadcast_to(pop, (users.shape[0], pop.shape[0]))


def evaluate_most_popular(data: Any, users: Optional[Sequence[int]] = None, ks: Sequence[int] = (10, 20),
                          chunk_size: int = 1024, exclude_train: bool = True, per_user: bool = False) -> Dict[str, Any]:
    """`evaluate_ranking` of the most-popular ranking (the baseline every recommender must beat)."""
    return evaluate_ranking(most_popular_scores(data), data, users=users, ks=ks, chunk_size=chunk_size,
                            exclude_train=exclude_train, per_user=per_user)
