"""Per-row input normalization of the SAE, kept so that it can be undone after decoding.

`x -> (x - mean) / (std + eps)` row by row, mean and std over the d features of each row. The std
divides by `d - ddof`: jaxsae's default `ddof=0` is the population std; the paper's reference SAE
(`LN` in its notebooks) uses torch's `x.std()`, i.e. `ddof=1` (SAETrainConfig.std_ddof, docs/REFERENCE.md).
Decoding multiplies back by `std + eps` and adds `mean`, so reconstructions live in the recommender's
embedding space. The statistics are a
function of the row alone, so nothing has to be stored beside the parameters: an intervention on
an entity decodes with that entity's own `NormStats`.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class NormStats:
    """What `normalize_rows` removed: `x = x_norm * scale + mean`, both `[B, 1]` (or `[1]` for a row)."""

    mean: jax.Array
    scale: jax.Array

    @classmethod
    def identity(cls, x: jax.Array) -> "NormStats":
        """Statistics that change nothing (mean 0, scale 1), for SAEs without normalization."""
        shape = x.shape[:-1] + (1,)
        return cls(mean=jnp.zeros(shape, x.dtype), scale=jnp.ones(shape, x.dtype))


def normalize_rows(x: jax.Array, eps: float = 1e-5, ddof: int = 0) -> "tuple[jax.Array, NormStats]":
    """`(x - mean) / (std + eps)` per row (std over `d - ddof`), with the statistics needed to undo it."""
    mean = jnp.mean(x, axis=-1, keepdims=True)
    centered = x - mean
    if ddof == 0:
        var = jnp.mean(centered * centered, axis=-1, keepdims=True)
    else:
        var = jnp.sum(centered * centered, axis=-1, keepdims=True) / (x.shape[-1] - ddof)
    scale = jnp.sqrt(var) + eps
    return centered / scale, NormStats(mean=mean, scale=scale)


def denormalize_rows(x_norm: jax.Array, stats: NormStats) -> jax.Array:
    """Inverse of `normalize_rows`: `x_norm * (std + eps) + mean` (broadcasts over leading level axes)."""
    return x_norm * stats.scale + stats.mean
