"""Fidelity of an SAE: do reconstructed embeddings rank items like the originals?

Compare, per user, the top-K list `a` of the original recommender with the top-K list `b` of the
recommender rebuilt from SAE reconstructions (lists of item ids, best first, no duplicates):

- RBO (rank-biased overlap, Webber, Moffat & Zobel 2010, p = 0.9). With `A_d = |a[:d] ∩ b[:d]| / d`:
  truncated sum (what the reference code reports) `RBO_trunc = (1 - p) sum_{d=1..K} p^(d-1) A_d`,
  at most `1 - p^K`; extrapolated (their eq. 32) `RBO_ext = RBO_trunc + A_K p^K`, 1 for equal lists.
- Kendall tau-b on the union of the two lists: every item of the union gets its position in each
  list (1..K), or K + 1 where it is missing (tied); `tau_b = (C - D) / sqrt((n0 - n1)(n0 - n2))` with
  C/D concordant/discordant pairs, n0 all pairs, n1/n2 pairs tied in a / in b.
- top-K overlap `|a ∩ b| / K`.

All take `[K]` or `[U, K]` integer arrays and return a float or a `[U]` array.
"""
from __future__ import annotations

from typing import Any, Dict, Sequence

import numpy as np

from jaxsae.errors import ConfigError
import jax.numpy as jnp
from jaxsae.metrics._ranking import _two_tower_scores, evaluate_two_tower, scores_chunk, top_k, train_mask

def _rows(a: Any, b: Any) -> "tuple[np.ndarray, np.ndarray, bool]":
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim not in (1, 2):
        raise ValueError(f"top-K lists must have the same shape [K] or [U, K], got {a.shape} and {b.shape}")
    single = a.ndim == 1
    return np.atleast_2d(a), np.atleast_2d(b), single


def _out(x: np.ndarray, single: bool) -> Any:
    return float(x[0]) if single else x


def overlap_at_depths(a: Any, b: Any) -> np.ndarray:
    """`X[u, d-1] = |a[u, :d] ∩ b[u, :d]|` for d = 1..K (`[U, K]`)."""
    a2, b2, _ = _rows(a, b)
    k = a2.shape[1]
    match = a2[:, :, None] == b2[:, None, :]  # [U, K, K]
    depth = np.maximum(np.arange(k)[:, None], np.arange(k)[None, :])  # a match counts from depth max(i, j) + 1
    counts = np.zeros(a2.shape, np.int64)
    for t in range(k):
        counts[:, t] = np.sum(match & (depth == t)[None], axis=(1, 2))
    return np.cumsum(counts, axis=1)


def rbo_truncated(a: Any, b: Any, p: float = 0.9) -> Any:
    """`(1 - p) sum_{d=1..K} p^(d-1) A_d` (the reference code's RBO; < 1 even for equal lists)."""
    a2, b2, single = _rows(a, b)
    k = a2.shape[1]
    agreement = overlap_at_depths(a2, b2) / np.arange(1, k + 1)
    weights = (1 - p) * p ** np.arange(k)
    return _out(agreement @ weights, single)


def rbo(a: Any, b: Any, p: float = 0.9) -> Any:
    """Extrapolated RBO `RBO_trunc + A_K p^K` (Webber et al. 2010, eq. 32): 1 for equal lists, 0 for disjoint."""
    a2, b2, single = _rows(a, b)
    k = a2.shape[1]
    x = overlap_at_depths(a2, b2)
    agreement = x / np.arange(1, k + 1)
    value = agreement @ ((1 - p) * p ** np.arange(k)) + agreement[:, -1] * p ** k
    return _out(value, single)


def topk_overlap(a: Any, b: Any) -> Any:
    """`|a ∩ b| / K`."""
    a2, b2, single = _rows(a, b)
    return _out(overlap_at_depths(a2, b2)[:, -1] / a2.shape[1], single)


def kendall_tau_union(a: Any, b: Any) -> Any:
    """Kendall tau-b over the union of the two lists, missing items ranked K + 1 (see module doc).

    NaN when one ranking is all ties (cannot happen for K >= 2 lists without duplicates).
    """
    a2, b2, single = _rows(a, b)
    n_rows, k = a2.shape
    match = a2[:, :, None] == b2[:, None, :]  # [U, K(a), K(b)]
    pos = np.arange(1, k + 1)
    in_b = match.any(axis=2)
    rank_b_of_a = np.where(in_b, np.argmax(match, axis=2) + 1, k + 1)
    b_new = ~match.any(axis=1)  # items of b missing from a (the rest are already in the union)
    ra = np.concatenate([np.broadcast_to(pos, (n_rows, k)), np.full((n_rows, k), k + 1)], axis=1)
    rb = np.concatenate([rank_b_of_a, np.broadcast_to(pos, (n_rows, k))], axis=1)
    valid = np.concatenate([np.ones((n_rows, k), bool), b_new], axis=1)  # [U, 2K]
    da = np.sign(ra[:, :, None] - ra[:, None, :])
    db = np.sign(rb[:, :, None] - rb[:, None, :])
    upper = np.triu(np.ones((2 * k, 2 * k), bool), 1)
    pair = valid[:, :, None] & valid[:, None, :] & upper[None]
    s = np.sum(da * db * pair, axis=(1, 2)).astype(np.float64)
    n0 = pair.sum(axis=(1, 2)).astype(np.float64)
    n1 = np.sum((da == 0) & pair, axis=(1, 2))
    n2 = np.sum((db == 0) & pair, axis=(1, 2))
    denom = np.sqrt((n0 - n1) * (n0 - n2))
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = np.where(denom > 0, s / np.where(denom > 0, denom, 1.0), np.nan)
    return _out(tau, single)


def top_k_lists(two_tower: Any, users: np.ndarray, k: int, data: Any = None, exclude_train: bool = True,
                chunk_size: int = 1024) -> np.ndarray:
    """`[len(users), k]` best items by full logits, training positives excluded when `data` is given."""
    mask_fn = (lambda u: train_mask(data, u)) if (data is not None and exclude_train) else None
    return masked_top_k_lists(two_tower, users, k, mask_fn, chunk_size)


PAPER_LIST_LENGTH = 29  # the reference's `recommend_pq(..., num=30)` returns `[0:num-1]`: 29 items
PAPER_P = 0.9


def all_positives_mask(data: Any, users: np.ndarray) -> np.ndarray:
    """Bool `[len(users), n_items]`: the user's training positives and hidden test positives (the
    reference drops every item of the full ratings matrix, hidden ones included, from its lists)."""

    users = np.asarray(users, np.int64)
    mask = train_mask(data, users)
    row_of = np.full(int(data.n_users), -1, np.int64)
    row_of[np.asarray(data.test_users, np.int64)] = np.arange(len(data.test_users))
    rows = np.flatnonzero(row_of[users] >= 0)
    hidden = np.asarray(data.test_pos)[row_of[users[rows]]]
    r, c = np.nonzero(hidden >= 0)
    mask[rows[r], hidden[r, c]] = True
    return mask


def masked_top_k_lists(two_tower: Any, users: np.ndarray, k: int, mask_fn: Any, chunk_size: int = 1024) -> np.ndarray:
    """`[len(users), k]` best items by full logits, excluding the items where `mask_fn(users_chunk)` is True
    (`mask_fn` None: every item ranks). The scores go through one module-level jitted function, so repeated
    calls on the same shapes reuse its compilation."""
    users = np.asarray(users, np.int32)
    out = []
    chunk_size = scores_chunk(chunk_size, two_tower.n_items)
    for start in range(0, len(users), chunk_size):
        u = users[start: start + chunk_size]
        scores = _two_tower_scores(two_tower, jnp.asarray(u))
        out.append(np.asarray(top_k(scores, k, None if mask_fn is None else jnp.asarray(mask_fn(u)))[1]))
    return np.concatenate(out) if out else np.zeros((0, k), np.int32)


def paper_fidelity(two_tower: Any, recon_two_tower: Any, data: Any, users: Sequence[int]) -> Dict[str, float]:
    """The reference's own fidelity figures (utils `recommend_pq`, `rbo`, `kendall_tau`): per user, 29-item
    lists excluding all of the user's positives (hidden test ones included), the truncated RBO sum
    (p = 0.9, at most 1 - 0.9^29 = 0.953) and Kendall tau-b on the union; means over `users`."""
    users = np.asarray(users, np.int32)
    k = PAPER_LIST_LENGTH
    mask_fn = lambda u: all_positives_mask(data, u)  # noqa: E731
    a = masked_top_k_lists(two_tower, users, k, mask_fn)
    b = masked_top_k_lists(recon_two_tower, users, k, mask_fn)
    return {"rbo_paper": float(np.mean(rbo_truncated(a, b, PAPER_P))),
            "kendall_tau_paper": float(np.nanmean(kendall_tau_union(a, b)))}


FIDELITY_MAX_USERS = 8192
"""Users a fidelity report ranks at most (a seeded sample beyond): its six full-ranking passes over the 32.5k
held-out users of an ML-25M-size run took about a minute per SAE; the standard error of a mean RBO over 8,192
users is a few thousandths. Below it (ML-1M: 1.2k held-out users) every user is ranked, as before."""


def sample_users(users: Sequence[int], max_users: int, seed: int = 0) -> np.ndarray:
    """`users`, or a seeded sample of `max_users` of them in their order when there are more."""
    users = np.asarray(users)
    if len(users) <= max_users:
        return users
    return users[np.sort(np.random.default_rng(seed).choice(len(users), max_users, replace=False))]


def fidelity_report(two_tower: Any, recon_two_tower: Any, data: Any, users: Sequence[int], k: int = 30,
                    exclude_train: bool = True, ks: Sequence[int] = (10, 20),
                    max_users: int = FIDELITY_MAX_USERS) -> Dict[str, Any]:
    """Fidelity on `users` (at most `max_users` of them, `sample_users`): `rbo@K`, `rbo_trunc@K`,
    `kendall_tau@K`, `overlap@K` (means over users) between the top-K lists of `two_tower` and
    `recon_two_tower`; `rbo_paper`, `kendall_tau_paper`: the reference code's figures (`paper_fidelity`);
    the ranking metrics of the reconstruction, and `"original"`: the same ranking metrics of `two_tower` on
    the same users; `n_fidelity_users`: how many users were ranked."""

    users = sample_users(np.asarray(users, np.int32), max_users)
    a = top_k_lists(two_tower, users, k, data, exclude_train)
    b = top_k_lists(recon_two_tower, users, k, data, exclude_train)
    report: Dict[str, Any] = {
        f"rbo@{k}": float(np.mean(rbo(a, b))),
        f"rbo_trunc@{k}": float(np.mean(rbo_truncated(a, b))),
        f"kendall_tau@{k}": float(np.nanmean(kendall_tau_union(a, b))),
        f"overlap@{k}": float(np.mean(topk_overlap(a, b))),
        "n_fidelity_users": int(len(users)),
    }
    if data is not None:
        report.update(paper_fidelity(two_tower, recon_two_tower, data, users))
    try:
        report.update(evaluate_two_tower(recon_two_tower, data, users, ks=ks, exclude_train=exclude_train))
        report["original"] = evaluate_two_tower(two_tower, data, users, ks=ks, exclude_train=exclude_train)
    except ConfigError:  # none of `users` has hidden test positives: fidelity only
        pass
    return report
