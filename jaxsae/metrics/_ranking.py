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
chunks of `chunk_size`, so memory is O(chunk x n_items) (the chunk's scores, nothing else that wide): the
excluded items enter as a flat list of (row, item) pairs and each rank is computed by subtraction
(`_ranks_by_subtraction`), equal to the candidate-mask definition of `hidden_ranks` to the last digit.
"""
from __future__ import annotations

import time
from functools import partial
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxsae.errors import ConfigError
from jaxsae.progress import eta

ScoresFn = Callable[[jax.Array], jax.Array]
# the most bytes of scores per chunk: glibc serves larger blocks by mmap, fresh zeroed pages from the kernel on
# every chunk (at ML-25M size, 256 x 59k items: 19 of 57 CPU seconds in page faults); smaller ones are reused
SCORES_CHUNK_BYTES = 30 << 20


def scores_chunk(chunk_size: int, n_items: int) -> int:
    """Users per chunk of full float32 scores: `chunk_size`, capped at `SCORES_CHUNK_BYTES` of scores."""
    return max(1, min(int(chunk_size), SCORES_CHUNK_BYTES // (4 * int(n_items))))
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
    `candidates [C, n_items]` bool. The rule read literally, with a candidate mask: the reference the
    evaluation's mask-free subtraction is tested against (fine for small cases).
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


_BLOCK = 32  # items per first-stage partial count: a reduction XLA's CPU backend keeps fused (<= 32 wide)


def _beats(s_c: jax.Array, c: jax.Array, s_j: jax.Array, j: jax.Array) -> jax.Array:
    """Item c ranks above item j: `s_c > s_j or (s_c == s_j and c < j)` (scores already NaN-free)."""
    return (s_c > s_j) | ((s_c == s_j) & (c < j))


def _count_beating(scores: jax.Array, s_h: jax.Array, hid: jax.Array) -> jax.Array:
    """`[C, T]` int32: how many of all `n_items` items beat each hidden item (`s_h`, `hid` `[C, T]`).

    Counted in blocks of `_BLOCK` items (uint8 partial sums, then int32 over blocks, then the tail): a
    plain `sum` over `n_items` is rewritten by XLA's CPU backend into a tree reduction that materializes
    the `[C, T, n_items]` comparison (hundreds of MB per chunk, mostly kernel page-fault time).
    """
    c, n = scores.shape
    nb = n // _BLOCK
    n0 = nb * _BLOCK
    idx = jnp.arange(n, dtype=hid.dtype)
    main = scores[:, :n0].reshape(c, 1, nb, _BLOCK)
    part = jnp.sum(_beats(main, idx[:n0].reshape(1, 1, nb, _BLOCK), s_h[:, :, None, None], hid[:, :, None, None]),
                   axis=3, dtype=jnp.uint8)
    total = jnp.sum(part, axis=2, dtype=jnp.int32)
    tail = _beats(scores[:, None, n0:], idx[None, None, n0:], s_h[:, :, None], hid[:, :, None])
    return total + jnp.sum(tail, axis=2, dtype=jnp.int32)


def _ranks_by_subtraction(beats_all: jax.Array, score_of: Callable[[jax.Array, jax.Array], jax.Array],
                          s_h: jax.Array, hidden: jax.Array, ex_rows: jax.Array, ex_items: jax.Array,
                          n_items: int) -> Tuple[jax.Array, jax.Array]:
    """Hidden ranks `[C, T]` and candidate counts `[C]` with no `[C, n_items]` mask:

        rank(j) = 1 + #{c in all items : c beats j} - #{c in E : c beats j},   n_candidates = n_items - |E|,

    `beats_all` the first count, `E` the user's excluded items that are not hidden (given flat: `ex_rows[e]`
    the chunk row, `ex_items[e]` the item, distinct pairs, rows `< 0` padding), `score_of(rows, items)` the
    NaN-free scores of those pairs, "beats" the module docstring's order.
    """
    c = hidden.shape[0]
    valid = hidden >= 0
    hid = jnp.clip(hidden, 0, n_items - 1)
    row = jnp.clip(ex_rows, 0, c - 1)
    item = jnp.clip(ex_items, 0, n_items - 1)
    in_e = (ex_rows >= 0) & ~jnp.any((hidden[row] == item[:, None]) & valid[row], axis=1)      # [E]
    beats = in_e[:, None] & _beats(score_of(row, item)[:, None], item[:, None], s_h[row], hid[row])  # [E, T]
    beats_ex = jax.ops.segment_sum(beats.astype(jnp.int32), row, num_segments=c)              # [C, T]
    n_candidates = n_items - jax.ops.segment_sum(in_e.astype(jnp.int32), row, num_segments=c)
    return 1 + beats_all - beats_ex, n_candidates


@partial(jax.jit, static_argnames=("ks",))
def _chunk_metrics(scores: jax.Array, hidden: jax.Array, ex_rows: jax.Array, ex_items: jax.Array,
                   ks: Tuple[int, ...]) -> Dict[str, jax.Array]:
    """Per-user metrics of one chunk from its scores `[C, n_items]` (`_ranks_by_subtraction`)."""
    scores = jnp.where(jnp.isnan(scores), -jnp.inf, scores)
    n_items = scores.shape[1]
    hid = jnp.clip(hidden, 0, n_items - 1)
    s_h = jnp.take_along_axis(scores, hid, axis=1)
    ranks, n_cand = _ranks_by_subtraction(_count_beating(scores, s_h, hid), lambda r, i: scores[r, i], s_h,
                                          hidden, ex_rows, ex_items, n_items)
    return metrics_from_ranks(ranks, hidden >= 0, n_cand, ks)


@partial(jax.jit, static_argnames=("ks",))
def _shared_chunk_metrics(scores: jax.Array, beats_all: jax.Array, hidden: jax.Array, ex_rows: jax.Array,
                          ex_items: jax.Array, ks: Tuple[int, ...]) -> Dict[str, jax.Array]:
    """`_chunk_metrics` when every user has the same NaN-free scores `[n_items]`, whose `beats_all[j]` (the
    items beating j, i.e. j's 0-based position in the global order) is computed once: no `[C, n_items]` at all."""
    n_items = scores.shape[0]
    hid = jnp.clip(hidden, 0, n_items - 1)
    ranks, n_cand = _ranks_by_subtraction(beats_all[hid], lambda r, i: scores[i], scores[hid], hidden,
                                          ex_rows, ex_items, n_items)
    return metrics_from_ranks(ranks, hidden >= 0, n_cand, ks)


def _bucket(n: int, floor: int = 1024) -> int:
    """The padded length for `n` entries: the next power of two, at least `floor` (few compiled shapes)."""
    return max(floor, 1 << max(0, int(n) - 1).bit_length())


def train_pairs(data: Any, users: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """The training positives of `users` as distinct `(row in users, item)` pairs, sorted (host side)."""
    indptr = np.asarray(data.train_indptr)
    users = np.asarray(users)
    starts, ends = indptr[users], indptr[users + 1]
    counts = ends - starts
    rows = np.repeat(np.arange(len(users)), counts)
    offs = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    cols = np.asarray(data.train_indices)[np.repeat(starts, counts) + offs]
    key = rows.astype(np.int64) * data.n_items + cols
    if key.size > 1 and not np.all(key[1:] > key[:-1]):
        key = np.unique(key)
    return (key // data.n_items).astype(np.int32), (key % data.n_items).astype(np.int32)


def _padded_pairs(data: Any, users: np.ndarray, exclude_train: bool) -> Tuple[np.ndarray, np.ndarray]:
    """`train_pairs` padded with row -1 to a `_bucket` length (nothing but padding when not excluding)."""
    rows, items = train_pairs(data, users) if exclude_train else (np.zeros(0, np.int32), np.zeros(0, np.int32))
    width = _bucket(rows.size)
    pad = width - rows.size
    return (np.concatenate([rows, np.full(pad, -1, np.int32)]),
            np.concatenate([items, np.zeros(pad, np.int32)]))


def train_mask(data: Any, users: np.ndarray) -> np.ndarray:
    """Bool `[len(users), n_items]`: True where the item is a training positive of the user (host side)."""
    rows, cols = train_pairs(data, users)
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


def _evaluate(chunk_metrics: Callable[..., Dict[str, jax.Array]], data: Any, users: Optional[Sequence[int]],
              ks: Tuple[int, ...], chunk_size: int, exclude_train: bool, per_user: bool,
              log: Optional[Callable[[str], None]], log_every_s: float) -> Dict[str, Any]:
    """The chunk loop behind `evaluate_ranking`: `chunk_metrics(users [c], hidden [c, T], ex_rows, ex_items)`
    gives per-user metrics of one padded chunk; a progress line with an ETA every `log_every_s` seconds."""
    if not ks or min(ks) < 1:
        raise ConfigError(f"ks must be positive integers, got {ks}")
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be >= 1, got {chunk_size}")
    rows = _eval_rows(data, users)
    eval_users = np.asarray(data.test_users)[rows].astype(np.int32)
    hidden_all = np.asarray(data.test_pos)[rows].astype(np.int32)
    n = rows.shape[0]
    c = min(n, scores_chunk(chunk_size, data.n_items))
    parts: Dict[str, list] = {}
    t0 = last = time.monotonic()
    for start in range(0, n, c):
        u = eval_users[start : start + c]
        h = hidden_all[start : start + c]
        m = u.shape[0]
        if m < c:  # pad the last chunk to the compiled shape; padded rows are dropped below
            u = np.concatenate([u, np.full(c - m, u[0], np.int32)])
            h = np.concatenate([h, np.full((c - m, h.shape[1]), -1, np.int32)])
        ex_rows, ex_items = _padded_pairs(data, u[:m], exclude_train)
        out = jax.device_get(chunk_metrics(u, jnp.asarray(h), jnp.asarray(ex_rows), jnp.asarray(ex_items)))
        for name, v in out.items():
            parts.setdefault(name, []).append(np.asarray(v, np.float64)[:m])
        now = time.monotonic()
        if log is not None and now - last >= log_every_s and start + m < n:
            last = now
            log(f"[eval] {start + m}/{n} users ranked; {eta(now - t0, start + m, n - start - m)}")
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


def evaluate_ranking(scores_fn: ScoresFn, data: Any, users: Optional[Sequence[int]] = None,
                     ks: Sequence[int] = (10, 20), chunk_size: int = 1024, exclude_train: bool = True,
                     per_user: bool = False, log: Optional[Callable[[str], None]] = None,
                     log_every_s: float = 15.0) -> Dict[str, Any]:
    """Mean `hit/ndcg/mrr/recall@K` and `mpr` over evaluated users by full ranking (module docstring).

    `scores_fn(user_ids int32[C]) -> [C, n_items]` scores of every item (higher = better); `users`
    restricts evaluation to those users (default: every `data.test_users` row). Returns a dict with
    `"hit@10"`, ..., `"mpr"` (floats) and `"n_eval_users"`; with `per_user=True` also `"users"` and
    `"per_user"` (metric -> array over evaluated users). `log` receives a progress line with an ETA every
    `log_every_s` seconds of a long evaluation. Chunks hold at most `SCORES_CHUNK_BYTES` of scores.
    """
    ks = tuple(int(k) for k in ks)

    def chunk(u: np.ndarray, h: jax.Array, ex_rows: jax.Array, ex_items: jax.Array) -> Dict[str, jax.Array]:
        scores = jnp.asarray(scores_fn(jnp.asarray(u)), jnp.float32)
        if scores.shape != (u.shape[0], data.n_items):
            raise ConfigError(f"scores_fn returned shape {scores.shape}, expected {(u.shape[0], data.n_items)}")
        return _chunk_metrics(scores, h, ex_rows, ex_items, ks)

    return _evaluate(chunk, data, users, ks, chunk_size, exclude_train, per_user, log, log_every_s)


def evaluate_shared_scores(scores: np.ndarray, data: Any, users: Optional[Sequence[int]] = None,
                           ks: Sequence[int] = (10, 20), chunk_size: int = 1024, exclude_train: bool = True,
                           per_user: bool = False, log: Optional[Callable[[str], None]] = None,
                           log_every_s: float = 15.0) -> Dict[str, Any]:
    """`evaluate_ranking` of one score vector `[n_items]` given to every user (a non-personalized ranking),
    equal to it to the last digit but with no per-user `[n_items]` work: the global order is sorted once."""
    ks = tuple(int(k) for k in ks)
    s = np.asarray(scores, np.float32).reshape(-1)
    if s.shape[0] != data.n_items:
        raise ConfigError(f"scores have {s.shape[0]} items, expected {data.n_items}")
    s = np.where(np.isnan(s), -np.inf, s).astype(np.float32)
    order = np.lexsort((np.arange(s.shape[0]), -s))  # best first, ties to the lower index
    beats_all = np.empty(s.shape[0], np.int32)
    beats_all[order] = np.arange(s.shape[0], dtype=np.int32)
    s_dev, b_dev = jnp.asarray(s), jnp.asarray(beats_all)
    return _evaluate(lambda u, h, r, i: _shared_chunk_metrics(s_dev, b_dev, h, r, i, ks), data, users, ks,
                     chunk_size, exclude_train, per_user, log, log_every_s)


@jax.jit
def _two_tower_scores(tt: Any, users: jax.Array) -> jax.Array:
    return tt.logits_cross(users)


def evaluate_two_tower(tt: Any, data: Any, users: Optional[Sequence[int]] = None, ks: Sequence[int] = (10, 20),
                       chunk_size: int = 1024, exclude_train: bool = True, per_user: bool = False,
                       log: Optional[Callable[[str], None]] = None) -> Dict[str, Any]:
    """`evaluate_ranking` of a `TwoTower`'s full logits (`global + user + item bias + score`)."""
    if tt.n_items != data.n_items or tt.n_users != data.n_users:
        raise ConfigError(f"recommender has {tt.n_users} users x {tt.n_items} items but the data has "
                          f"{data.n_users} x {data.n_items}")
    return evaluate_ranking(lambda u: _two_tower_scores(tt, u), data, users=users, ks=ks,
                            chunk_size=chunk_size, exclude_train=exclude_train, per_user=per_user, log=log)


def most_popular_scores(data: Any) -> ScoresFn:
    """The most-popular baseline: every user scores item i by its training count `popularity[i]`."""
    pop = jnp.asarray(np.asarray(data.popularity, np.float32))
    return lambda users: jnp.broadcast_to(pop, (users.shape[0], pop.shape[0]))


def evaluate_most_popular(data: Any, users: Optional[Sequence[int]] = None, ks: Sequence[int] = (10, 20),
                          chunk_size: int = 1024, exclude_train: bool = True, per_user: bool = False,
                          log: Optional[Callable[[str], None]] = None) -> Dict[str, Any]:
    """`evaluate_ranking` of the most-popular ranking (the baseline every recommender must beat), through
    `evaluate_shared_scores` (every user gets the same scores)."""
    return evaluate_shared_scores(np.asarray(data.popularity, np.float32), data, users=users, ks=ks,
                                  chunk_size=chunk_size, exclude_train=exclude_train, per_user=per_user, log=log)
