"""Per-row input normalization of the SAE, kept so that it can be undone after decoding (SPEC §5).

`x -> (x - mean) / (std + eps)` row by row (mean and population std over the d features of each
row), as the paper's SAE does before encoding; decoding multiplies back by `std + eps` and adds
`mean`, so reconstructions live in the recommender's embedding space. The statistics are a
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


def normalize_rows(x: jax.Array, eps: float = 1e-5) -> "tuple[jax.Array, NormStats]":
    """`(x - mean) / (std + eps)` per row, with the statistics needed to undo it."""
    mean = jnp.mean(x, axis=-1, keepdims=True)
    centered = x - mean
    scale = jnp.sqrt(jnp.mean(centered * centered, axis=-1, keepdims=True)) + eps
    return centered / scale, NormStats(mean=mean, scale=scale)


def denormalize_rows(x_norm: jax.Array, stats: NormStats) -> jax.Array:
    """Inverse of `normalize_rows`: `x_norm * (std + eps) + mean` (broadcasts over leading level axes)."""
    return x_norm * stats.scale + stats.mean
