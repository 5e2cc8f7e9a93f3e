"""Rank statistics shared by the analyses: tie-averaged ranks, Spearman correlation, percentile ranks.

All three work column-wise on `[n, h]` activation matrices so one call covers every neuron.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def average_ranks(x: jax.Array) -> jax.Array:
    """1-based ranks of each column of `x` (`[n]` or `[n, h]`), ties given their average rank.

    For sorted column `s`, a value v occupies positions `left = #{s < v}` to `right = #{s <= v}`, so its
    average rank is `(left + right + 1) / 2` (e.g. `[1, 2, 2, 3] -> [1, 2.5, 2.5, 4]`).
    """
    x = jnp.asarray(x, jnp.float32)
    if x.ndim == 1:
        return average_ranks(x[:, None])[:, 0]
    s = jnp.sort(x, axis=0)
    search = jax.vmap(lambda col_s, col: (jnp.searchsorted(col_s, col, side="left"),
                                          jnp.searchsorted(col_s, col, side="right")),
                      in_axes=(1, 1), out_axes=1)
    left, right = search(s, x)
    return (left + right + 1).astype(jnp.float32) / 2.0


@jax.jit
def spearman(a: jax.Array, y: jax.Array) -> jax.Array:
    """Spearman correlation of every column of `a [n, h]` with `y [n]` -> `[h]`.

    The Pearson correlation of tie-averaged ranks: positive when larger activations go with larger
    `y`. A constant column (a dead neuron, or a constant `y`) has no defined correlation and gets 0.
    """
    ra = average_ranks(a)
    ry = average_ranks(y)
    ra = ra - ra.mean(axis=0, keepdims=True)
    ry = ry - ry.mean()
    num = jnp.sum(ra * ry[:, None], axis=0)
    den = jnp.sqrt(jnp.sum(ra * ra, axis=0) * jnp.sum(ry * ry))
    return jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), 0.0)


def percentile_ranks(y: jax.Array) -> jax.Array:
    """Percentile of each entry of `y [n]` within `y`, in [0, 100]: `100 * (average_rank - 0.5) / n`.

    The midpoint convention: of 4 distinct values the largest is at 87.5, the smallest at 12.5; ties
    share their average.
    """
    y = jnp.asarray(y)
    return 100.0 * (average_ranks(y) - 0.5) / y.shape[0]
