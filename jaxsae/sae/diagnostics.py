"""The SAE's health metrics, each defined once here (L0, firing, dead fraction, FVU).

- L0: mean number of active latents per row, `mean_b #{j : z_bj > 0}`.
- fired: which latents were active (> 0) in at least one row; the *dead fraction* of a logging
  window is the share of latents that never fired in any of its batches.
- FVU (fraction of variance unexplained): `sum_b ||x_b - x_hat_b||^2 / sum_b ||x_b - mean(x)||^2`,
  `mean(x)` the mean row of the same rows. 0 is a perfect reconstruction, 1 is no better than the
  mean. Over several batches (or devices) the two sums are added before dividing.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def l0(z: jax.Array) -> jax.Array:
    """Mean active latents per row of `z [B, h]`."""
    return jnp.mean(jnp.sum(z > 0, axis=-1).astype(jnp.float32))


def fired(z: jax.Array) -> jax.Array:
    """`[h]` bool: latent j was > 0 in some row of `z [B, h]`."""
    return jnp.any(z > 0, axis=0)


def dead_fraction(fired_mask: jax.Array) -> jax.Array:
    """Share of latents that never fired, from a (window-accumulated) `fired` mask."""
    return jnp.sum(~fired_mask) / fired_mask.size


def fvu_sums(x: jax.Array, x_hat: jax.Array, mean: "jax.Array | None" = None) -> "tuple[jax.Array, jax.Array]":
    """`(sum ||x - x_hat||^2, sum ||x - mean x||^2)` over the rows of `[B, d]`: FVU = first / second.

    `mean` overrides the mean row (e.g. the global-batch mean when the rows are one device's shard).
    """
    mean = jnp.mean(x, axis=0, keepdims=True) if mean is None else mean
    sse = jnp.sum((x - x_hat) ** 2)
    sst = jnp.sum((x - mean) ** 2)
    return sse, sst


def fvu(x: jax.Array, x_hat: jax.Array) -> jax.Array:
    """Fraction of variance unexplained of a reconstruction `x_hat` of rows `x` (see module doc)."""
    sse, sst = fvu_sums(x, x_hat)
    return sse / sst
