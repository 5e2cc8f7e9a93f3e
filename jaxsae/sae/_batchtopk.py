"""BatchTopK SAE (Bussmann et al. 2024) and Matryoshka-BatchTopK (Bussmann et al. 2025).

Training (`batch_training=True`, the module `jaxsae.training.sae` trains): the rows of a batch share
one budget of active latents. With `pre [B, h]` the pre-activations of the B rows (users and items of a
step stacked, one device's shard under `pmap`),

    keep  = the k * B largest entries of pre over the whole batch (ties by flat index)
    z     = relu(pre) * keep

so a row can use more latents than k and another fewer, k per row on average (SAELens, sparsify and
dictionary_learning build it the same way: a top-k over the flattened batch).

Inference (`batch_training=False`: encoding, analysis, steering, checkpoints): a row must not depend
on its batch, so each latent j has a threshold and

    z_j = relu(pre_j) * [pre_j > theta_j]

The thresholds are parameters that no gradient reaches (`stop_gradient`); the trainer moves them after
every step so that each latent fires at inference as often as the batch rule made it fire in training.
With `r_train_j` the share of the batch's rows on which latent j was kept, `r_inf_j` the share on which
`pre_j > theta_j` (and `> 0`), and `tau_b = min{z > 0}` the batch's cut-off (the smallest kept value):

    theta <- tau_b                                                   at the first step
    theta_j <- theta_j + THRESHOLD_RATE * tau_b * (r_inf_j - r_train_j)   afterwards

a per-latent quantile tracker (Robbins-Monro): at its fixed point `E[r_inf_j] = E[r_train_j]`, so the
inference code has the training density latent by latent. (dictionary_learning keeps one running
average of the batch minimum instead; thresholding every row at that average over-fires by ~20% on
small batches, because the cut-off varies from batch to batch.)

Matryoshka-BatchTopK selects with the batch top-k over the whole dictionary and decodes every nested
prefix `m_1 < ... < m_L = h` from its selected latents; the loss sums the levels (as `MatryoshkaSAE`).
"""
from __future__ import annotations

from typing import Any, Tuple

import jax
import jax.numpy as jnp
import flax.linen as nn

from jaxsae.sae._matryoshka import check_prefixes, prefix_masks
from jaxsae.sae._tied import TiedSAE

THRESHOLD_RATE = 0.1


def batch_topk(pre: jax.Array, k: int) -> jax.Array:
    """Keep the `k * B` largest entries of `pre [B, h]` over the whole batch (then ReLU), zero elsewhere."""
    flat = pre.reshape(-1)
    n_keep = min(int(k) * pre.shape[0], flat.shape[0])
    _, idx = jax.lax.top_k(flat, n_keep)
    keep = jnp.zeros_like(flat).at[idx].set(1.0).reshape(pre.shape)
    return jax.nn.relu(pre) * keep


def batch_cutoff(z: jax.Array) -> jax.Array:
    """`tau_b`: the smallest positive activation of a BatchTopK batch `z` (0 when nothing fired)."""
    pos = jnp.where(z > 0, z, jnp.inf)
    tau = jnp.min(pos)
    return jnp.where(jnp.isfinite(tau), tau, 0.0)


def updated_thresholds(params: Any, tau: jax.Array, first: jax.Array, train_rate: jax.Array,
                       infer_rate: jax.Array, rate: float = THRESHOLD_RATE) -> Any:
    """`params` (one SAE's) with `threshold` moved by the quantile tracker of the module docstring."""
    theta = params["threshold"]
    new = jnp.where(first, jnp.full_like(theta, tau), theta + rate * tau * (infer_rate - train_rate))
    return {**params, "threshold": jax.lax.stop_gradient(new)}


def firing_rates(module: nn.Module, params: Any, x: jax.Array, z: jax.Array) -> Tuple[jax.Array, jax.Array]:
    """`(r_train [h], r_inf [h])` of a training batch: the share of rows on which each latent was kept
    (`z > 0`), and on which the inference thresholds of `params` would fire it."""
    pre, _ = module.apply({"params": params}, x, method="pre_activations")
    infer = (pre > jax.lax.stop_gradient(params["threshold"])) & (pre > 0)
    return jnp.mean(z > 0, axis=0), jnp.mean(infer, axis=0)


class BatchTopKSAE(TiedSAE):
    """Tied (or untied) SAE with a batch-level top-k in training and per-latent thresholds at inference."""

    activation: str = "topk"  # validates k like TopK; the selection itself is the batch rule below
    batch_training: bool = False  # True: the batch top-k of training; False: the inference thresholds

    def setup(self) -> None:
        super().setup()
        self.threshold = self.param("threshold", nn.initializers.zeros, (self.h,))

    def _sparse(self, pre: jax.Array) -> jax.Array:
        if self.batch_training:
            return batch_topk(pre.reshape(-1, pre.shape[-1]), self.k).reshape(pre.shape)
        theta = jax.lax.stop_gradient(self.threshold)[self.dense:]
        return jax.nn.relu(pre) * (pre > theta)

    def activate(self, pre: jax.Array) -> jax.Array:
        if not self.dense:
            return self._sparse(pre)
        return jnp.concatenate([jax.nn.relu(pre[..., :self.dense]), self._sparse(pre[..., self.dense:])], axis=-1)


class MatryoshkaBatchTopKSAE(BatchTopKSAE):
    """BatchTopK latents decoded by nested prefixes `m_1 < ... < m_L = h` (each prefix reconstructs)."""

    prefixes: Tuple[int, ...] = ()

    def __post_init__(self) -> None:
        check_prefixes(self.prefixes, self.h)
        super().__post_init__()

    def level_masks(self) -> jax.Array:
        return prefix_masks(self.prefixes, self.h)
