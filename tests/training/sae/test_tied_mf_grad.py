"""The hand-derived tied-SAE gradient under the MF Gram loss equals autodiff of the library objective."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsae.recommenders import TwoTower, dot_score
from jaxsae.sae import SAETrainConfig
from jaxsae.training import sae as T
from jaxsae.training.sae import (input_table, supports_hand_gradient, tied_mf_rows_value_and_grad,
                                         tied_mf_value_and_grad)

B, D, H = 16, 6, 10


def _batch(seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    return (jnp.asarray(rng.normal(size=(B, D)) * scale, jnp.float32),
            jnp.asarray(rng.normal(size=(B, D)) * scale, jnp.float32))


def _autodiff(cfg, state, u, i):
    batch = T.SAEBatch(user_x=u, item_x=i)
    mf = TwoTower.create(u, i)  # an MF scorer: the Gram form of the prediction loss
    return jax.value_and_grad(lambda p: T.sae_loss(p, batch, mf, cfg, state.weights), has_aux=True)(state.params)


@pytest.mark.parametrize("kw", [
    dict(sae="tied"),
    dict(sae="topk", k=3, w_l1=0.3, w_kl=0.02),
    dict(sae="tied", normalize=False, w_l1=0.2, rho=0.2),
    dict(sae="tied", w_emb=0.0, w_pred=5.0, w_kl=0.0),
])
def test_value_gradient_and_diagnostics_equal_autodiff(kw):
    cfg = SAETrainConfig.ml1m_mf(latents=H, **kw)
    state = T.init_state(jax.random.PRNGKey(1), cfg, D)
    module = T.build_sae(cfg, D)
    u, i = _batch()
    (loss_a, aux_a), g_a = _autodiff(cfg, state, u, i)
    (loss_h, aux_h), g_h = tied_mf_value_and_grad(state.params, u, i, state.weights, module.activation, module.k,
                                                  module.normalize)
    assert float(loss_h) == pytest.approx(float(loss_a), rel=1e-5)
    for key in ("emb", "pred", "kl", "l1", "l0", "sse", "sst"):
        assert float(aux_h[key]) == pytest.approx(float(aux_a[key]), rel=1e-4, abs=1e-5), key
    np.testing.assert_array_equal(np.asarray(aux_h["fired"]), np.asarray(aux_a["fired"]))
    for name in ("W", "b_pre", "b_lat"):
        a, h = np.asarray(g_a["shared"][name]), np.asarray(g_h["shared"][name])
        assert np.abs(a).max() > 0
        np.testing.assert_allclose(h, a, rtol=1e-4, atol=1e-6 * np.abs(a).max())


def test_perfect_reconstruction_has_zero_prediction_loss_and_gradient():
    """Biases that reproduce the input exactly (W = 0, b_pre = x_norm for one repeated row)."""
    cfg = SAETrainConfig.ml1m_mf(latents=H, w_kl=0.0)
    state = T.init_state(jax.random.PRNGKey(0), cfg, D)
    row = jnp.asarray(np.random.default_rng(3).normal(size=(1, D)), jnp.float32)
    x = jnp.repeat(row, B, axis=0)
    x_norm = input_table(row)[0, D:2 * D]
    params = {"shared": {"W": jnp.zeros((D, H)), "b_pre": x_norm, "b_lat": jnp.zeros(H)}}
    (_, aux), grads = tied_mf_value_and_grad(params, x, x, state.weights)
    assert float(aux["pred"]) == pytest.approx(0.0, abs=1e-9)
    assert float(aux["emb"]) == pytest.approx(0.0, abs=1e-10)
    assert float(jnp.abs(grads["shared"]["b_pre"]).max()) < 1e-5


def test_hand_gradient_applies_only_where_its_formula_holds():
    base = SAETrainConfig.ml1m_mf()
    assert supports_hand_gradient(base, gram=True)
    assert supports_hand_gradient(base.replace(sae="topk", k=4), gram=True)
    assert not supports_hand_gradient(base, gram=False)  # NCF or BCE: autodiff
    assert not supports_hand_gradient(base.replace(shared=False), gram=True)
    assert not supports_hand_gradient(base.replace(tied=False), gram=True)
    assert not supports_hand_gradient(base.replace(sae="matryoshka"), gram=True)


def test_pmap_shards_give_the_global_batch_value_and_gradient():
    """4 devices, each with a quarter of the users and of the items: psum-ed Grams and latent sums give
    every device the one-device value, diagnostics and gradient of the whole batch."""
    n_dev = 4
    assert jax.local_device_count() >= n_dev  # conftest sets --xla_force_host_platform_device_count=4
    cfg = SAETrainConfig.ml1m_mf(sae="topk", k=3, latents=H, w_l1=0.2, w_kl=0.05)
    state = T.init_state(jax.random.PRNGKey(2), cfg, D)
    u, i = _batch(seed=4)
    (loss_1, aux_1), g_1 = tied_mf_value_and_grad(state.params, u, i, state.weights, "topk", 3)
    q = B // n_dev
    rows = jnp.stack([input_table(jnp.concatenate([u[j * q:(j + 1) * q], i[j * q:(j + 1) * q]]))
                      for j in range(n_dev)])
    fn = jax.pmap(lambda r: tied_mf_rows_value_and_grad(state.params, r, state.weights, "topk", 3, axis_name="d"),
                  axis_name="d", devices=jax.local_devices()[:n_dev])
    (loss_4, aux_4), g_4 = fn(rows)
    np.testing.assert_allclose(np.asarray(loss_4), float(loss_1), rtol=1e-5)
    for key in ("emb", "pred", "kl", "l1", "l0", "sse", "sst"):
        np.testing.assert_allclose(np.asarray(aux_4[key]), float(aux_1[key]), rtol=1e-4, atol=1e-6, err_msg=key)
    np.testing.assert_array_equal(np.asarray(aux_4["fired"])[0], np.asarray(aux_1["fired"]))
    for name in ("W", "b_pre", "b_lat"):
        for dev in range(n_dev):
            np.testing.assert_allclose(np.asarray(g_4["shared"][name])[dev], np.asarray(g_1["shared"][name]),
                                       rtol=1e-4, atol=1e-6)


def test_scanned_epoch_matches_autodiff_steps():
    """`make_sae_epoch` (hand path, prepared row table) == a Python loop of autodiff `train_step`."""
    rng = np.random.default_rng(0)
    tt = TwoTower.create(rng.normal(size=(30, D)), rng.normal(size=(20, D)), user_bias=rng.normal(size=30),
                         item_bias=rng.normal(size=20), kind="mf")
    cfg = SAETrainConfig.ml1m_mf(latents=H, batch_size=8, w_l1=0.1)
    assert T.supports_hand_gradient(cfg, True)
    users, items = T.batch_indices(np.arange(30, dtype=np.int32), 20, 0, 0, 6, 8)
    state = T.init_state(jax.random.PRNGKey(0), cfg, D)
    epoch = jax.jit(T.make_sae_epoch(cfg, D))
    fast, m = epoch(state, T.prepare_inputs(cfg, tt, True), users, items)
    lazy, _ = epoch(state, tt, users, items)  # the row table built inside the program instead
    step = jax.jit(T.train_step, static_argnames="config")
    slow, losses = state, []
    for u, i in zip(users, items):
        slow, ms = step(slow, T.SAEBatch.of(tt, u, i), tt, config=cfg)
        losses.append(float(ms["loss"]))
    for a, b, c in zip(jax.tree_util.tree_leaves(fast.params), jax.tree_util.tree_leaves(slow.params),
                       jax.tree_util.tree_leaves(lazy.params)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)
        np.testing.assert_array_equal(np.asarray(a), np.asarray(c))
    assert float(m["loss"]) == pytest.approx(np.mean(losses), rel=1e-4)
