"""The SAE parameter layout, defined once: a dict of SAE parameter trees keyed by what each encodes.

A shared SAE (one dictionary for users and items, so a neuron means the same in both) is `{"shared": p}`; separate
SAEs are `{"user": p_u, "item": p_i}`. Everything that reads parameters goes through `side_params`, so the two
cases differ in one place.
"""
from __future__ import annotations

from typing import Any, Tuple

import jax
import jax.numpy as jnp
import flax.linen as nn

SIDES = ("user", "item")
SHARED = "shared"


def init_sae_params(module: nn.Module, key: jax.Array, d: int, shared: bool = True) -> Any:
    """Fresh parameters of `module` for inputs of dimension d: `{"shared": p}`, or one tree per side (the key split
    in two, users first)."""
    dummy = jnp.zeros((1, d), jnp.float32)
    if shared:
        return {SHARED: module.init(key, dummy)["params"]}
    ku, ki = jax.random.split(key)
    return {"user": module.init(ku, dummy)["params"], "item": module.init(ki, dummy)["params"]}


def is_shared(params: Any) -> bool:
    """True for the one-SAE layout."""
    return SHARED in params


def n_saes(params: Any) -> int:
    """1 for a shared SAE, 2 for separate ones."""
    return 1 if is_shared(params) else 2


def side_params(params: Any, side: str) -> Any:
    """The parameters that encode `side` ("user" or "item"): the shared SAE's, or that side's own."""
    if side not in SIDES:
        raise ValueError(f"side must be 'user' or 'item', got {side!r}")
    return params[SHARED] if is_shared(params) else params[side]


def sides_of(params: Any) -> Tuple[str, ...]:
    """The keys of the layout (`("shared",)` or `("user", "item")`)."""
    return (SHARED,) if is_shared(params) else SIDES
