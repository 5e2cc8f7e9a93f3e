"""BatchTopK, Matryoshka-BatchTopK, AuxK and the dense block: each through the real trainer."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsae.errors import ConfigError
from jaxsae.recommenders import TwoTower
from jaxsae.sae import batch_topk
from jaxsae.sae import SAETrainConfig
from jaxsae.training import sae as T

N_USERS, N_ITEMS, D = 300, 200, 8


def _mf(seed=0):
    rng = np.random.default_rng(seed)
    return TwoTower.create(rng.normal(size=(N_USERS, D)), rng.normal(size=(N_ITEMS, D)),
                           user_bias=rng.normal(size=N_USERS), item_bias=rng.normal(size=N_ITEMS), kind="mf")


def _cfg(**kw):
    base = dict(latents=32, k=4, batch_size=32, steps=300, log_every=100, checkpoint_every=300, w_kl=0.0)
    base.update(kw)
    return SAETrainConfig(**base)


def test_batch_topk_keeps_k_times_rows_over_the_batch_not_per_row():
    pre = jnp.asarray(np.random.default_rng(0).normal(size=(6, 10)) + np.arange(6)[:, None], jnp.float32)
    z = np.asarray(batch_topk(pre, 3))
    assert (z > 0).sum() == 18  # 3 x 6 over the batch
    assert (z[-1] > 0).sum() > 3 > (z[0] > 0).sum()  # rows with larger pre-activations take more
    kept = np.sort(np.asarray(pre).ravel())[::-1][:18]
    np.testing.assert_allclose(np.sort(z[z > 0])[::-1], kept)


@pytest.fixture(scope="module")
def trained_batchtopk():
    return T.train_sae(_mf(), None, _cfg(sae="batchtopk"), log=lambda _: None)[0]


def test_inference_thresholds_give_the_training_density_on_average(trained_batchtopk):
    sae = trained_batchtopk
    theta = np.asarray(sae.params["shared"]["threshold"])
    assert theta.shape == (32,) and np.all(theta > 0) and np.ptp(theta) > 0  # learned, per latent
    zi, zu = np.asarray(sae.encode_items()[0]), np.asarray(sae.encode_users()[0])
    density = np.concatenate([(zi > 0).sum(1), (zu > 0).sum(1)]).mean()
    assert density == pytest.approx(4.0, rel=0.1)  # k per row on average, as in training
    assert np.ptp((zi > 0).sum(1)) > 0  # ... but not exactly k in every row: a threshold, not a top-k


def test_encoding_a_row_does_not_depend_on_its_batch(trained_batchtopk):
    sae = trained_batchtopk
    x = sae.input_two_tower.item_emb
    whole = np.asarray(sae.encode(x)[0])
    alone = np.concatenate([np.asarray(sae.encode(x[i:i + 1])[0]) for i in range(20)])
    mixed = np.asarray(sae.encode(jnp.concatenate([x[:20], 10.0 * x[20:40]]))[0])[:20]
    np.testing.assert_array_equal(alone > 0, whole[:20] > 0)
    np.testing.assert_array_equal(mixed > 0, whole[:20] > 0)
    np.testing.assert_allclose(alone, whole[:20], atol=1e-5)


def test_batchtopk_checkpoint_keeps_the_thresholds(tmp_path):
    tt = _mf()
    cfg = _cfg(sae="matryoshka_batchtopk", steps=40, log_every=20, checkpoint_every=20, prefixes=(8, 16, 32))
    sae, metrics = T.train_sae(tt, None, cfg, out_dir=tmp_path / "sae", log=lambda _: None)
    back = T.load_sae(tmp_path / "sae", tt)
    np.testing.assert_array_equal(np.asarray(back.params["shared"]["threshold"]),
                                  np.asarray(sae.params["shared"]["threshold"]))
    assert sae.forward(tt.item_emb[:5]).x_hat_levels.shape == (3, 5, D)
    assert metrics["k"] == 4


def test_batchtopk_trains_under_pmap_and_in_a_vmapped_grid():
    tt = _mf()
    sae, _ = T.train_sae(tt, None, _cfg(sae="batchtopk", steps=20, log_every=10, devices=4), log=lambda _: None)
    assert np.all(np.asarray(sae.params["shared"]["threshold"]) > 0)
    users = np.arange(N_USERS)
    runs, _ = T.train_grid(tt, [_cfg(sae="batchtopk", steps=20, log_every=10, w_emb=w) for w in (0.1, 1.0)], users,
                           log=lambda s: None)
    thetas = [np.asarray(r.state.params["shared"]["threshold"]) for r in runs]
    assert all(np.all(t > 0) for t in thetas) and not np.array_equal(thetas[0], thetas[1])


def _dead_after(aux_k, steps=150):
    """A TopK SAE whose latents 0-7 start dead (latent bias -3: never in the top-k, negative on every row);
    how many of them fire on some row after `steps` steps (lr 1e-2 so a bias can travel that far)."""
    tt = _mf()
    cfg = _cfg(sae="topk", aux_k=aux_k, w_aux=1.0, w_l1=0.0, lr=1e-2)
    state = T.init_state(jax.random.PRNGKey(0), cfg, D)
    p = state.params["shared"]
    state = state.replace(params={"shared": {**p, "b_lat": p["b_lat"].at[:8].set(-3.0)}})
    step = jax.jit(T.train_step, static_argnames="config")
    rng = np.random.default_rng(0)
    for _ in range(steps):
        b = T.SAEBatch.of(tt, rng.integers(0, N_USERS, 32), rng.integers(0, N_ITEMS, 32))
        state, m = step(state, b, tt, config=cfg)
    module = T.build_sae(cfg, D)
    z = module.apply({"params": state.params["shared"]}, jnp.concatenate([tt.user_emb, tt.item_emb]), method="encode")[0]
    return int(np.asarray((z[:, :8] > 0).any(axis=0)).sum()), float(m["aux"]) if "aux" in m else None


def test_auxk_revives_planted_dead_latents():
    revived, aux = _dead_after(aux_k=4)
    assert revived >= 4 and aux is not None and np.isfinite(aux)
    assert _dead_after(aux_k=0)[0] == 0  # without AuxK they stay dead


def test_batchtopk_thresholds_ignore_the_dense_block():
    """The dense block's small ReLU values must not set the cut-off: the sparse latents keep k per row."""
    sae, _ = T.train_sae(_mf(), None, _cfg(sae="batchtopk", dense_latents=2, steps=150, log_every=50),
                         log=lambda _: None)
    z = np.asarray(sae.encode_items()[0])
    assert (z[:, 2:] > 0).sum(1).mean() < 6.0  # k = 4 on average (users take part of the budget)


def test_dense_block_sits_outside_the_top_k():
    tt = _mf()
    cfg = _cfg(sae="topk", k=3, dense_latents=2, steps=30, log_every=10)
    sae, _ = T.train_sae(tt, None, cfg, log=lambda _: None)
    z = np.asarray(sae.encode_items()[0])
    assert np.all((z[:, 2:] > 0).sum(1) <= 3)  # k counts the sparse latents only
    assert (z[:, :2] > 0).mean() > 0  # the dense block fires beside them
    assert not T.supports_hand_gradient(cfg, True) and not T.supports_hand_gradient(cfg.replace(dense_latents=0, aux_k=2), True)
    with pytest.raises(ConfigError, match="latents - dense_latents"):
        SAETrainConfig(sae="batchtopk", latents=8, k=7, dense_latents=2)
    with pytest.raises(ConfigError, match="aux_k"):
        SAETrainConfig(sae="topk", latents=8, k=2, aux_k=9)


def test_batchtopk_with_auxk_trains_through_an_ncf_recommender():
    from jaxsae.recommenders.ncf import init_head, ncf_score

    rng = np.random.default_rng(0)
    tt = TwoTower.create(rng.normal(size=(N_USERS, D)), rng.normal(size=(N_ITEMS, D)), score_fn=ncf_score,
                         head=init_head(jax.random.PRNGKey(0), 2 * D, (8, 4)), kind="ncf")
    cfg = _cfg(sae="matryoshka_batchtopk", pred_loss="bce", aux_k=4, steps=20, log_every=10, prefixes=(8, 16, 32))
    state = T.init_state(jax.random.PRNGKey(0), cfg, D)
    step = jax.jit(T.train_step, static_argnames="config")
    batch = T.SAEBatch(user_x=tt.user_emb[:32], item_x=tt.item_emb[:32])
    new, m = step(state, batch, tt, config=cfg)
    assert np.isfinite(float(m["loss"])) and float(m["pred"]) > 0 and "aux" in m
    assert np.all(np.asarray(new.params["shared"]["threshold"]) == float(m["cutoff"]))  # first step: the cut-off
    assert not np.array_equal(np.asarray(new.params["shared"]["W"]), np.asarray(state.params["shared"]["W"]))


def test_the_sparse_grid_builds_wide_topk_and_batchtopk_settings():
    from jaxsae.selection import SweepConfig, load_grid

    cfg = SweepConfig.from_grid(load_grid("sparse"))
    kinds = {(c.sae, c.latents, c.k, c.dense_latents) for _, c in cfg.settings()}
    assert kinds == {(s, 256, k, n) for s in ("topk", "batchtopk") for k in (8, 16) for n in (0, 4)}
