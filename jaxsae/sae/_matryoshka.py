"""Matryoshka SAE (Bussmann et al. 2025; the paper's Last.FM model): nested prefixes of latents.

With prefixes `m_1 < ... < m_L = h`, level l reconstructs from the first `m_l` latents only
(`z[:, m_l:] = 0`), so early latents must explain the input on their own (broad, mainstream
concepts) and later ones add detail. The training loss sums the reconstruction terms over levels.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import jax
import jax.numpy as jnp

from jaxsae.errors import ConfigError
from jaxsae.sae._tied import TiedSAE


def default_prefixes(h: int) -> Tuple[int, ...]:
    """The paper's prefixes `[h/4, h/2, h]` (integer division)."""
    return (h // 4, h // 2, h)


def check_prefixes(prefixes: Sequence[int], h: int) -> Tuple[int, ...]:
    """Validate `1 <= m_1 < ... < m_L = h` and return them as a tuple; `ConfigError` otherwise."""
    p = tuple(int(m) for m in prefixes)
    if not p:
        raise ConfigError("Matryoshka prefixes must not be empty")
    if p[0] < 1 or any(b <= a for a, b in zip(p, p[1:])):
        raise ConfigError(f"Matryoshka prefixes must be strictly increasing and >= 1, got {list(p)}")
    if p[-1] != h:
        raise ConfigError(f"Matryoshka prefixes must end at the number of latents {h}, got {list(p)}")
    return p


def resolve_prefixes(prefixes: Optional[Sequence[int]], h: int) -> Tuple[int, ...]:
    """Given prefixes (validated) or the default `[h/4, h/2, h]`, which needs h >= 4 to be increasing."""
    if prefixes is None:
        if h < 4:
            raise ConfigError(f"default Matryoshka prefixes [h/4, h/2, h] need latents >= 4, got {h}; pass --prefixes")
        prefixes = default_prefixes(h)
    return check_prefixes(prefixes, h)


def prefix_masks(prefixes: Sequence[int], h: int) -> jax.Array:
    """`[L, h]` 0/1 masks with ones on latents `j < m_l` in row l."""
    return (jnp.arange(h)[None, :] < jnp.asarray(prefixes)[:, None]).astype(jnp.float32)


class MatryoshkaSAE(TiedSAE):
    """Tied (or untied) SAE whose `x_hat_levels[l]` decodes with latents `[0, m_l)` only."""

    prefixes: Tuple[int, ...] = ()  # m_1 < ... < m_L = h

    def __post_init__(self) -> None:
        check_prefixes(self.prefixes, self.h)
        super().__post_init__()

    def level_masks(self) -> jax.Array:
        """`[L, h]` with ones on latents `j < m_l` in row l."""
        return prefix_masks(self.prefixes, self.h)
