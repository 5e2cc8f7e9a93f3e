"""The SAE training objective, term by term: pure functions of arrays.

    total = w_emb * emb + w_pred * pred + w_kl * kl + w_l1 * l1

- emb   : `MSE(x_hat_u, u) + MSE(x_hat_i, i)`, summed over Matryoshka levels (`embedding_loss`);
- pred  : the frozen recommender's scores of reconstructions against its scores of the originals
          (Matryoshka: of the full reconstruction, as the paper's reference, or summed over levels
          with `pred_levels="all"`). MF: mean over the batch cross product of `(U_hat I_hat^T - U I^T)^2`
          via d x d Gram matrices (`mf_pred_loss`; all levels and both sides at once: `mf_pred_loss_stacked`); any scorer: paired rows, MSE on logits or BCE of
          `sigmoid(f(u_hat, i_hat))` against `sigmoid(f(u, i))` (`paired_pred_loss`);
          `pred_loss="listwise"`: KL between the softmax of each batch user's scores over all items from
          the originals and from the reconstructions, at a scale-free temperature (`listwise_kl`);
- kl    : `KL(rho || rho_hat)` summed over latents, users plus items (`kl_sparsity`);
- l1    : `mean |z|`, users plus items (`l1_sparsity`).

Data parallelism: every function taking `axis_name` returns, on every device, the value of the
term over the *global* batch (all devices' rows), while its gradient is the device's own share,
scaled so that `lax.pmean` of the devices' gradients equals the gradient of the global-batch loss
exactly. With `axis_name=None` (one device, or under `vmap`) they are the plain formulas.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
from flax import struct

from jaxsae.recommenders import dot_score
from jaxsae.errors import ConfigError

ScoreFn = Callable[[Any, jax.Array, jax.Array], jax.Array]


# ---------------------------------------------------------------------------- data parallel
def global_mean(x: jax.Array, axis_name: Optional[str] = None) -> jax.Array:
    """Value `pmean(x)` over devices, gradient that of the local `x` (pmean of gradients is then exact)."""
    if axis_name is None:
        return x
    return x + jax.lax.stop_gradient(jax.lax.pmean(x, axis_name) - x)


def global_sum(x: jax.Array, axis_name: Optional[str] = None) -> jax.Array:
    """Value `psum(x)` over devices, gradient `n_devices` times that of the local `x`.

    For a loss `f(sum_d x_d)`, device d's gradient is then `n f'(S) dx_d`, whose pmean over the
    n devices is `f'(S) sum_d dx_d`: the exact gradient of the global loss.
    """
    if axis_name is None:
        return x
    n = jax.lax.psum(1, axis_name)
    return n * x + jax.lax.stop_gradient(jax.lax.psum(x, axis_name) - n * x)


# ---------------------------------------------------------------------------- weights
@struct.dataclass
class LossWeights:
    """Loss weights and the KL target as arrays, so they are arguments of the jitted step (vmap-able)."""

    emb: jax.Array  # w_emb, embedding reconstruction
    pred: jax.Array  # w_pred, prediction-aware term
    kl: jax.Array  # w_kl, KL sparsity
    l1: jax.Array  # w_l1, L1 sparsity
    rho: jax.Array  # KL target activation rate, in (0, 1)

    @classmethod
    def create(cls, emb: float = 0.1, pred: float = 1.0, kl: float = 0.01, l1: float = 0.0,
               rho: float = 0.05) -> "LossWeights":
        """Float32 scalars (the paper's ML-1M MF setting by default)."""
        f = lambda v: jnp.asarray(v, jnp.float32)  # noqa: E731
        return cls(emb=f(emb), pred=f(pred), kl=f(kl), l1=f(l1), rho=f(rho))


def total_loss(emb: jax.Array, pred: jax.Array, kl: jax.Array, l1: jax.Array, weights: LossWeights) -> jax.Array:
    """`w_emb * emb + w_pred * pred + w_kl * kl + w_l1 * l1`."""
    return weights.emb * emb + weights.pred * pred + weights.kl * kl + weights.l1 * l1


# ---------------------------------------------------------------------------- reconstruction
def mse(a: jax.Array, b: jax.Array, axis_name: Optional[str] = None) -> jax.Array:
    """Mean squared error over all elements, `mean((a - b)^2)`."""
    return global_mean(jnp.mean((a - b) ** 2), axis_name)


def embedding_loss(x_hat_levels: jax.Array, x: jax.Array, axis_name: Optional[str] = None) -> jax.Array:
    """`sum_l MSE(x_hat_levels[l], x)` for `x_hat_levels [L, B, d]`, `x [B, d]` (one level: plain MSE)."""
    per_level = jnp.mean((x_hat_levels - x[None]) ** 2, axis=(1, 2))
    return global_mean(jnp.sum(per_level), axis_name)


# ---------------------------------------------------------------------------- prediction-aware
def mf_pred_loss_direct(u_hat: jax.Array, i_hat: jax.Array, u: jax.Array, i: jax.Array) -> jax.Array:
    """`mean_{a,b} (u_hat_a . i_hat_b - u_a . i_b)^2` by forming the `[B_u, B_i]` matrices (for checks)."""
    return jnp.mean((u_hat @ i_hat.T - u @ i.T) ** 2)


def mf_pred_loss(u_hat: jax.Array, i_hat: jax.Array, u: jax.Array, i: jax.Array,
                 axis_name: Optional[str] = None) -> jax.Array:
    """MF prediction-aware loss `||U_hat I_hat^T - U I^T||_F^2 / (B_u B_i)` without the B_u x B_i matrix.

    Exact identity: `||U_hat I_hat^T - U I^T||_F^2 = <U_hat^T U_hat, I_hat^T I_hat>
    - 2 <U_hat^T U, I_hat^T I> + <U^T U, I^T I>`, with `<A, B> = sum(A * B)` over d x d matrices.
    It is evaluated regrouped: with `dU = U_hat - U`, `dI = I_hat - I`,
    `U_hat I_hat^T - U I^T = [dU | U] [I_hat | dI]^T = P Q^T`, so the loss is `<P^T P, Q^T Q>`
    (two 2d x 2d Grams, O(B d^2) instead of O(B^2 d)). Expanding `<P^T P, Q^T Q>` gives the three
    terms above; the regrouping keeps every term proportional to the residuals, so the value is
    exactly 0 for a perfect reconstruction instead of a float32 cancellation of large numbers.
    Biases cancel in the difference (use bias-folded embeddings to cover them).
    """
    p = jnp.concatenate([u_hat - u, u], axis=-1)  # [B_u, 2d]
    q = jnp.concatenate([i_hat, i_hat - i], axis=-1)  # [B_i, 2d]
    gram_p = global_sum(p.T @ p, axis_name)
    gram_q = global_sum(q.T @ q, axis_name)
    n_u = global_sum(jnp.asarray(u.shape[0], jnp.float32), axis_name)
    n_i = global_sum(jnp.asarray(i.shape[0], jnp.float32), axis_name)
    return jnp.sum(gram_p * gram_q) / jax.lax.stop_gradient(n_u * n_i)


def mf_pred_loss_stacked(x_hat_levels: jax.Array, x: jax.Array, axis_name: Optional[str] = None) -> jax.Array:
    """`sum_l mf_pred_loss(U_hat_l, I_hat_l, U, I)` for users and items stacked as rows of equal count.

    `x = [U; I]` is `[2B, d]` (B users, then B items) and `x_hat_levels` is `[L, 2B, d]`. One
    batched product gives every level's and side's Gram of `[dX | X]` (`dX = X_hat - X`), i.e.
    `P^T P` for the users and `G = [dI | I]^T [dI | I]` for the items; as `Q = [I_hat | dI] =
    [dI | I] T` with `T = [[1, 1], [1, 0]]`, `<P^T P, Q^T Q> = <P^T P, T^T G T>` is a sum of d x d
    block products, each with a residual factor, so the value stays exactly 0 for a perfect
    reconstruction. Same value as `mf_pred_loss` per level up to float rounding, fewer kernels.
    """
    n_lev, rows, d = x_hat_levels.shape
    b = rows // 2
    r = jnp.concatenate([x_hat_levels - x[None], jnp.broadcast_to(x[None], x_hat_levels.shape)], axis=-1)
    r = r.reshape(n_lev, 2, b, 2 * d)
    g = global_sum(jnp.einsum("lsbi,lsbj->lsij", r, r), axis_name)  # [L, 2, 2d, 2d]
    e, f, h_ = g[:, 0, :d, :d], g[:, 0, :d, d:], g[:, 0, d:, d:]  # dU'dU, dU'U, U'U
    a, bm, c = g[:, 1, :d, :d], g[:, 1, :d, d:], g[:, 1, d:, d:]  # dI'dI, dI'I, I'I
    bm_t = jnp.swapaxes(bm, -1, -2)
    total = jnp.sum(e * (a + bm + bm_t + c) + 2.0 * f * (a + bm_t) + h_ * a)
    n = global_sum(jnp.asarray(b, jnp.float32), axis_name)
    return total / jax.lax.stop_gradient(n * n)


def paired_pred_loss(score_fn: ScoreFn, head: Any, u_hat: jax.Array, i_hat: jax.Array, u: jax.Array,
                     i: jax.Array, kind: str = "mse", axis_name: Optional[str] = None) -> jax.Array:
    """Prediction-aware loss on paired rows `(u_b, i_b)` through any frozen scorer `f = score_fn(head, ., .)`.

    `kind="mse"`: `mean_b (f(u_hat_b, i_hat_b) - f(u_b, i_b))^2` on logits (default; 0 at a perfect
    reconstruction). `kind="bce"` (the paper's NCF choice): with `y_b = sigmoid(f(u_b, i_b))` and
    `l_b = f(u_hat_b, i_hat_b)`, `mean_b -(y_b log sigmoid(l_b) + (1 - y_b) log sigmoid(-l_b))`;
    its minimum is the entropy of `y`, not 0. `kind="mse_prob"` (the reference Last.fm NCF SAE):
    `mean_b (sigmoid(l_b) - y_b)^2`. The head (and the target) are under `stop_gradient`:
    gradients flow through the recommender into the reconstructions, never into the recommender.
    """
    head = jax.lax.stop_gradient(head)
    target = jax.lax.stop_gradient(score_fn(head, u, i))
    logits = score_fn(head, u_hat, i_hat)
    if kind == "mse":
        per_row = (logits - target) ** 2
    elif kind == "bce":
        y = jax.nn.sigmoid(target)
        per_row = -(y * jax.nn.log_sigmoid(logits) + (1.0 - y) * jax.nn.log_sigmoid(-logits))
    elif kind == "mse_prob":  # the reference Last.fm NCF SAE: MSE between the sigmoid outputs
        per_row = (jax.nn.sigmoid(logits) - jax.nn.sigmoid(target)) ** 2
    else:

        raise ConfigError(f"unknown prediction loss {kind!r}; known: mse, bce, mse_prob")
    return global_mean(jnp.mean(per_row), axis_name)


def cross_scores(score_fn: ScoreFn, head: Any, users: jax.Array, items: jax.Array) -> jax.Array:
    """`[B_u, N]` logits of every (user, item) pair through a paired-row scorer (MF, NCF or custom).

    The MF dot scorer is one matrix product; any other scorer is evaluated on the B_u x N pairs."""
    if score_fn is dot_score:
        return users @ items.T
    n = items.shape[0]

    def one_user(u_row: jax.Array) -> jax.Array:
        return score_fn(head, jnp.broadcast_to(u_row, (n, u_row.shape[-1])), items)

    return jax.vmap(one_user)(users)


def listwise_kl(target_logits: jax.Array, logits: jax.Array, temperature: "float | jax.Array" = 1.0,
                axis_name: Optional[str] = None) -> jax.Array:
    """Listwise prediction-aware loss: `mean_u KL(softmax(s_u / t_u) || softmax(s_hat_u / t_u))`.

    `target_logits` and `logits` are `[B_u, N]` scores of the same items from the original and the
    reconstructed embeddings. The temperature is scale-free: `t_u = temperature * std_j(s_uj)`, the
    spread of the user's original scores over the N items, so the loss weighs the top of each user's
    list the same way whatever the recommender's logit scale. It is 0 exactly when
    `s_hat_u - s_u` is constant over items (a ranking-preserving shift, e.g. a user bias), and, unlike
    MSE over random pairs, concentrates its weight on the items that can reach a top-K list.
    """
    target_logits = jax.lax.stop_gradient(target_logits)
    scale = jax.lax.stop_gradient(temperature * (jnp.std(target_logits, axis=-1, keepdims=True) + 1e-6))
    log_p = jax.nn.log_softmax(target_logits / scale, axis=-1)
    log_q = jax.nn.log_softmax(logits / scale, axis=-1)
    per_user = jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1)
    return global_mean(jnp.mean(per_user), axis_name)


# ---------------------------------------------------------------------------- sparsity
def kl_sparsity(z: jax.Array, rho: "float | jax.Array", axis_name: Optional[str] = None,
                log_eps: float = 0.0) -> jax.Array:
    """`sum_j rho log(rho / rho_hat_j) + (1 - rho) log((1 - rho) / (1 - rho_hat_j))`.

    `rho_hat_j` is latent j's *batch-mean activation* `mean_b z_bj` (the paper's choice: for ReLU
    latents this is the mean activation value, not the firing rate; values above 1 are possible and
    are clipped), clipped to `[1e-6, 1 - 1e-6]`. Over devices the mean covers the global batch.
    `log_eps` (the reference code's 1e-6) is added to numerator and denominator inside both logs:
    `rho log((rho + e) / (rho_hat + e)) + (1 - rho) log((1 - rho + e) / (1 - rho_hat + e))`.
    """
    rho_hat = jnp.clip(global_mean(jnp.mean(z, axis=0), axis_name), 1e-6, 1.0 - 1e-6)
    if log_eps:
        e = log_eps
        return jnp.sum(rho * jnp.log((rho + e) / (rho_hat + e))
                       + (1.0 - rho) * jnp.log((1.0 - rho + e) / (1.0 - rho_hat + e)))
    return jnp.sum(rho * jnp.log(rho / rho_hat) + (1.0 - rho) * jnp.log((1.0 - rho) / (1.0 - rho_hat)))


def minmax_columns(x: jax.Array, axis_name: Optional[str] = None) -> jax.Array:
    """`(x - min) / (max - min)` per column over the batch rows, 0 where a column is constant.

    The reference MF SAE scales every training batch this way before encoding (`normalize_matrix`,
    with `np.nan_to_num` turning 0/0 into 0); over devices min and max cover the global batch.
    """
    lo, hi = jnp.min(x, axis=0), jnp.max(x, axis=0)
    if axis_name is not None:
        lo, hi = jax.lax.pmin(lo, axis_name), jax.lax.pmax(hi, axis_name)
    span = hi - lo
    return jnp.where(span > 0, (x - lo) / jnp.where(span > 0, span, 1.0), 0.0)


def l1_sparsity(z: jax.Array, axis_name: Optional[str] = None) -> jax.Array:
    """`mean |z|` over all rows and latents."""
    return global_mean(jnp.mean(jnp.abs(z)), axis_name)
