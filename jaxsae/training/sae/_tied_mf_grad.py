"""Hand-derived loss and gradient of the shared tied SAE under the MF Gram prediction loss.

The MF-SAE step is tiny (a few MFLOP), so on CPU its speed is set by how many kernels XLA launches,
not by arithmetic. Autodiff of `sae_loss` gives a correct but kernel-heavy backward pass; this
module writes the same objective's gradient by hand and reuses the forward pass's Gram matrices:

    X = [U; I] [2B, d]   m, s = row mean, row std + eps   A = (X - m) / s - b_pre
    P = A W + b_lat      Z = act(P)                        Y = Z W^T + b_pre      X_hat = Y s + m
    D = X_hat - X        R_side = [D_side | X_side | 1]    G_side = R_side^T R_side   [2d+1, 2d+1]

    emb  = sum(D^2) / (B d)                                   (MSE of users plus MSE of items; = tr of G's D'D)
    pred = ||U_hat I_hat^T - U I^T||_F^2 / B^2                (from the blocks of G, as mf_pred_loss_stacked)
    kl   = sum_side sum_j KL(rho || clip(mean_b Z_side[:, j]))   (optionally with the reference's eps inside
           both logs, `kl_log_eps`: dKL/drho_hat = (1 - rho) / (1 - rho_hat + e) - rho / (rho_hat + e))
    l1   = sum(|Z|) / (B h)

    dpred/dU_hat = 2 (U_hat I_hat^T I_hat - U I^T I_hat) / B^2 = 2 R_u [[I_hat^T I_hat], [dI^T I_hat], [0]] / B^2
    dpred/dI_hat = 2 (I_hat U_hat^T U_hat - I U^T U_hat) / B^2 = 2 R_i [[U_hat^T U_hat], [dU^T U_hat], [0]] / B^2
    gY = (w_emb 2 D / (B d) + w_pred dpred/dX_hat) s          gZ = gY W + w_kl dkl/dZ + w_l1 [Z > 0] / (B h)
    gP = gZ [Z > 0]         gW = A^T gP + gY^T Z              gb_lat = sum_b gP     gb_pre = sum_b gY - W gb_lat

`[Z > 0]` is the derivative of ReLU and of TopK alike (TopK's kept set is piecewise constant). The row
statistics `m, s` depend on the input row only, so `input_table` computes them once per table and a
step gathers `[X | (X - m)/s | m | s]` rows in one kernel. The column of ones in `R` makes the Gram
product also return the column sums of X (for the FVU diagnostic). Value, gradient and diagnostics
equal `sae_loss`'s (tests compare them with autodiff); the compiled step has far fewer kernels.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import jax
import jax.numpy as jnp

from jaxsae.losses import LossWeights
from jaxsae.sae import get_activation
from jaxsae.sae import SAETrainConfig
from jaxsae.sae import NormStats, normalize_rows
from jaxsae.sae import SHARED

__all__ = ["supports_hand_gradient", "input_table", "tied_mf_value_and_grad", "tied_mf_rows_value_and_grad"]

_RHO_CLIP = 1e-6  # as jaxsae.losses.kl_sparsity


def _global_sum(tree: Any, axis_name: Optional[str]) -> Any:
    """`psum` over the devices of `axis_name` (identity on one device)."""
    return tree if axis_name is None else jax.lax.psum(tree, axis_name)


def supports_hand_gradient(config: SAETrainConfig, gram: bool) -> bool:
    """True when the hand-derived gradient applies: one shared tied ReLU/TopK SAE with a pre-bias, one k for
    both sides and the MF Gram loss on raw table rows (on one device, under `vmap`, or under `pmap` with
    `axis_name`). The reference's per-batch min-max scaling (`input_scaling`), an SAE without `b_pre` and
    `k_user`, AuxK and a dense block take the autodiff path; `std_ddof` and `kl_log_eps` are supported here."""
    return bool(gram and config.shared and config.tied and config.sae in ("tied", "topk")
                and config.input_scaling == "none" and config.pre_bias
                and getattr(config, "k_user", None) in (None, config.k)
                and not config.aux_k and not config.dense_latents)


def input_table(x: jax.Array, normalize: bool = True, eps: float = 1e-5, ddof: int = 0) -> jax.Array:
    """`[N, 2d + 2]` rows `[x | x_norm | mean | scale]` of an embedding table `x [N, d]` (see module doc)."""
    if normalize:
        x_norm, stats = normalize_rows(x, eps, ddof)
    else:
        x_norm, stats = x, NormStats.identity(x)
    return jnp.concatenate([x, x_norm, stats.mean, stats.scale], axis=-1)


def tied_mf_value_and_grad(params: Dict[str, Any], user_x: jax.Array, item_x: jax.Array, weights: LossWeights,
                           activation: str = "relu", k: int = 0, normalize: bool = True, eps: float = 1e-5,
                           ddof: int = 0, kl_log_eps: float = 0.0
                           ) -> Tuple[Tuple[jax.Array, Dict[str, jax.Array]], Dict[str, Any]]:
    """`((loss, aux), grads)` of the shared tied SAE objective for B users and B items (see module doc).

    `params` is `{"shared": {"W": [d, h], "b_pre": [d], "b_lat": [h]}}` (the `TiedSAE` params); `aux` has
    the keys of `sae_loss`'s: `loss emb pred kl l1 l0 sse sst fired`.
    """
    rows = input_table(jnp.concatenate([user_x, item_x]), normalize, eps, ddof)
    return tied_mf_rows_value_and_grad(params, rows, weights, activation, k, kl_log_eps=kl_log_eps)


def tied_mf_rows_value_and_grad(params: Dict[str, Any], rows: jax.Array, weights: LossWeights,
                                activation: str = "relu", k: int = 0, axis_name: Optional[str] = None,
                                kl_log_eps: float = 0.0
                                ) -> Tuple[Tuple[jax.Array, Dict[str, jax.Array]], Dict[str, Any]]:
    """`tied_mf_value_and_grad` on `input_table` rows `[2B, 2d + 2]`: B users, then B items.

    With `axis_name` (under `pmap`), `rows` are one device's share of the users and of the items: the
    Gram matrices and the latent sums are `psum`-ed (they are sums over rows), so every value is the
    global-batch one, and the gradient is the `psum` of the devices' row contributions, i.e. the exact
    gradient of the global-batch objective on every device.
    """
    p = params[SHARED]
    w, b_pre, b_lat = p["W"], p["b_pre"], p["b_lat"]
    n_local, d = rows.shape[0], (rows.shape[1] - 2) // 2
    b_local, h = n_local // 2, w.shape[1]
    n_dev = 1 if axis_name is None else jax.lax.psum(1, axis_name)
    b = b_local * n_dev  # global users (= items) per step
    n = 2 * b
    x, x_norm, mean, scale = rows[:, :d], rows[:, d:2 * d], rows[:, 2 * d:2 * d + 1], rows[:, 2 * d + 1:]
    a = x_norm - b_pre
    z = get_activation(activation, k)(a @ w + b_lat)  # [2B, h]
    diff = (z @ w.T + b_pre) * scale + mean - x

    # ---- values, from one Gram product and one reduction over rows
    ones = jnp.ones((n_local, 1), rows.dtype)
    r = jnp.concatenate([diff, x, ones], axis=-1).reshape(2, b_local, 2 * d + 1)  # [side, B, 2d+1] = [dX | X | 1]
    g = _global_sum(jnp.einsum("sbi,sbj->sij", r, r), axis_name)  # [2, 2d+1, 2d+1]
    e, f, hh = g[0, :d, :d], g[0, :d, d:2 * d], g[0, d:2 * d, d:2 * d]  # dU'dU, dU'U, U'U
    aa, bm, c = g[1, :d, :d], g[1, :d, d:2 * d], g[1, d:2 * d, d:2 * d]  # dI'dI, dI'I, I'I
    bm_t, f_t = bm.T, f.T
    inv_b2 = 1.0 / (b * b)
    pred = jnp.sum(e * (aa + bm + bm_t + c) + 2.0 * f * (aa + bm_t) + hh * aa) * inv_b2
    sse = jnp.trace(e) + jnp.trace(aa)
    col_sum = g[0, d:2 * d, 2 * d] + g[1, d:2 * d, 2 * d]
    sst = jnp.trace(hh) + jnp.trace(c) - jnp.sum(col_sum * col_sum) / n
    emb = sse / (b * d)
    active = z > 0
    z_sides = z.reshape(2, b_local, h)
    sums = jnp.sum(jnp.stack([z_sides, active.reshape(2, b_local, h).astype(z.dtype)]), axis=2)  # [2, side, h]
    sums = _global_sum(sums, axis_name)
    rate, fired_count = sums[0] / b, sums[1]
    rho = weights.rho
    rho_hat = jnp.clip(rate, _RHO_CLIP, 1.0 - _RHO_CLIP)
    ke = kl_log_eps
    if ke:
        kl = jnp.sum(rho * jnp.log((rho + ke) / (rho_hat + ke))
                     + (1.0 - rho) * jnp.log((1.0 - rho + ke) / (1.0 - rho_hat + ke)))
    else:
        kl = jnp.sum(rho * jnp.log(rho / rho_hat) + (1.0 - rho) * jnp.log((1.0 - rho) / (1.0 - rho_hat)))
    l1 = jnp.sum(rate) / h  # z >= 0, so |z| = z
    loss = weights.emb * emb + weights.pred * pred + weights.kl * kl + weights.l1 * l1

    # ---- gradient
    zero = jnp.zeros((1, d), rows.dtype)
    t_u = jnp.concatenate([aa + bm + bm_t + c, aa + bm, zero])  # [2d+1, d]: I_hat'I_hat, dI'I_hat, 0
    t_i = jnp.concatenate([e + f + f_t + hh, e + f, zero])  # [2d+1, d]: U_hat'U_hat, dU'U_hat, 0
    g_pred = jnp.einsum("sbi,sij->sbj", r, jnp.stack([t_u, t_i])).reshape(n_local, d)  # dpred/dX_hat * B^2 / 2
    g_y = ((weights.emb * 2.0 / (b * d)) * diff + (weights.pred * 2.0 * inv_b2) * g_pred) * scale
    inside = (rate > _RHO_CLIP) & (rate < 1.0 - _RHO_CLIP)
    if ke:
        g_rate = jnp.where(inside, (1.0 - rho) / (1.0 - rho_hat + ke) - rho / (rho_hat + ke), 0.0)  # [side, h]
    else:
        g_rate = jnp.where(inside, (1.0 - rho) / (1.0 - rho_hat) - rho / rho_hat, 0.0)  # [side, h]
    g_sparse = (weights.kl / b) * g_rate[:, None, :] + weights.l1 / (b * h)  # [side, 1, h]
    g_pre = jnp.where(active, ((g_y @ w).reshape(2, b_local, h) + g_sparse).reshape(n_local, h), 0.0)
    g_w = a.T @ g_pre + g_y.T @ z
    g_b_lat = jnp.sum(g_pre, axis=0)
    grads = {SHARED: {"W": g_w, "b_pre": jnp.sum(g_y, axis=0) - w @ g_b_lat, "b_lat": g_b_lat}}
    grads = _global_sum(grads, axis_name)

    aux = {
        "loss": loss, "emb": emb, "pred": pred, "kl": kl, "l1": l1,
        "l0": jnp.sum(fired_count) / n, "sse": sse, "sst": sst,
        "fired": jnp.any(fired_count > 0, axis=0)[None],
    }
    return (loss, aux), grads
