"""Matryoshka hierarchy: are early neurons broad and mainstream, late ones niche?

Prefixes `m_1 < ... < m_L = h` split the neurons into groups `[0, m_1), [m_1, m_2), ...`. For each
neuron we look at its top-K active items and measure
- popularity: the mean popularity percentile (0-100) of those items;
- concept breadth: with `c_j` the number of those items carrying content concept j (genre/tag
  families), the entropy `-sum_j p_j log p_j` (nats) of `p = c / sum(c)`, and the number of distinct
  concepts (`c_j > 0`). Broad neurons spread over many concepts, niche ones concentrate on a few.
Each group reports the mean over its live neurons (dead ones, with no active item, are counted apart).
"""
from __future__ import annotations

from functools import partial
from typing import Any, Dict, List, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxsae.analysis._concepts import top_activations, top_item_mean
from jaxsae.analysis._ranks import percentile_ranks

CONTENT_FAMILIES = ("genre", "tag")


@partial(jax.jit, static_argnames=("k",))
def concept_breadth(a: jax.Array, concepts: jax.Array, k: int) -> "tuple[jax.Array, jax.Array]":
    """Per neuron `(entropy [h], distinct [h])` of the concepts of its top-K active items (0 if none)."""
    _, idx, active = top_activations(a, k)
    counts = jnp.sum(jnp.asarray(concepts, jnp.float32)[idx] * active[..., None], axis=1)  # [h, C]
    total = counts.sum(axis=1, keepdims=True)
    p = counts / jnp.maximum(total, 1.0)
    entropy = -jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0), axis=1)
    return entropy, (counts > 0).sum(axis=1)


def content_concepts(concepts: np.ndarray, families: Sequence[str]) -> np.ndarray:
    """The columns of `concepts` whose family is a content family (genre/tag); all columns if none is."""
    keep = np.array([f in CONTENT_FAMILIES for f in families], bool)
    return np.asarray(concepts, bool)[:, keep] if keep.any() else np.asarray(concepts, bool)


def hierarchy(a: jax.Array, prefixes: Sequence[int], popularity: np.ndarray, concepts: np.ndarray,
              families: Sequence[str], k: int = 10) -> List[Dict[str, Any]]:
    """`RUN/analysis/hierarchy.json`: one row per prefix group with its neurons' mean popularity
    percentile and concept breadth (entropy and distinct concepts of their top-K items)."""
    a = jnp.asarray(a, jnp.float32)
    pct = np.asarray(top_item_mean(a, percentile_ranks(jnp.asarray(popularity, jnp.float32)), k))
    ent, distinct = (np.asarray(v) for v in concept_breadth(a, jnp.asarray(content_concepts(concepts, families)), k))
    alive = np.asarray((a > 0).any(axis=0))
    rows, start = [], 0
    for g, end in enumerate(prefixes):
        sl = slice(start, int(end))
        live = alive[sl]
        row: Dict[str, Any] = {"group": g, "start": start, "end": int(end), "n_neurons": int(end) - start,
                               "n_dead": int((~live).sum())}
        if live.any():
            row["mean_popularity_percentile"] = float(np.mean(pct[sl][live]))
            row["concept_breadth"] = float(np.mean(ent[sl][live]))
            row["distinct_concepts"] = float(np.mean(distinct[sl][live]))
        else:
            row.update(mean_popularity_percentile=None, concept_breadth=None, distinct_concepts=None)
        rows.append(row)
        start = int(end)
    return rows
