"""Concept purity of neurons, the random-direction null, popularity and temporal neurons.

Everything works on item activations `A [n_items, h]` (one column per neuron) and the multi-hot concept
matrix `concepts [n_items, n_concepts]` of `InteractionData`.

Top-K convention (used by every function here): a neuron's top-K items are its K highest-activation
items among those with activation > 0; ties are broken by item index (lower first, the order of
`jax.lax.top_k`). `purity@K(n, c) = #{top-K items of n carrying c} / K`: the denominator is always K,
so a neuron active on fewer than K items is charged for the empty slots (one firing on 3 Comedy items
has purity@10 = 0.3, not 1.0) and a dead neuron has purity 0. Items outside the `--min-support` set
are treated as inactive.
"""
from __future__ import annotations

from functools import partial
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxsae.analysis._ranks import percentile_ranks, spearman

DEFAULT_KS: Tuple[int, ...] = (5, 10, 20, 50)
SELECT_K = 10  # best neuron per concept is chosen by purity@10


def top_activations(a: jax.Array, k: int) -> Tuple[jax.Array, jax.Array, jax.Array]:
    """Each neuron's K highest activations: `(values [h, k], items [h, k], active [h, k])`.

    `k` is clipped to the number of items; `active` marks slots whose activation is > 0 (only those
    count as top items). Ties go to the lower item index.
    """
    k = min(int(k), int(a.shape[0]))
    vals, idx = jax.lax.top_k(jnp.asarray(a, jnp.float32).T, k)
    return vals, idx, vals > 0


@partial(jax.jit, static_argnames=("ks",))
def purity_hits(a: jax.Array, concepts: jax.Array, ks: Tuple[int, ...] = DEFAULT_KS) -> jax.Array:
    """`hits[j, n, c]` (int32): how many of neuron n's top-`ks[j]` active items carry concept c."""
    kmax = min(max(ks), a.shape[0])
    _, idx, active = top_activations(a, kmax)
    hits = jnp.asarray(concepts, bool)[idx] & active[..., None]  # [h, kmax, C]
    csum = jnp.cumsum(hits.astype(jnp.int32), axis=1)
    return jnp.stack([csum[:, min(k, kmax) - 1, :] for k in ks])


def purity_at_k(a: jax.Array, concepts: jax.Array, ks: Tuple[int, ...] = DEFAULT_KS) -> np.ndarray:
    """`purity[j, n, c]` = fraction of neuron n's top-`ks[j]` active items that carry concept c.

    `a [n_items, h]`, `concepts [n_items, n_concepts]` (bool) -> `[len(ks), h, n_concepts]` in [0, 1].
    Denominator K even when fewer than K items are active (see the module docstring). Hits are counted
    as integers and divided in float64, so 9 of 10 is exactly the double 0.9 and `purity >= 0.9` is an
    exact comparison (float32 made it 0.9000000357, while a null averaging 0.9 read 0.8999999762).
    """
    ks = tuple(int(k) for k in ks)
    hits = np.asarray(purity_hits(a, concepts, ks), np.float64)
    return hits / np.asarray(ks, np.float64)[:, None, None]


def support_mask(popularity: np.ndarray, min_support: int = 0) -> np.ndarray:
    """Items with at least `min_support` training interactions (`--min-support N`), `[n_items]` bool."""
    return np.asarray(popularity) >= int(min_support)


def restrict_items(a: jax.Array, item_mask: Optional[np.ndarray]) -> jax.Array:
    """Zero the activations of items outside `item_mask`, so they never enter a top-K."""
    if item_mask is None:
        return jnp.asarray(a)
    return jnp.where(jnp.asarray(item_mask)[:, None], jnp.asarray(a), 0.0)


def base_rates(concepts: np.ndarray, item_mask: Optional[np.ndarray] = None) -> np.ndarray:
    """Share of (supported) items carrying each concept, `[n_concepts]`: the purity of a random item list."""
    c = np.asarray(concepts, bool)
    if item_mask is not None:
        c = c[np.asarray(item_mask, bool)]
    return c.mean(axis=0) if c.shape[0] else np.zeros(c.shape[1])


def best_neurons(purity: jax.Array, ks: Sequence[int] = DEFAULT_KS, select_k: int = SELECT_K
                 ) -> Tuple[np.ndarray, np.ndarray]:
    """Best neuron per concept by purity@`select_k`, and its purity at every K.

    `purity [len(ks), h, C]` -> `(neuron [C] int, purity_of_best [len(ks), C])`. Ties in
    purity@`select_k` go to the neuron with the higher mean purity over all K, then the lower index.
    """
    p = np.asarray(purity)
    j = list(ks).index(select_k)
    score = p[j] + 1e-6 * p.mean(axis=0)  # [h, C]; the tie-breaker is far below the 1/K purity step
    neuron = np.argmax(score, axis=0)
    return neuron, p[:, neuron, np.arange(p.shape[2])]


class NullPurity(NamedTuple):
    """Random-direction baseline: `best [len(ks), C]` is the purity of the best direction per concept
    (chosen by purity@10, like the SAE's neurons), `mean [len(ks), C]` the purity of a typical direction;
    both averaged over seeds. `best_se [len(ks), C]` is the standard error of `best` over the seeds,
    `std(best_s, ddof=1) / sqrt(S)` (NaN with one seed), so a margin over the null can be read with its noise."""

    best: np.ndarray
    mean: np.ndarray
    best_se: Optional[np.ndarray] = None


DEFAULT_NULL_SEEDS = 30  # the null's standard error at 30 seeds is about sqrt(6) smaller than at 5
NULL_CHUNK_ELEMENTS = 1 << 25  # activations held at once by the batched null (n_items x directions x seeds)


@partial(jax.jit, static_argnames=("n_directions", "ks", "select_k"))
def _null_seeds(keys: jax.Array, x: jax.Array, concepts: jax.Array, item_mask: jax.Array,
                n_directions: int, ks: Tuple[int, ...], select_k: int) -> Tuple[jax.Array, jax.Array]:
    """For a batch of seeds `keys [S]`: integer hits of each seed's best direction per concept `[S, nk, C]`
    and the hits summed over its directions `[S, nk, C]` (one compiled program for all S seeds)."""

    def one(key: jax.Array) -> Tuple[jax.Array, jax.Array]:
        d = jax.random.normal(key, (x.shape[1], n_directions))
        d = d / jnp.linalg.norm(d, axis=0, keepdims=True)
        acts = jnp.where(item_mask[:, None], jax.nn.relu(x @ d), 0.0)
        hits = purity_hits(acts, concepts, ks)  # [nk, h, C] int32
        best = jnp.argmax(hits[ks.index(select_k)], axis=0)  # [C]
        return hits[:, best, jnp.arange(hits.shape[2])], jnp.sum(hits, axis=1)

    return jax.vmap(one)(keys)


def random_direction_null(x: jax.Array, concepts: np.ndarray, n_directions: int,
                          ks: Tuple[int, ...] = DEFAULT_KS, seeds: Sequence[int] = tuple(range(DEFAULT_NULL_SEEDS)),
                          item_mask: Optional[np.ndarray] = None, select_k: int = SELECT_K) -> NullPurity:
    """Purity reached by chance: `n_directions` random unit directions of the SAE input space, per seed.

    `x [n_items, d]` must be the item embeddings as the SAE sees them (balanced, bias-folded where the
    model has biases, after its row normalization). Direction j activates item i by `relu(x_i . r_j)`; the
    same top-K, purity and best-per-concept selection as for the SAE then gives what a neuron achieves
    without learning anything. Frequent concepts reach high purity this way, which is why every table
    shows it. Seeds are batched (`vmap`, in chunks of at most `NULL_CHUNK_ELEMENTS` activations), so
    30 seeds cost about one compiled call. Hits are summed as integers over seeds and divided once in
    float64, so a null of exactly 0.9 compares equal to 0.9; `best_se` is the seeds' standard error.
    """
    x = jnp.asarray(x, jnp.float32)
    mask = jnp.ones(x.shape[0], bool) if item_mask is None else jnp.asarray(item_mask, bool)
    conc = jnp.asarray(concepts, bool)
    ks = tuple(int(k) for k in ks)
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("random_direction_null needs at least one seed")
    chunk = max(1, NULL_CHUNK_ELEMENTS // max(1, int(x.shape[0]) * int(n_directions)))
    best_parts, sum_parts = [], []
    for lo in range(0, len(seeds), chunk):
        keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds[lo:lo + chunk]])
        b, m = _null_seeds(keys, x, conc, mask, int(n_directions), ks, select_k)
        best_parts.append(np.asarray(b, np.int64))
        sum_parts.append(np.asarray(m, np.int64))
    best_hits = np.concatenate(best_parts)  # [S, nk, C]
    k = np.asarray(ks, np.float64)[:, None]
    n = float(len(seeds))
    per_seed = best_hits / k[None]
    se = (per_seed.std(axis=0, ddof=1) / np.sqrt(n) if len(seeds) > 1
          else np.full(per_seed.shape[1:], np.nan))
    return NullPurity(best=best_hits.sum(axis=0) / (k * n),
                      mean=np.concatenate(sum_parts).sum(axis=0) / (k * n * n_directions), best_se=se)


def concept_table(purity: jax.Array, null: NullPurity, concepts: np.ndarray, concept_names: Sequence[str],
                  concept_families: Sequence[str], ks: Tuple[int, ...] = DEFAULT_KS,
                  item_mask: Optional[np.ndarray] = None, select_k: int = SELECT_K) -> List[Dict[str, Any]]:
    """Rows of `RUN/analysis/concepts.json`: per concept its best neuron, purity@K for every K, the null
    beside it (`null_purity@K`, `null_mean_purity@K`, `null_se@K`), the base rate and the number of items carrying it."""
    neuron, best = best_neurons(purity, ks, select_k)
    rates = base_rates(concepts, item_mask)
    c = np.asarray(concepts, bool)
    counts = (c[np.asarray(item_mask, bool)] if item_mask is not None else c).sum(axis=0)
    rows = []
    for ci, name in enumerate(concept_names):
        row: Dict[str, Any] = {"concept": name, "family": concept_families[ci], "neuron": int(neuron[ci])}
        for j, k in enumerate(ks):
            row[f"purity@{k}"] = float(best[j, ci])
        for j, k in enumerate(ks):
            row[f"null_purity@{k}"] = float(null.best[j, ci])
        for j, k in enumerate(ks):
            row[f"null_mean_purity@{k}"] = float(null.mean[j, ci])
        se = null.best_se
        for j, k in enumerate(ks):
            row[f"null_se@{k}"] = float(se[j, ci]) if se is not None else float("nan")
        row["base_rate"] = float(rates[ci])
        row["n_items"] = int(counts[ci])
        rows.append(row)
    return rows


@partial(jax.jit, static_argnames=("k",))
def top_item_mean(a: jax.Array, values: jax.Array, k: int) -> jax.Array:
    """Mean of `values [n_items]` over each neuron's top-K active items -> `[h]` (NaN for a dead neuron)."""
    _, idx, active = top_activations(a, k)
    v = jnp.asarray(values, jnp.float32)[idx]
    n = active.sum(axis=1)
    return jnp.where(n > 0, jnp.sum(jnp.where(active, v, 0.0), axis=1) / jnp.maximum(n, 1), jnp.nan)


def _best_abs(corr: np.ndarray) -> int:
    return int(np.argmax(np.abs(corr))) if corr.size else -1


def popularity_analysis(a: jax.Array, popularity: np.ndarray, k: int = 10,
                        item_mask: Optional[np.ndarray] = None) -> Dict[str, Any]:
    """The popularity neuron (`RUN/analysis/popularity.json`).

    Per neuron the Spearman correlation of its activation with item popularity (positive: fires more on
    popular items); the neuron with the largest |Spearman|, and the mean popularity percentile (0-100,
    within the analysed items) of its top-K items: near 100 for a neuron of blockbusters, near 0 for a
    neuron of niche items. `positive` is the same for the neuron with the largest positive Spearman.
    """
    a_np = np.asarray(a, np.float32)
    pop = np.asarray(popularity, np.float32)
    if item_mask is not None:
        m = np.asarray(item_mask, bool)
        a_np, pop = a_np[m], pop[m]
    if a_np.shape[0] < 2:
        return {"neuron": None, "spearman": None, "top_k_popularity_percentile": None, "k": k, "positive": None,
                "per_neuron": []}
    corr = np.asarray(spearman(jnp.asarray(a_np), jnp.asarray(pop)))
    pct = np.asarray(top_item_mean(jnp.asarray(a_np), percentile_ranks(jnp.asarray(pop)), k))
    best = _best_abs(corr)
    pos = int(np.argmax(corr))
    return {
        "neuron": best,
        "spearman": float(corr[best]),
        "top_k_popularity_percentile": float(pct[best]),
        "k": k,
        "positive": {"neuron": pos, "spearman": float(corr[pos]), "top_k_popularity_percentile": float(pct[pos])},
        "per_neuron": [{"neuron": n, "spearman": float(corr[n]), "top_k_popularity_percentile": float(pct[n])}
                       for n in range(corr.shape[0])],
    }


def temporal_analysis(a: jax.Array, year: np.ndarray, concept_rows: Sequence[Dict[str, Any]],
                      item_mask: Optional[np.ndarray] = None) -> Dict[str, Any]:
    """Temporal neurons (`RUN/analysis/temporal.json`): Spearman of each neuron with item year over the
    items that have one (positive: fires on recent items), the best |Spearman| neuron, and the purity
    rows of the "decade" concepts. Empty when no item has a year."""
    yr = np.asarray(year)
    m = yr >= 0
    if item_mask is not None:
        m &= np.asarray(item_mask, bool)
    decades = [{"concept": r["concept"], "neuron": r["neuron"], "purity@10": r.get("purity@10"),
                "null_purity@10": r.get("null_purity@10"), "base_rate": r["base_rate"]}
               for r in concept_rows if r["family"] == "decade"]
    if m.sum() < 2:
        return {"year_neuron": None, "spearman": None, "per_neuron": [], "decades": decades}
    corr = np.asarray(spearman(jnp.asarray(np.asarray(a, np.float32)[m]), jnp.asarray(yr[m], jnp.float32)))
    best = _best_abs(corr)
    return {
        "year_neuron": best,
        "spearman": float(corr[best]),
        "n_items_with_year": int(m.sum()),
        "per_neuron": [{"neuron": n, "spearman": float(corr[n])} for n in range(corr.shape[0])],
        "decades": decades,
    }
