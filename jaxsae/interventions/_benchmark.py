"""The steering benchmark: SAE steering against steering without an SAE, on the users' own held-out items.

Concept part: for the users whose hidden (held-out) positives over-represent a concept, over the steering
strength, the personal ndcg@K on their own hidden positives against the segment recall@K (the share of
their hidden concept positives the top-K retrieves), for the SAE's steering (the concept neuron of the
users raised by `level` x its largest activation; and the norm-preserving redistribution of their
latents towards it, `redistribute`) and for a label baseline without an SAE
(`scores + lambda x std_u(scores) x label`, label 1 on the concept's items). A neuron edit earns its keep
when its curve lies above the baseline's: more of the segment for the same personal accuracy.

Popularity part: for a popularity neuron (the neuron whose item activations rank-correlate most with
item popularity), lowered by `level` x its largest activation, against popularity down-weighting
(`scores - lambda x std_u(scores) x z(log(1 + popularity))`): long-tail coverage and the Gini index of
the top-K lists' item exposure, with personal ndcg@K, over the strength.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from jaxsae.interventions._common import _exclusion, _top, level_scale
from jaxsae.interventions._steer import Steerer, latent_edit
from jaxsae.interventions._common import concept_neuron
from jaxsae.analysis import spearman

BENCHMARK_LEVELS = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0)  # SAE: added to the concept neuron, x its largest activation
LABEL_LAMBDAS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0)  # label baseline: x the user's score std, added to the label
POPULARITY_LEVELS = (0.0, -0.5, -1.0, -2.0, -3.0, -4.0)  # SAE: added to the popularity neuron
POPULARITY_LAMBDAS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0)  # down-weighting: x the user's score std
REDISTRIBUTE_LEVELS = (0.0, 0.05, 0.1, 0.2, 0.4, 0.7, 1.0)  # a of `redistribute`
LONG_TAIL_HEAD = 0.2  # the head: this fraction of items with the most training positives; the rest is the tail
BENCHMARK_MAX_USERS = 500


# ---- metrics ---------------------------------------------------------------------------------------
def ndcg_at_k(top: np.ndarray, positives: np.ndarray) -> np.ndarray:
    """Per row, `DCG / IDCG` of the list `top [U, K]` against the row's positives `[U, P]` (-1 pads):
    `DCG = sum_k [top_k in positives] / log2(k + 2)`, `IDCG` the same with every positive first."""
    top, positives = np.asarray(top), np.asarray(positives)
    k = top.shape[1]
    hit = (top[:, :, None] == positives[:, None, :]).any(axis=2) & (top >= 0)
    disc = 1.0 / np.log2(np.arange(k) + 2.0)
    n_pos = np.minimum((positives >= 0).sum(axis=1), k)
    ideal = np.concatenate([[0.0], np.cumsum(disc)])[n_pos]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ideal > 0, (hit * disc).sum(axis=1) / ideal, 0.0)


def segment_recall(top: np.ndarray, positives: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """Per row, the fraction of its positives in `segment` (an item mask) that the list `top [U, K]`
    contains; NaN for a row with no positive in the segment."""
    top, positives, seg = np.asarray(top), np.asarray(positives), np.asarray(segment, bool)
    valid = positives >= 0
    in_seg = valid & seg[np.where(valid, positives, 0)]
    found = (positives[:, :, None] == top[:, None, :]).any(axis=2) & in_seg
    n = in_seg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, found.sum(axis=1) / np.maximum(n, 1), np.nan)


def gini(counts: np.ndarray) -> float:
    """Gini index of non-negative counts (e.g. how often each catalogue item appears in the lists):
    with x sorted ascending and n entries, `G = 2 sum_i i x_i / (n sum x) - (n + 1) / n` (i from 1);
    0 when every item is shown equally, `1 - 1/n` when one item takes every slot; 0 for no counts."""
    x = np.sort(np.asarray(counts, np.float64).ravel())
    n, total = x.size, float(x.sum())
    if n == 0 or total <= 0:
        return 0.0
    return float(2.0 * np.sum(np.arange(1, n + 1) * x) / (n * total) - (n + 1.0) / n)


def long_tail_coverage(top: np.ndarray, tail: np.ndarray) -> float:
    """The fraction of the long-tail items (`tail`, an item mask) that appear in at least one list."""
    tail = np.asarray(tail, bool)
    shown = np.zeros(tail.shape[0], bool)
    shown[np.asarray(top).ravel()] = True
    return float((shown & tail).sum() / max(1, int(tail.sum())))


def long_tail_mask(popularity: np.ndarray, head: float = LONG_TAIL_HEAD) -> np.ndarray:
    """Items outside the head (the `head` fraction with the most training positives; ties by index)."""
    pop = np.asarray(popularity)
    order = np.argsort(-pop, kind="stable")
    tail = np.ones(pop.shape[0], bool)
    tail[order[: int(round(head * pop.shape[0]))]] = False
    return tail


def label_scores(scores: np.ndarray, label: np.ndarray, lam: float) -> np.ndarray:
    """The label baseline: `scores + lam * std_u(scores) * label` per user row (std over the catalogue),
    so `lam` is in units of the user's own score spread."""
    s = np.asarray(scores, np.float64)
    return s + float(lam) * s.std(axis=1, keepdims=True) * np.asarray(label, np.float64)[None, :]


def redistribute(z: np.ndarray, segment: Sequence[int], a: float) -> np.ndarray:
    """The norm-preserving redistribution of latents towards the neurons `segment` (S), per row:
    `z' = |z|_1 ((1 - a) z / |z|_1 + a e_S / |S|)`, `e_S` the indicator of S: a share `a` of the row's L1
    mass moves onto S, spread evenly, so `|z'|_1 = |z|_1` for non-negative z (rows of zeros stay zero)."""
    z = np.asarray(z, np.float64)
    norm = np.abs(z).sum(axis=1, keepdims=True)
    e = np.zeros(z.shape[1])
    e[list(segment)] = 1.0 / len(segment)
    return (1.0 - float(a)) * z + float(a) * norm * e[None, :]


# ---- users -----------------------------------------------------------------------------------------
def hidden_positives(data: Any, users: np.ndarray) -> np.ndarray:
    """`[len(users), n_test]` hidden positives of `users` (each must be a test user)."""
    test_users = np.asarray(data.test_users)
    rows = np.searchsorted(test_users, users)
    return np.asarray(data.test_pos)[rows]


def concept_fans(data: Any, users: Sequence[int], concept_mask: np.ndarray, ratio: float = 2.0,
                 max_users: int = BENCHMARK_MAX_USERS) -> np.ndarray:
    """The users of `users` with hidden positives whose concept share is at least `ratio` x the share
    among all hidden positives (at least one concept item), most over-represented first, at most
    `max_users`."""
    cmask = np.asarray(concept_mask, bool)
    pool = np.intersect1d(np.asarray(users), np.asarray(data.test_users)).astype(np.int32)
    if pool.size == 0:
        return pool
    pos = hidden_positives(data, pool)
    share = cmask[pos].mean(axis=1)
    base = float(cmask[np.asarray(data.test_pos)].mean())
    keep = (share >= ratio * base) & (share > 0)
    order = np.argsort(-share[keep], kind="stable")
    return pool[keep][order][: int(max_users)]


def _curve(top_fn: Any, strengths: Sequence[float], positives: np.ndarray, extra: Any) -> List[Dict[str, Any]]:
    out = []
    for v in strengths:
        top = top_fn(v)
        out.append({"strength": float(v), "ndcg": float(np.mean(ndcg_at_k(top, positives))), **extra(top)})
    return out


def concept_benchmark(steerer: Steerer, data: Any, concept: str, users: Sequence[int], neuron: Optional[int] = None,
                      k: int = 20, levels: Sequence[float] = BENCHMARK_LEVELS,
                      lambdas: Sequence[float] = LABEL_LAMBDAS, exclude_train: bool = True,
                      max_users: int = BENCHMARK_MAX_USERS) -> Dict[str, Any]:
    """The concept part (module docstring): per strength, `ndcg` (personal ndcg@k on the users' own
    hidden positives), `segment_recall` (mean over users with a hidden concept positive) and
    `concept_share` of the top-k, for `"sae"` (the concept neuron, by purity@10 unless given, raised by
    `level` x its largest activation), `"sae_redistribute"` (`redistribute` of the users' latents towards
    that neuron, strength a) and `"label"` (`label_scores`)."""

    c = data.concept_index(concept)
    cmask = np.asarray(data.concepts[:, c], bool)
    fans = concept_fans(data, users, cmask, max_users=max_users)
    if neuron is None:
        neuron = concept_neuron(steerer.item_latents(), data.concepts, c)
    neuron = steerer.check_neuron(neuron)
    out: Dict[str, Any] = {"concept": data.concept_names[c], "neuron": neuron, "k": int(k), "n_users": int(fans.size)}
    if fans.size == 0:
        return {**out, "sae": [], "label": [], "note": "no held-out user over-represents the concept"}
    pos = hidden_positives(data, fans)
    excl = _exclusion(data, fans, exclude_train)
    scale = level_scale(steerer.user_latents(), neuron)
    ones = np.ones(fans.size, bool)
    base = np.asarray(steerer.baseline(fans))

    def extra(top: np.ndarray) -> Dict[str, float]:
        return {"segment_recall": float(np.nanmean(segment_recall(top, pos, cmask))),
                "concept_share": float(cmask[top].mean())}

    out["sae"] = _curve(lambda v: _top(steerer.scores(fans, user_edit=latent_edit(neuron, "add", v * scale, ones)),
                                       k, excl), levels, pos, extra)
    z = steerer.user_latents(fans)
    every = list(range(z.shape[1]))
    out["sae_redistribute"] = _curve(
        lambda a: _top(steerer.scores(fans, user_edit=latent_edit(every, "set", redistribute(z, [neuron], a), ones)),
                       k, excl), REDISTRIBUTE_LEVELS, pos, extra)
    out["label"] = _curve(lambda v: _top(label_scores(base, cmask, v), k, excl), lambdas, pos, extra)
    out["scale"] = float(scale)
    return out


def popularity_neuron(item_latents: np.ndarray, popularity: np.ndarray) -> int:
    """The neuron whose item activations rank-correlate most (Spearman) with item popularity."""

    rho = np.asarray(spearman(np.asarray(item_latents, np.float32), np.asarray(popularity, np.float32)), float)
    return int(np.argmax(np.nan_to_num(rho, nan=-np.inf)))


def popularity_benchmark(steerer: Steerer, data: Any, users: Sequence[int], neuron: Optional[int] = None,
                         k: int = 20, levels: Sequence[float] = POPULARITY_LEVELS,
                         lambdas: Sequence[float] = POPULARITY_LAMBDAS, exclude_train: bool = True,
                         max_users: int = BENCHMARK_MAX_USERS, head: float = LONG_TAIL_HEAD) -> Dict[str, Any]:
    """The popularity part (module docstring): per strength, `ndcg`, `long_tail_coverage`, `gini` of the
    item exposure in the top-k lists and `long_tail_share` of the list slots, for `"sae"` (the
    popularity neuron lowered) and `"downweight"` (scores - lambda x std_u x z(log(1 + popularity)))."""
    pool = np.intersect1d(np.asarray(users), np.asarray(data.test_users)).astype(np.int32)[: int(max_users)]
    pop = np.asarray(data.popularity, np.float64)
    if neuron is None:
        neuron = popularity_neuron(steerer.item_latents(), pop)
    neuron = steerer.check_neuron(neuron)
    tail = long_tail_mask(pop, head)
    out: Dict[str, Any] = {"neuron": neuron, "k": int(k), "n_users": int(pool.size), "head": float(head),
                           "n_tail_items": int(tail.sum())}
    if pool.size == 0:
        return {**out, "sae": [], "downweight": [], "note": "no held-out test user"}
    pos = hidden_positives(data, pool)
    excl = _exclusion(data, pool, exclude_train)
    scale = level_scale(steerer.user_latents(), neuron)
    ones = np.ones(pool.size, bool)
    base = np.asarray(steerer.baseline(pool))
    logp = np.log1p(pop)
    z = (logp - logp.mean()) / (logp.std() or 1.0)

    def extra(top: np.ndarray) -> Dict[str, float]:
        counts = np.bincount(top.ravel(), minlength=pop.shape[0])
        return {"long_tail_coverage": long_tail_coverage(top, tail), "gini": gini(counts),
                "long_tail_share": float(tail[top].mean())}

    out["sae"] = _curve(lambda v: _top(steerer.scores(pool, user_edit=latent_edit(neuron, "add", v * scale, ones)),
                                       k, excl), levels, pos, extra)
    out["downweight"] = _curve(lambda v: _top(label_scores(base, z, -v), k, excl), lambdas, pos, extra)
    out["scale"] = float(scale)
    return out
