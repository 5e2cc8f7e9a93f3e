"""The monosemanticity score (MS) of do a neuron's top items look alike to the recommender?

For neuron n: scale its activations over items to [0, 1] (min-max), take its top-N items (N = 30),
their scaled activations `a [N]`, `R = a a^T`, `S` = cosine similarity of the recommender's item
embeddings of those items, zero the diagonals of both, and
`MS_n = sum(R * S) / sum(R)` (0 when `sum(R) = 0`: a dead neuron, or one with a single non-zero item).
MS is the mean of `MS_n` over all neurons, dead ones included (they count as 0).
"""
from __future__ import annotations

from functools import partial
from typing import Any, Dict

import jax
import jax.numpy as jnp

TOP_N = 30


def minmax_scale(a: jax.Array) -> jax.Array:
    """Each column of `a [n, h]` mapped to [0, 1] by `(a - min) / (max - min)`; constant columns -> 0."""
    lo = a.min(axis=0, keepdims=True)
    span = a.max(axis=0, keepdims=True) - lo
    return jnp.where(span > 0, (a - lo) / jnp.where(span > 0, span, 1.0), 0.0)


def cosine_similarity(e: jax.Array, eps: float = 1e-12) -> jax.Array:
    """Pairwise cosine similarity of the rows of `e [..., n, d]` -> `[..., n, n]` (zero rows give 0)."""
    norm = jnp.linalg.norm(e, axis=-1, keepdims=True)
    u = e / jnp.maximum(norm, eps)
    return u @ jnp.swapaxes(u, -1, -2)


@partial(jax.jit, static_argnames=("top_n",))
def monosemanticity_per_neuron(a: jax.Array, item_emb: jax.Array, top_n: int = TOP_N) -> jax.Array:
    """`MS_n` for every neuron: `a [n_items, h]` activations, `item_emb [n_items, d]` -> `[h]`."""
    scaled = minmax_scale(jnp.asarray(a, jnp.float32))
    n = min(top_n, a.shape[0])
    vals, idx = jax.lax.top_k(scaled.T, n)  # [h, n]; ties -> lower item index
    s = cosine_similarity(jnp.asarray(item_emb, jnp.float32)[idx])  # [h, n, n]
    off = 1.0 - jnp.eye(n)
    r = vals[:, :, None] * vals[:, None, :] * off
    den = r.sum(axis=(1, 2))
    num = (r * s).sum(axis=(1, 2))
    return jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), 0.0)


def monosemanticity(a: jax.Array, item_emb: jax.Array, top_n: int = TOP_N) -> Dict[str, Any]:
    """`RUN/analysis/ms.json`: `{"ms": mean MS_n, "per_neuron": [MS_n], "top_n": N}`."""
    per = monosemanticity_per_neuron(a, item_emb, top_n)
    return {"ms": float(per.mean()), "per_neuron": [float(v) for v in per], "top_n": int(top_n)}
