"""Loss terms against hand-computed values and NumPy formulas; the data-parallel rule of jaxsae.losses."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsae import losses
from jaxsae.recommenders import dot_score
from jaxsae.recommenders.ncf import init_head, ncf_score


def _rand(seed, *shape):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def test_mf_pred_loss_is_zero_for_a_perfect_reconstruction():
    u, i = jnp.asarray(_rand(0, 16, 5) * 10), jnp.asarray(_rand(1, 12, 5) * 10)
    assert float(losses.mf_pred_loss(u, i, u, i)) == 0.0


def test_mf_pred_loss_gram_equals_direct_and_numpy_formula():
    u, i = _rand(0, 16, 5), _rand(1, 12, 5)
    u_hat, i_hat = u + 0.3 * _rand(2, 16, 5), i + 0.3 * _rand(3, 12, 5)
    gram = float(losses.mf_pred_loss(*map(jnp.asarray, (u_hat, i_hat, u, i))))
    direct = float(losses.mf_pred_loss_direct(*map(jnp.asarray, (u_hat, i_hat, u, i))))
    U, I, Uh, Ih = (a.astype(np.float64) for a in (u, i, u_hat, i_hat))
    numpy_direct = np.mean((Uh @ Ih.T - U @ I.T) ** 2)
    numpy_identity = (np.sum((Uh.T @ Uh) * (Ih.T @ Ih)) - 2 * np.sum((Uh.T @ U) * (Ih.T @ I))
                      + np.sum((U.T @ U) * (I.T @ I))) / (16 * 12)
    assert numpy_identity == pytest.approx(numpy_direct, rel=1e-10)
    assert gram == pytest.approx(numpy_direct, rel=1e-5)
    assert direct == pytest.approx(numpy_direct, rel=1e-5)
    # same gradients too
    g1 = jax.grad(losses.mf_pred_loss, argnums=(0, 1))(*map(jnp.asarray, (u_hat, i_hat, u, i)))
    g2 = jax.grad(losses.mf_pred_loss_direct, argnums=(0, 1))(*map(jnp.asarray, (u_hat, i_hat, u, i)))
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_paired_pred_loss_mse_and_bce_hand_computed():
    u = jnp.asarray([[1.0, 0.0], [0.0, 1.0]])
    i = jnp.asarray([[1.0, 1.0], [2.0, 0.0]])  # target logits [1, 0]
    u_hat = jnp.asarray([[2.0, 0.0], [0.0, 1.0]])  # reconstructed logits [2, 0]
    mse = losses.paired_pred_loss(dot_score, {}, u_hat, i, u, i, "mse")
    assert float(mse) == pytest.approx(0.5)
    bce = losses.paired_pred_loss(dot_score, {}, u_hat, i, u, i, "bce")
    y = 1 / (1 + math.exp(-1))
    row0 = -(y * math.log(1 / (1 + math.exp(-2))) + (1 - y) * math.log(1 / (1 + math.exp(2))))
    row1 = math.log(2)
    assert float(bce) == pytest.approx((row0 + row1) / 2, rel=1e-6)
    assert float(bce) == pytest.approx(0.678979, abs=1e-5)
    assert float(losses.paired_pred_loss(dot_score, {}, u, i, u, i, "mse")) == 0.0


def test_gradients_flow_through_the_frozen_scorer_but_not_into_it():
    d = 4
    head = init_head(jax.random.PRNGKey(0), 2 * d, (8, 4))
    u, i = jnp.asarray(_rand(0, 6, d)), jnp.asarray(_rand(1, 6, d))
    u_hat, i_hat = u + 0.1, i - 0.1
    for kind in ("mse", "bce"):
        g_head, g_u = jax.jit(jax.grad(
            lambda h, uh: losses.paired_pred_loss(ncf_score, h, uh, i_hat, u, i, kind), argnums=(0, 1)))(head, u_hat)
        assert all(float(jnp.abs(x).max()) == 0.0 for x in jax.tree_util.tree_leaves(g_head))
        assert float(jnp.abs(g_u).max()) > 0.0


def test_kl_sparsity_hand_computed():
    z = jnp.asarray([[0.1, 0.0], [0.3, 2.0]])  # batch means 0.2 and 1.0 (clipped to 1 - 1e-6)
    rho = 0.05
    kl0 = rho * math.log(rho / 0.2) + (1 - rho) * math.log((1 - rho) / 0.8)
    top = float(np.float32(1 - 1e-6))  # the clip bound as float32 holds it (1 - top = 1.013e-6)
    kl1 = rho * math.log(rho / top) + (1 - rho) * math.log((1 - rho) / (1 - top))
    assert kl0 == pytest.approx(0.0939428, abs=1e-6)
    assert float(losses.kl_sparsity(z, rho)) == pytest.approx(kl0 + kl1, rel=1e-4)
    # a dead latent (mean 0) is clipped to 1e-6, not log(0)
    dead = float(losses.kl_sparsity(jnp.zeros((3, 1)), rho))
    assert dead == pytest.approx(rho * math.log(rho / 1e-6) + (1 - rho) * math.log((1 - rho) / (1 - 1e-6)), rel=1e-3)
    # KL is 0 when every latent's mean activation is rho
    assert float(losses.kl_sparsity(jnp.full((4, 3), rho), rho)) == pytest.approx(0.0, abs=1e-6)


def test_l1_embedding_and_total():
    z = jnp.asarray([[0.1, 0.0], [0.3, 2.0]])
    assert float(losses.l1_sparsity(z)) == pytest.approx(0.6)
    x = jnp.zeros((2, 2))
    levels = jnp.stack([jnp.ones((2, 2)), 2 * jnp.ones((2, 2))])  # MSE 1 and 4
    assert float(losses.embedding_loss(levels, x)) == pytest.approx(5.0)
    w = losses.LossWeights.create(emb=0.1, pred=1.0, kl=0.01, l1=0.3, rho=0.05)
    total = losses.total_loss(jnp.asarray(2.0), jnp.asarray(3.0), jnp.asarray(4.0), jnp.asarray(5.0), w)
    assert float(total) == pytest.approx(0.1 * 2 + 3 + 0.01 * 4 + 0.3 * 5)


def test_sharded_terms_equal_the_global_batch_terms_and_gradients():
    """Under pmap over 4 devices: every term's value is the global-batch value, and the pmean of the
    devices' gradients is the gradient of the global-batch loss (the rule train steps rely on)."""
    n = 4
    assert jax.local_device_count() >= n
    u, i = jnp.asarray(_rand(0, 16, 3)), jnp.asarray(_rand(1, 16, 3))
    theta = jnp.asarray(_rand(2, 3, 3))

    def loss(theta, u, i, axis_name=None):
        uh, ih = u @ theta, i @ theta
        z = jax.nn.relu(uh)
        return (losses.mf_pred_loss(uh, ih, u, i, axis_name) + losses.kl_sparsity(z, 0.1, axis_name)
                + losses.mse(uh, u, axis_name) + losses.l1_sparsity(z, axis_name))

    value, grad = jax.value_and_grad(loss)(theta, u, i)

    def sharded(theta, u, i):
        v, g = jax.value_and_grad(loss)(theta, u, i, "d")
        return v, jax.lax.pmean(g, "d")

    vs, gs = jax.pmap(sharded, axis_name="d", in_axes=(None, 0, 0))(theta, u.reshape(n, 4, 3), i.reshape(n, 4, 3))
    np.testing.assert_allclose(vs, float(value), rtol=1e-5)
    for g in gs:
        np.testing.assert_allclose(g, grad, rtol=1e-4, atol=1e-6)
