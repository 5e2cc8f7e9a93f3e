"""The listwise prediction-aware loss: NumPy agreement, zero at a perfect reconstruction,
invariance to a per-user shift, and its use in SAE training (value and gradient reach the SAE)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsae.losses import cross_scores, listwise_kl
from jaxsae.recommenders import TwoTower, dot_score
from jaxsae.sae import SAETrainConfig
from jaxsae.training.sae import SAEBatch, build_sae, init_state, loss_weights, sae_loss, train_step


def _np_listwise(s: np.ndarray, s_hat: np.ndarray, t: float) -> float:
    s, s_hat = s.astype(np.float64), s_hat.astype(np.float64)
    scale = t * (s.std(axis=1, keepdims=True) + 1e-6)
    def log_softmax(v):
        v = v / scale
        v = v - v.max(axis=1, keepdims=True)
        return v - np.log(np.exp(v).sum(axis=1, keepdims=True))
    lp, lq = log_softmax(s), log_softmax(s_hat)
    return float(np.mean(np.sum(np.exp(lp) * (lp - lq), axis=1)))


@pytest.mark.parametrize("t", [0.25, 1.0, 3.0])
def test_listwise_kl_matches_numpy(t):
    rng = np.random.default_rng(0)
    s = rng.normal(size=(5, 17)).astype(np.float32) * 2.0
    s_hat = s + rng.normal(size=s.shape).astype(np.float32) * 0.5
    got = float(listwise_kl(jnp.asarray(s), jnp.asarray(s_hat), t))
    np.testing.assert_allclose(got, _np_listwise(s, s_hat, t), rtol=1e-4, atol=1e-7)
    assert got > 1e-3


def test_listwise_kl_is_zero_for_a_perfect_or_shifted_reconstruction_and_scale_free():
    rng = np.random.default_rng(1)
    s = jnp.asarray(rng.normal(size=(4, 30)), jnp.float32)
    assert float(listwise_kl(s, s)) == pytest.approx(0.0, abs=1e-7)
    shift = jnp.asarray(rng.normal(size=(4, 1)), jnp.float32)  # a user bias changes no ranking
    assert float(listwise_kl(s, s + shift)) == pytest.approx(0.0, abs=1e-6)
    s_hat = s + 0.3 * jnp.asarray(rng.normal(size=s.shape), jnp.float32)
    # the temperature is in units of each user's score spread: scaling all scores by 10 changes nothing
    np.testing.assert_allclose(float(listwise_kl(10 * s, 10 * s_hat)), float(listwise_kl(s, s_hat)), rtol=1e-4)


def test_cross_scores_of_the_dot_scorer_is_the_matrix_product():
    rng = np.random.default_rng(2)
    u, i = rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(6, 4)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(cross_scores(dot_score, {}, jnp.asarray(u), jnp.asarray(i))), u @ i.T,
                               rtol=1e-5, atol=1e-6)


def test_sae_loss_with_listwise_scores_users_against_every_reconstructed_item():
    rng = np.random.default_rng(3)
    d, n_items = 4, 9
    users = jnp.asarray(rng.normal(size=(5, d)), jnp.float32)
    items = jnp.asarray(rng.normal(size=(n_items, d)), jnp.float32)
    cfg = SAETrainConfig(sae="topk", latents=8, k=3, normalize=False, pred_loss="listwise", w_kl=0.0,
                         listwise_temperature=0.5)
    module = build_sae(cfg, d)
    state = init_state(jax.random.PRNGKey(0), cfg, d)
    batch = SAEBatch(user_x=users, item_x=items[:5], all_items=items)
    mf = TwoTower.create(users, items)
    loss, aux = sae_loss(state.params, batch, mf, cfg, loss_weights(cfg))
    p = state.params["shared"]
    def recon(x):
        return np.asarray(module.apply({"params": p}, x).x_hat)
    expected = _np_listwise(np.asarray(users) @ np.asarray(items).T, recon(users) @ recon(items).T, 0.5)
    np.testing.assert_allclose(float(aux["pred"]), expected, rtol=1e-4)
    grads = jax.grad(lambda q: sae_loss(q, batch, mf, cfg)[0])(state.params)
    assert float(jnp.abs(grads["shared"]["W"]).sum()) > 0


def test_listwise_training_improves_ranking_fidelity_over_its_start():
    from data_prep.preprocess import prepare
    from data_prep.synthetic import generate, preset
    from jaxsae.training.sae import train_sae

    data = prepare(generate(preset("tiny")))
    rng = np.random.default_rng(0)
    tt = TwoTower.create(rng.normal(size=(data.n_users, 6)), rng.normal(size=(data.n_items, 6)), kind="mf")
    base = SAETrainConfig(sae="topk", latents=16, k=4, normalize=False, pred_loss="listwise", w_kl=0.0,
                          batch_size=16, log_every=50)
    _, m0 = train_sae(tt, data, base.replace(steps=1), log=lambda s: None)
    _, m1 = train_sae(tt, data, base.replace(steps=300, lr=3e-3), log=lambda s: None)
    assert m1["pred"] < 0.5 * m0["pred"]
    assert m1["rbo@30"] > m0["rbo@30"] + 0.05


def test_k_user_encodes_users_with_more_latents_than_items():
    from jaxsae.sae import TrainedSAE

    rng = np.random.default_rng(4)
    d = 5
    cfg = SAETrainConfig(sae="topk", latents=12, k=2, k_user=6, normalize=False)
    module = build_sae(cfg, d)
    state = init_state(jax.random.PRNGKey(1), cfg, d)
    tt = TwoTower.create(rng.normal(size=(7, d)), rng.normal(size=(9, d)), kind="mf")
    sae = TrainedSAE(module=module, params=state.params, config=cfg, input_two_tower=tt, heldout_users=np.arange(2))
    zu, _ = sae.encode(tt.user_emb, side="user")
    zi, _ = sae.encode(tt.item_emb, side="item")
    assert int(np.max(np.sum(np.asarray(zu) > 0, axis=1))) > 2 and np.all(np.sum(np.asarray(zu) > 0, axis=1) <= 6)
    assert np.all(np.sum(np.asarray(zi) > 0, axis=1) <= 2)
    # the training objective sees the same per-side codes
    batch = SAEBatch(user_x=tt.user_emb, item_x=tt.item_emb[:7])
    _, aux = sae_loss(state.params, batch, tt, cfg)
    expect_l0 = (np.sum(np.asarray(zu) > 0) + np.sum(np.asarray(zi[:7]) > 0)) / 14
    np.testing.assert_allclose(float(aux["l0"]), expect_l0, rtol=1e-5)
    with pytest.raises(Exception):
        SAETrainConfig(sae="tied", k_user=3)


def test_listwise_on_a_large_catalogue_scores_a_random_subset_each_step():
    rng = np.random.default_rng(5)
    d, n_items = 4, 40
    items = jnp.asarray(rng.normal(size=(n_items, d)), jnp.float32)
    users = jnp.asarray(rng.normal(size=(6, d)), jnp.float32)
    full = SAETrainConfig(sae="topk", latents=8, k=3, normalize=False, pred_loss="listwise", w_kl=0.0)
    sub = full.replace(listwise_items=10)
    batch = SAEBatch(user_x=users, item_x=items[:6], all_items=items)
    state = init_state(jax.random.PRNGKey(0), full, d)
    mf = TwoTower.create(users, items)
    _, m_full = train_step(state, batch, mf, full)
    _, m_sub = train_step(state, batch, mf, sub)
    _, m_sub2 = train_step(state.replace(step=state.step + 1), batch, mf, sub)
    _, m_other = train_step(state.replace(key=jax.random.PRNGKey(9)), batch, mf, sub)
    assert np.isfinite(float(m_sub["pred"])) and float(m_sub["pred"]) != pytest.approx(float(m_full["pred"]))
    assert float(m_sub["pred"]) != pytest.approx(float(m_sub2["pred"]))  # a fresh subset each step
    assert float(m_sub["pred"]) != pytest.approx(float(m_other["pred"]))  # drawn from the state's own key
    with pytest.raises(Exception):
        SAETrainConfig(listwise_items=1)
