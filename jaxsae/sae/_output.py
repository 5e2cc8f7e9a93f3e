"""What an SAE forward pass returns."""
from __future__ import annotations

import jax
from flax import struct

from jaxsae.sae._normalization import NormStats


@struct.dataclass
class SAEOutput:
    """Latents, reconstruction and per-level reconstructions of a batch of rows.

    `z [B, h]` latents; `x_hat [B, d]` reconstruction from all latents (in the input space, i.e.
    normalization undone); `x_hat_levels [L, B, d]` one reconstruction per nested level (L = 1 and
    `x_hat_levels[0] == x_hat` for non-Matryoshka SAEs); `stats` the row normalization removed.
    """

    z: jax.Array
    x_hat: jax.Array
    x_hat_levels: jax.Array
    stats: NormStats
