"""Latent activations of the SAEs: ReLU (the paper) and TopK (Gao et al. 2024), by name.

TopK keeps, in every row, the k largest pre-activations (ties broken by index, so exactly k
positions are kept) and passes them through ReLU: `z = relu(pre) * keep_k(pre)`. A kept value that
is negative becomes 0, so a row has *at most* k non-zero latents, exactly k whenever its k largest
pre-activations are positive (the usual case once trained). Activations stay non-negative, which
the concept analysis relies on (`activation > 0`).
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from jaxsae.errors import ConfigError

ACTIVATIONS = ("relu", "topk")


def relu(pre: jax.Array) -> jax.Array:
    """`max(pre, 0)` elementwise."""
    return jax.nn.relu(pre)


def topk(pre: jax.Array, k: int) -> jax.Array:
    """Keep exactly the k largest entries of each row (then ReLU), zero elsewhere: `[..., h] -> [..., h]`."""
    h = pre.shape[-1]
    values, idx = jax.lax.top_k(pre, k)
    keep = jnp.sum(jax.nn.one_hot(idx, h, dtype=pre.dtype), axis=-2)  # [..., h], exactly k ones
    return jax.nn.relu(pre) * keep


def get_activation(name: str, k: int = 0) -> Callable[[jax.Array], jax.Array]:
    """The activation function called `name` ("relu" or "topk"; topk needs 1 <= k)."""
    if name == "relu":
        return relu
    if name == "topk":
        if k < 1:
            raise ConfigError(f"topk activation needs k >= 1, got k={k}")
        return lambda pre: topk(pre, k)
    raise ConfigError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}")
