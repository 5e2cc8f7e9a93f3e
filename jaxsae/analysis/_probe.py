"""The supervised bound: how many concepts the embeddings hold linearly, which an SAE could find.

Per concept c and per seeded half split of the (supported) items:

    fit   on the fitting half F:   w_c = (S_shrunk)^-1 (mu_1 - mu_0)        (shrunk LDA)
          S = X_w^T X_w / |F|,  X_w = rows of F centered on their own class mean (within-class scatter)
          S_shrunk = (1 - a) S + a (tr S / d) I,  a = Ledoit-Wolf's estimate on F (or a fixed value in [0, 1])
    rank  the other half H by x . w_c; probe purity@K = #{top-K of H carrying c} / K  (ties: lower index)
    null  on H: the random-direction null (best of `n_directions` directions, `null_seeds` seeds), the
          same bar the SAE's neurons meet on all items
    clear on this split: probe purity@K >= threshold and probe purity@K - null >= margin

A concept is *probe-clear* when it is clear on a majority (> half) of the splits: the count then moves
little with the split. Ledoit-Wolf chooses the shrinkage per concept from the data, so no single fixed
value (which moved the count from 7 to 1 across .001 .. 1 on one dataset) decides it; it is estimated once
per split on the fitting half (see `lda_directions`), so hundreds of tag concepts stay cheap. A concept with
no carrier in the fitting half gets purity 0 on that split. *Concept recall* is the share of
probe-clear concepts that the SAE also makes clear (`recall`).
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Sequence, Union

import numpy as np

from jaxsae.analysis._concepts import DEFAULT_NULL_SEEDS, random_direction_null

CLEAR_PURITY = 0.9  # purity@10 from which a concept is isolated
CLEAR_MARGIN = 0.2  # ... and by how much it must beat the random-direction null
MARGIN_SLACK = 1e-9  # 1.0 - 0.8 < 0.2 in floats: the margin comparison allows this much


def is_clear(purity: np.ndarray, null: np.ndarray, threshold: float = CLEAR_PURITY,
             margin: float = CLEAR_MARGIN) -> np.ndarray:
    """`purity >= threshold and purity - null >= margin` elementwise (False where the null is NaN)."""
    purity, null = np.asarray(purity, np.float64), np.asarray(null, np.float64)
    with np.errstate(invalid="ignore"):
        return (purity >= threshold) & np.isfinite(null) & (purity - null >= margin - MARGIN_SLACK)


def ledoit_wolf_shrinkage(xc: np.ndarray) -> float:
    """Ledoit-Wolf shrinkage intensity `a` in [0, 1] of centered rows `xc [n, d]` toward `(tr S / d) I`.

    With `S = xc^T xc / n`, `mu = tr S / d`: `delta = ||S - mu I||_F^2 / d`,
    `beta = (sum((x^2)^T (x^2)) / n - ||S||_F^2) / (d n)` (the variance of the entries of `S`, i.e.
    `sum_k ||x_k x_k^T - S||_F^2 / (d n^2)`) and `a = min(beta, delta) / delta` (0 when delta = 0), as
    scikit-learn's `ledoit_wolf_shrinkage`.
    """
    xc = np.asarray(xc, np.float64)
    n, d = xc.shape
    if n < 2:
        return 1.0
    s = xc.T @ xc / n
    mu = np.trace(s) / d
    delta = (np.sum(s * s) - 2 * mu * np.trace(s) + d * mu * mu) / d
    x2 = xc * xc
    beta = (np.sum(x2.T @ x2) / n - np.sum(s * s)) / (d * n)
    beta = min(beta, delta)
    return 0.0 if delta <= 0 else float(beta / delta)


def lda_directions(x: np.ndarray, labels: np.ndarray, shrinkage: Union[str, float] = "auto") -> np.ndarray:
    """Shrunk LDA directions `W [d, C]`, one per column of `labels [n, C]` (a zero column where a class is
    empty). Every concept's within-class scatter comes from the shared `X^T X` and its two class means,

        S_c = (X^T X - n_1 mu_1 mu_1^T - n_0 mu_0 mu_0^T) / n

    and is shrunk with one intensity per call: Ledoit-Wolf's for the rows centered at their mean
    ("auto"; a concept's within-class scatter differs from that covariance by a rank-one term) or the
    given value. So hundreds of tag concepts cost one `d x d` solve each."""
    x = np.asarray(x, np.float64)
    y = np.asarray(labels, bool)
    n, d = x.shape
    n1 = y.sum(axis=0).astype(np.float64)  # [C]
    n0 = n - n1
    s1 = x.T @ y  # [d, C] class sums
    mu1 = s1 / np.maximum(n1, 1.0)
    mu0 = (x.sum(axis=0)[:, None] - s1) / np.maximum(n0, 1.0)
    xtx = x.T @ x
    scat = (xtx[None] - np.einsum("c,ic,jc->cij", n1, mu1, mu1) - np.einsum("c,ic,jc->cij", n0, mu0, mu0)) / n
    a = ledoit_wolf_shrinkage(x - x.mean(axis=0)) if shrinkage == "auto" else float(shrinkage)
    tr = np.trace(scat, axis1=1, axis2=2) / d  # [C]
    shrunk = (1.0 - a) * scat + a * tr[:, None, None] * np.eye(d)[None]
    shrunk += 1e-9 * (tr.mean() + 1e-12) * np.eye(d)[None]  # a constant column must not make it singular
    w = np.linalg.solve(shrunk, (mu1 - mu0).T[:, :, None])[:, :, 0].T  # [d, C]
    w[:, (n1 == 0) | (n0 == 0)] = 0.0
    return w


def top_k_hits(scores: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Per column c of `scores [n, C]`: how many of its top-k rows (ties: lower index) carry `labels[:, c]`."""
    order = np.argsort(-scores, axis=0, kind="stable")[:k]  # [k, C]
    return np.take_along_axis(np.asarray(labels, bool), order, axis=0).sum(axis=0)


@dataclasses.dataclass(frozen=True)
class ProbeBound:
    """The probe bound of every concept over the splits (`[n_splits, C]` arrays, `[C]` summaries)."""

    purity: np.ndarray  # [S, C] probe purity@K on the ranked half
    null: np.ndarray  # [S, C] random-direction null purity@K on that half
    clear: np.ndarray  # [S, C] bool
    k: int
    shrinkage: str

    @property
    def clear_fraction(self) -> np.ndarray:
        """`[C]` share of the splits on which the concept is clear."""
        return self.clear.mean(axis=0)

    @property
    def probe_clear(self) -> np.ndarray:
        """`[C]` bool: clear on a strict majority of the splits."""
        return self.clear.sum(axis=0) * 2 > self.clear.shape[0]


def probe_bound(x: np.ndarray, concepts: np.ndarray, n_directions: int, splits: int = 5, seed: int = 0,
                shrinkage: Union[str, float] = "auto", null_seeds: int = DEFAULT_NULL_SEEDS, k: int = 10,
                item_mask: Optional[np.ndarray] = None, threshold: float = CLEAR_PURITY,
                margin: float = CLEAR_MARGIN) -> ProbeBound:
    """The supervised bound of the module docstring. `x [n_items, d]` are the items as the SAE's encoder
    sees them, `concepts [n_items, C]` bool, `n_directions` the null's directions (the SAE's h).
    Split s draws its halves from `numpy.random.default_rng(seed + s)` over the items of `item_mask`."""
    x = np.asarray(x, np.float64)
    conc = np.asarray(concepts, bool)
    items = np.flatnonzero(np.ones(x.shape[0], bool) if item_mask is None else np.asarray(item_mask, bool))
    n_c = conc.shape[1]
    purity = np.zeros((splits, n_c))
    null = np.zeros((splits, n_c))
    for s in range(splits):
        perm = np.random.default_rng(seed + s).permutation(items)
        fit, ranked = np.sort(perm[: len(perm) // 2]), np.sort(perm[len(perm) // 2:])
        w = lda_directions(x[fit], conc[fit], shrinkage)  # [d, C]
        hits = top_k_hits(x[ranked] @ w, conc[ranked], k)
        purity[s] = np.where(conc[fit].any(axis=0), hits / float(k), 0.0)
        mask = np.zeros(x.shape[0], bool)
        mask[ranked] = True
        nb = random_direction_null(x.astype(np.float32), conc, n_directions, (k,), tuple(range(null_seeds)),
                                   mask, select_k=k)
        null[s] = nb.best[0]
    return ProbeBound(purity=purity, null=null, clear=is_clear(purity, null, threshold, margin), k=int(k),
                      shrinkage=str(shrinkage))


def recall(sae_clear: np.ndarray, probe_clear: np.ndarray, keep: Optional[np.ndarray] = None) -> dict:
    """Concept recall: `#(SAE-clear and probe-clear) / #probe-clear` over the concepts in `keep`
    (None when no concept is probe-clear), with the three counts."""
    sae_clear, probe_clear = np.asarray(sae_clear, bool), np.asarray(probe_clear, bool)
    if keep is not None:
        sae_clear, probe_clear = sae_clear[keep], probe_clear[keep]
    hit = int((sae_clear & probe_clear).sum())
    n_probe = int(probe_clear.sum())
    return {"sae_clear": int(sae_clear.sum()), "probe_clear": n_probe, "sae_clear_among_probe_clear": hit,
            "concept_recall": hit / n_probe if n_probe else None}
