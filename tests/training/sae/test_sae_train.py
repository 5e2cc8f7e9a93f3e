"""SAE training: frozen recommender, data parallelism, resume, divergence, held-out users, vmap over weights."""
import json

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsae.checkpoint import checkpoint_meta
from jaxsae.errors import ConfigError, TrainingDivergedError
from jaxsae.recommenders import TwoTower
from jaxsae.recommenders.ncf import init_head, ncf_score
from jaxsae.sae import SAETrainConfig
from jaxsae.training import sae as T
N_USERS, N_ITEMS, D = 60, 40, 6


def _mf(seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    return TwoTower.create(rng.normal(size=(N_USERS, D)) * scale, rng.normal(size=(N_ITEMS, D)) * scale,
                           user_bias=rng.normal(size=N_USERS), item_bias=rng.normal(size=N_ITEMS), kind="mf")


def _ncf(seed=0):
    rng = np.random.default_rng(seed)
    head = init_head(jax.random.PRNGKey(seed), 2 * D, (8, 4))
    return TwoTower.create(rng.normal(size=(N_USERS, D)), rng.normal(size=(N_ITEMS, D)), score_fn=ncf_score,
                           head=head, kind="ncf")


def _cfg(**kw):
    base = dict(latents=8, batch_size=8, steps=12, log_every=6, checkpoint_every=6, w_l1=0.05)
    base.update(kw)
    return SAETrainConfig(**base)


def _leaves(tree):
    """Host copies of every leaf (np.array copies: later changes to the tree cannot reach them)."""
    return [np.array(x, copy=True) for x in jax.tree_util.tree_leaves(tree)]


def _same(a, b):
    la, lb = _leaves(a), _leaves(b)
    return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb))


def test_gradients_reach_the_sae_through_the_recommender_which_never_changes():
    tt = _ncf()
    before = _leaves(tt)
    cfg = _cfg(w_emb=0.0, w_pred=1.0, w_kl=0.0, w_l1=0.0, pred_loss="bce")
    state = T.init_state(jax.random.PRNGKey(0), cfg, D)
    batch = T.SAEBatch(user_x=tt.user_emb[:8], item_x=tt.item_emb[:8])

    def objective(params, head):
        return T.sae_loss(params, batch, tt.replace(head=head), cfg, state.weights)[0]

    g_params, g_head = jax.jit(jax.grad(objective, argnums=(0, 1)))(state.params, tt.head)
    assert float(jnp.abs(g_params["shared"]["W"]).max()) > 0  # the only signal is the recommender's output
    assert all(float(jnp.abs(g).max()) == 0 for g in jax.tree_util.tree_leaves(g_head))

    sae, metrics = T.train_sae(tt, None, cfg, log=lambda _: None)
    after = _leaves(sae.input_two_tower)  # the recommender the trained SAE carries, copied to the host
    assert len(after) == len(before) and all(np.array_equal(a, b) for a, b in zip(before, after))
    assert all(np.array_equal(a, b) for a, b in zip(before, _leaves(tt)))  # bit-identical recommender
    init = _leaves(state.params)
    trained = _leaves(sae.params)
    assert len(init) == len(trained) and any(not np.array_equal(a, b) for a, b in zip(init, trained))
    assert np.isfinite(metrics["pred"]) and metrics["steps"] == 12


def _run_both(cfg, tt, steps=4):
    """The same global batches through the one-device jit and the 4-device pmap runner."""
    users, items = T.batch_indices(np.arange(N_USERS, dtype=np.int32), N_ITEMS, 0, 0, steps, cfg.batch_size)
    out = []
    for devices in (1, 4):
        c = cfg.replace(devices=devices)
        runner = T.EpochRunner(c, tt, D)
        assert runner.n == devices
        state = runner.put(T.init_state(jax.random.PRNGKey(0), c, D))
        state, m = runner(state, tt, users, items)
        out.append((runner.get(state), m))
    return out


@pytest.mark.parametrize("shared", [False, True])
def test_one_and_four_devices_agree(shared):
    """Same global batch: 4-device pmap (Gram pred loss, KL, L1) == 1 device, with separate user/item SAEs
    (autodiff) and with one shared SAE (the hand-derived gradient, psum-ed over the devices).
    (The paired-row loss uses the same rule, checked in tests/losses/test_losses.py.)"""
    tt = _mf()
    cfg = _cfg(w_kl=0.1, w_l1=0.05, shared=shared)
    assert T.supports_hand_gradient(cfg, True) == shared
    (s1, m1), (s4, m4) = _run_both(cfg, tt)
    for a, b in zip(_leaves(s1.params), _leaves(s4.params)):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-6)
    for k in ("loss", "emb", "pred", "kl", "l1", "l0", "fvu", "dead_fraction"):
        assert m1[k] == pytest.approx(m4[k], rel=1e-4, abs=1e-6), k
    assert not _same(s1.params, T.init_state(jax.random.PRNGKey(0), cfg, D).params)


def test_resume_after_a_kill_equals_an_uninterrupted_run(tmp_path):
    tt = _mf()
    cfg = _cfg(steps=18, log_every=3, checkpoint_every=6)
    full, full_metrics = T.train_sae(tt, None, cfg, out_dir=tmp_path / "a", log=lambda _: None)

    class Killed(Exception):
        pass

    def killer(line):
        if "step 9/18" in line:  # steps 7-9 done, last checkpoint at step 6
            raise Killed()

    with pytest.raises(Killed):
        T.train_sae(tt, None, cfg, out_dir=tmp_path / "b", log=killer)
    assert checkpoint_meta(tmp_path / "b")["step"] == 6
    assert not (tmp_path / "b" / "metrics.json").exists()
    lines = []
    resumed, resumed_metrics = T.train_sae(tt, None, cfg, out_dir=tmp_path / "b", resume=True, log=lines.append)
    assert "resuming from step 6" in lines[0]
    assert _same(full.params, resumed.params)
    hist_a = json.loads((tmp_path / "a" / "history.json").read_text())
    hist_b = json.loads((tmp_path / "b" / "history.json").read_text())
    assert [r["step"] for r in hist_b] == [3, 6, 9, 12, 15, 18]
    assert hist_a == hist_b
    assert full_metrics["loss"] == resumed_metrics["loss"]
    # a resumed run with another objective is refused
    with pytest.raises(Exception, match="another config"):
        T.train_sae(tt, None, cfg.replace(w_pred=2.0), out_dir=tmp_path / "b", resume=True, log=lambda _: None)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    cfg = _cfg(steps=6)
    T.train_sae(_mf(), None, cfg, out_dir=tmp_path, log=lambda _: None)
    poisoned = _mf(scale=1e30)  # Gram entries overflow to inf
    with pytest.raises(TrainingDivergedError, match=r"non-finite loss at step 7; last good checkpoint \(step 6\)"):
        T.train_sae(poisoned, None, cfg.replace(steps=12), out_dir=tmp_path, resume=True, log=lambda _: None)
    assert checkpoint_meta(tmp_path)["step"] == 6
    T.load_sae(tmp_path, two_tower=_mf())  # still loadable
    # the advised fix, a lower lr, resumes from that checkpoint (it used to be refused as a mismatch)
    lines = []
    T.train_sae(_mf(), None, cfg.replace(steps=12, lr=cfg.lr / 10), out_dir=tmp_path, resume=True, log=lines.append)
    assert "resuming from step 6" in lines[0] and checkpoint_meta(tmp_path)["config"]["lr"] == cfg.lr / 10


def test_heldout_users_are_never_trained_on():
    train, held = T.heldout_split(N_USERS, 0.2, seed=3)
    assert len(held) == 12 and len(train) == 48 and not set(train) & set(held)
    np.testing.assert_array_equal(T.heldout_split(N_USERS, 0.2, seed=3)[1], held)
    users, _ = T.batch_indices(train, N_ITEMS, 3, 0, 20, 8)
    assert set(users.ravel()) == set(train)  # 20 x 8 rows cover every training user, no held-out one
    cfg = _cfg(seed=3, steps=6)
    tt = _mf()
    garbage = tt.replace(user_emb=tt.user_emb.at[jnp.asarray(held)].set(1e3))
    a, _ = T.train_sae(tt, None, cfg, log=lambda _: None)
    b, _ = T.train_sae(garbage, None, cfg, log=lambda _: None)
    assert _same(a.params, b.params)
    np.testing.assert_array_equal(a.heldout_users, held)


def test_batches_do_not_depend_on_chunking():
    pool = np.arange(13, dtype=np.int32)
    u_all, i_all = T.batch_indices(pool, 7, 0, 0, 10, 4)
    u_mid, i_mid = T.batch_indices(pool, 7, 0, 3, 4, 4)
    np.testing.assert_array_equal(u_all[3:7], u_mid)
    np.testing.assert_array_equal(i_all[3:7], i_mid)
    # every epoch is a permutation of the pool
    np.testing.assert_array_equal(np.sort(u_all.ravel()[:13]), pool)


def test_vmap_over_loss_weights_trains_several_settings_in_one_program():
    tt = _mf()
    cfg = _cfg()
    score_fn, gram = T.pred_spec(tt, cfg)
    epoch = T.make_sae_epoch(cfg, D, score_fn, gram)
    users, items = T.batch_indices(np.arange(N_USERS, dtype=np.int32), N_ITEMS, 0, 0, 5, 8)
    states = [T.init_state(jax.random.PRNGKey(s), cfg.replace(w_pred=w), D) for s, w in ((0, 0.0), (1, 5.0))]
    stacked = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *states)
    out, metrics = jax.jit(jax.vmap(epoch, in_axes=(0, None, None, None)))(stacked, tt, users, items)
    for n, s in enumerate(states):
        single, m = jax.jit(epoch)(s, tt, users, items)
        for a, b in zip(_leaves(single.params), _leaves(jax.tree_util.tree_map(lambda x: x[n], out.params))):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
        assert float(metrics["loss"][n]) == pytest.approx(float(m["loss"]), rel=1e-5)


def test_train_sae_rejects_mismatched_data():
    class Fake:
        n_users, n_items = N_USERS + 1, N_ITEMS

    with pytest.raises(ConfigError, match="61 x 40"):
        T.train_sae(_mf(), Fake(), _cfg(), log=lambda _: None)


@pytest.mark.parametrize("all_levels", [False, True])
def test_matryoshka_objective_sums_embedding_and_prediction_losses_over_levels(all_levels):
    """Embedding loss summed over levels; prediction loss on the full level (paper) or all levels."""
    from jaxsae import losses

    tt = _mf()
    cfg = _cfg(sae="matryoshka", prefixes=(2, 4, 8), w_kl=0.5, w_l1=0.25)
    state = T.init_state(jax.random.PRNGKey(0), cfg, D)
    module = T.build_sae(cfg, D)
    u, i = tt.user_emb[:8], tt.item_emb[8:16]
    batch = T.SAEBatch(user_x=u, item_x=i)
    cfg = cfg.replace(pred_levels="all" if all_levels else "full")
    total, aux = jax.jit(lambda p: T.sae_loss(p, batch, tt, cfg, state.weights))(state.params)
    ou = module.apply({"params": state.params["shared"]}, u)
    oi = module.apply({"params": state.params["shared"]}, i)
    assert ou.x_hat_levels.shape == (3, 8, D)
    emb = sum(float(losses.mse(ou.x_hat_levels[l], u) + losses.mse(oi.x_hat_levels[l], i)) for l in range(3))
    levels = range(3) if all_levels else [2]
    pred = sum(float(losses.mf_pred_loss_direct(ou.x_hat_levels[l], oi.x_hat_levels[l], u, i)) for l in levels)
    kl = float(losses.kl_sparsity(ou.z, 0.05) + losses.kl_sparsity(oi.z, 0.05))
    l1 = float(jnp.mean(jnp.abs(ou.z)) + jnp.mean(jnp.abs(oi.z)))
    assert float(aux["emb"]) == pytest.approx(emb, rel=1e-5)
    assert float(aux["pred"]) == pytest.approx(pred, rel=1e-4)
    assert float(aux["kl"]) == pytest.approx(kl, rel=1e-5)
    assert float(total) == pytest.approx(0.1 * emb + 1.0 * pred + 0.5 * kl + 0.25 * l1, rel=1e-4)


@pytest.mark.parametrize("per_leaf", [False, True])
def test_load_sae_reads_checkpoints_of_earlier_layouts(tmp_path, per_leaf):
    """Checkpoints written before the state carried its random stream (and, older, before Adam ran on the
    flattened parameters) still load, parameters only."""
    import optax
    from flax import struct

    from jaxsae.checkpoint import save_checkpoint

    @struct.dataclass
    class EarlierState:  # the state's fields before `key`
        step: Any
        params: Any
        opt_state: Any
        weights: Any

    tt = _mf()
    cfg = _cfg()
    state = T.init_state(jax.random.PRNGKey(3), cfg, D)
    opt_state = optax.adam(cfg.lr).init(state.params) if per_leaf else state.opt_state
    old = EarlierState(step=state.step, params=state.params, opt_state=opt_state, weights=state.weights)
    save_checkpoint(tmp_path, 5, old, T.CHECKPOINT_KIND, cfg.to_dict())
    sae = T.load_sae(tmp_path, two_tower=tt)
    assert _same(sae.params, state.params)