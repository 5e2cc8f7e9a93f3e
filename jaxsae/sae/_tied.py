"""The paper's tied sparse autoencoder, with ReLU or TopK latents and an optional untied decoder.

    x_n   = (x - mean) / (std + eps)            per row, optional; undone after decoding
    z     = act((x_n - b_pre) W + b_lat)        W [d, h], act = ReLU (paper) or TopK(k)
    x_hat = z W^T + b_pre                       tied decoder (paper)
    x_hat = z D + b_pre,  D_j = V_j / ||V_j||   untied decoder with unit-norm latent directions

A dense block (`dense > 0`) keeps the first `dense` latents outside the sparsity rule: they pass
through ReLU only, and TopK's k counts the other `h - dense` latents, so a channel every item carries
(its bias, its popularity) need not take one of the k slots of every row.

Reference options (docs/REFERENCE.md): `pre_bias=False` drops `b_pre` (the reference NCF SAE:
`z = relu(x W + b_lat)`, `x_hat = z W^T`), `latent_bias_init="torch_linear"` draws `b_lat` like PyTorch's
`nn.Linear` bias, U(-1/sqrt(d), 1/sqrt(d)), and `ddof=1` is torch's std in the row normalization.

`levels` gives the nested reconstructions that the Matryoshka subclass overrides; here there is
one level, all latents.
"""
from __future__ import annotations

from typing import Any, Callable, Tuple

import jax
import jax.numpy as jnp
import flax.linen as nn

from jaxsae.errors import ConfigError
from jaxsae.sae._activations import ACTIVATIONS, get_activation
from jaxsae.sae._normalization import NormStats, denormalize_rows, normalize_rows
from jaxsae.sae._output import SAEOutput

# PyTorch's nn.Linear default (uniform, variance 1 / (3 fan_in)), as the reference SAE.
_weight_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def torch_linear_bias_init(fan_in: int) -> Callable[..., jax.Array]:
    """PyTorch's default `nn.Linear` bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (the reference NCF SAE)."""
    bound = 1.0 / float(fan_in) ** 0.5

    def init(key: jax.Array, shape: Tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def check_sae_shape(d: int, h: int, activation: str, k: int, dense: int = 0) -> None:
    """Raise `ConfigError` for an impossible SAE shape (d or h < 1, unknown activation, k outside
    [1, h - dense], a dense block outside [0, h))."""
    if int(d) < 1:
        raise ConfigError(f"SAE input dimension must be >= 1, got d={d}")
    if int(h) < 1:
        raise ConfigError(f"SAE latents must be >= 1, got h={h}")
    if activation not in ACTIVATIONS:
        raise ConfigError(f"unknown SAE activation {activation!r}; known: {', '.join(ACTIVATIONS)}")
    if not 0 <= int(dense) < int(h):
        raise ConfigError(f"the dense block needs 0 <= dense_latents < latents, got {dense}, latents={h}")
    if activation == "topk" and not 1 <= int(k) <= int(h) - int(dense):
        raise ConfigError(f"TopK needs 1 <= k <= latents - dense_latents, got k={k}, latents={h}, dense={dense}")


class TiedSAE(nn.Module):
    """Sparse autoencoder `d -> h -> d` (tied by default). Use `encode`, `decode`, or call for `SAEOutput`."""

    d: int  # input (embedding) dimension
    h: int  # number of latents
    activation: str = "relu"  # "relu" (paper) or "topk"
    k: int = 0  # active latents per row for "topk"
    normalize: bool = True  # row normalization (x - mean) / (std + eps), undone after decoding
    tied: bool = True  # decoder = encoder^T; False: separate decoder with unit-norm rows
    eps: float = 1e-5  # added to the row std
    ddof: int = 0  # row std divides by d - ddof (1: torch's std, the reference)
    pre_bias: bool = True  # False: no b_pre (the reference NCF SAE)
    latent_bias_init: str = "zeros"  # "torch_linear": U(-1/sqrt(d), 1/sqrt(d)), PyTorch's nn.Linear bias
    dense: int = 0  # latents [0, dense) outside the sparsity rule (ReLU only)

    def __post_init__(self) -> None:
        check_sae_shape(self.d, self.h, self.activation, self.k, self.dense)
        if self.latent_bias_init not in ("zeros", "torch_linear"):
            raise ConfigError(f"unknown latent bias init {self.latent_bias_init!r}; use zeros or torch_linear")
        super().__post_init__()

    def setup(self) -> None:
        self.W = self.param("W", _weight_init, (self.d, self.h))
        if self.pre_bias:
            self.b_pre = self.param("b_pre", nn.initializers.zeros, (self.d,))
        else:
            self.b_pre = jnp.zeros((self.d,), jnp.float32)
        if self.latent_bias_init == "torch_linear":
            self.b_lat = self.param("b_lat", torch_linear_bias_init(self.d), (self.h,))
        else:
            self.b_lat = self.param("b_lat", nn.initializers.zeros, (self.h,))
        if not self.tied:
            self.V = self.param("V", _weight_init, (self.h, self.d))
        self._act = get_activation(self.activation, self.k)

    # ---- pieces -------------------------------------------------------------------------------
    def decoder_matrix(self) -> jax.Array:
        """`[h, d]`: row j is latent j's direction in the (normalized) input space."""
        if self.tied:
            return self.W.T
        return self.V / jnp.linalg.norm(self.V, axis=-1, keepdims=True).clip(1e-12)

    def level_masks(self) -> jax.Array:
        """`[L, h]` 0/1 masks of the latents each level decodes with (one level: all of them)."""
        return jnp.ones((1, self.h), jnp.float32)

    def pre_activations(self, x: jax.Array) -> "tuple[jax.Array, NormStats]":
        """`pre = (x_n - b_pre) W + b_lat [B, h]` before the activation, and the row statistics."""
        if self.normalize:
            x, stats = normalize_rows(x, self.eps, self.ddof)
        else:
            stats = NormStats.identity(x)
        return (x - self.b_pre) @ self.W + self.b_lat, stats

    def activate(self, pre: jax.Array) -> jax.Array:
        """The activation of `pre [B, h]`: the sparsity rule on latents `[dense, h)`, ReLU on the dense block."""
        if not self.dense:
            return self._act(pre)
        return jnp.concatenate([jax.nn.relu(pre[..., :self.dense]), self._act(pre[..., self.dense:])], axis=-1)

    def encode(self, x: jax.Array) -> "tuple[jax.Array, NormStats]":
        """Latents `z [B, h]` of rows `x [B, d]`, and the row statistics that decoding must undo."""
        pre, stats = self.pre_activations(x)
        return self.activate(pre), stats

    def decode(self, z: jax.Array, stats: NormStats) -> jax.Array:
        """Reconstruction `[B, d]` in the input space from latents `z [B, h]` (all levels' latents)."""
        out = z @ self.decoder_matrix() + self.b_pre
        return denormalize_rows(out, stats) if self.normalize else out

    def decode_levels(self, z: jax.Array, stats: NormStats) -> jax.Array:
        """One reconstruction per level, `[L, B, d]`; level l decodes with the latents outside it zeroed."""
        masks = self.level_masks()
        if masks.shape[0] == 1:
            return self.decode(z, stats)[None]
        out = (z[None] * masks[:, None, :]) @ self.decoder_matrix() + self.b_pre
        return denormalize_rows(out, stats) if self.normalize else out

    def __call__(self, x: jax.Array) -> SAEOutput:
        z, stats = self.encode(x)
        levels = self.decode_levels(z, stats)
        return SAEOutput(z=z, x_hat=levels[-1], x_hat_levels=levels, stats=stats)
