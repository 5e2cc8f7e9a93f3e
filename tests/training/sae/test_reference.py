"""The paper's reference code as named options (docs/REFERENCE.md), each against a
hand-computed or NumPy port of the notebooks' formula; training negatives never a positive."""
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from data_prep.dataset import InteractionData
from jaxsae.errors import ConfigError
from jaxsae.losses import kl_sparsity, minmax_columns
from jaxsae.recommenders import TwoTower, dot_score
from jaxsae.sae import SAETrainConfig
from jaxsae.sae import normalize_rows
from jaxsae.sae import TiedSAE
from jaxsae.training import sae as T
def np_normalize_matrix(m):
    """ML-1M utils `normalize_matrix`: column min-max over the batch, nan_to_num."""
    lo, hi = m.min(axis=0), m.max(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nan_to_num((m - lo) / (hi - lo))


def np_kl(z, rho, eps=1e-6):
    """utils `kl_divergence_loss`."""
    rho_hat = np.clip(z.mean(axis=0), eps, 1 - eps)
    return np.sum(rho * np.log((rho + eps) / (rho_hat + eps)) + (1 - rho) * np.log((1 - rho + eps) / (1 - rho_hat + eps)))


def np_rbo(l1, l2, p=0.9):
    """utils `rbo`: the truncated sum."""
    s = 0.0
    for d in range(1, max(len(l1), len(l2)) + 1):
        s += p ** (d - 1) * len(set(l1[:d]) & set(l2[:d])) / d
    return (1 - p) * s


def np_kendall(l1, l2):
    """utils `kendall_tau`: scipy's tau-b on the union, missing items ranked len + 1."""
    from scipy.stats import kendalltau

    r1 = {x: r for r, x in enumerate(l1, 1)}
    r2 = {x: r for r, x in enumerate(l2, 1)}
    union = sorted(set(l1) | set(l2))
    return kendalltau([r1.get(x, len(l1) + 1) for x in union], [r2.get(x, len(l2) + 1) for x in union])[0]


def tiny_data(n_users=6, n_items=40, seed=0, n_train=8, n_test=3):
    rng = np.random.default_rng(seed)
    rows, hidden = [], []
    for _ in range(n_users):
        pick = rng.choice(n_items, n_train + n_test, replace=False)
        rows.append(np.sort(pick[:n_train]))
        hidden.append(pick[n_train:])
    indptr = np.zeros(n_users + 1, np.int64)
    indptr[1:] = np.cumsum([len(r) for r in rows])
    return InteractionData(
        dataset="toy", n_users=n_users, n_items=n_items, user_ids=np.array([f"u{u}" for u in range(n_users)]),
        item_ids=np.array([f"i{i}" for i in range(n_items)]), item_titles=np.array([f"t{i}" for i in range(n_items)]),
        train_indptr=indptr, train_indices=np.concatenate(rows).astype(np.int32),
        test_users=np.arange(n_users, dtype=np.int32), test_pos=np.asarray(hidden, np.int32),
        test_neg=np.zeros((n_users, n_test), np.int32), popularity=np.ones(n_items, np.int64),
        concepts=np.zeros((n_items, 1), bool), concept_names=["c"], concept_families=["genre"],
        year=-np.ones(n_items, np.int64))


# ---------------------------------------------------------------- 1. min-max batch scaling
def test_minmax_columns_hand_example():
    x = jnp.array([[1.0, 5.0, 2.0], [3.0, 5.0, -2.0], [2.0, 5.0, 0.0]])
    expected = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.5, 0.0, 0.5]])  # constant column -> 0 (nan_to_num)
    np.testing.assert_allclose(minmax_columns(x), expected)
    np.testing.assert_allclose(minmax_columns(x), np_normalize_matrix(np.asarray(x)))


def test_batch_minmax_step_equals_step_on_scaled_inputs():
    """Training with input_scaling='batch_minmax' is training on the NumPy-min-maxed batch (autodiff path)."""
    rng = np.random.default_rng(0)
    u, i = rng.normal(size=(8, 5)).astype(np.float32), rng.normal(size=(8, 5)).astype(np.float32)
    ref = SAETrainConfig.ml1m_mf(latents=6, input_scaling="batch_minmax")
    plain = ref.replace(input_scaling="none")
    from jaxsae.training.sae import supports_hand_gradient

    assert not supports_hand_gradient(ref, True) and supports_hand_gradient(plain, True)
    state = T.init_state(jax.random.PRNGKey(0), ref, 5)
    step = jax.jit(T.train_step, static_argnames="config")
    mf = TwoTower.create(u, i)
    s1, m1 = step(state, T.SAEBatch(user_x=jnp.asarray(u), item_x=jnp.asarray(i)), mf, config=ref)
    s2, m2 = step(state, T.SAEBatch(user_x=jnp.asarray(np_normalize_matrix(u)),
                                    item_x=jnp.asarray(np_normalize_matrix(i))), mf, config=plain)
    assert float(m1["pred"]) == pytest.approx(float(m2["pred"]), rel=1e-6)
    for name in ("W", "b_pre", "b_lat"):
        np.testing.assert_allclose(s1.params["shared"][name], s2.params["shared"][name], rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------- 2. ddof=1 row normalization
def test_ddof1_normalization_is_torch_std():
    x = np.array([[1.0, 2.0, 4.0, 9.0], [0.5, -0.5, 0.0, 3.0]], np.float32)
    xn, stats = normalize_rows(jnp.asarray(x), 1e-5, ddof=1)
    mu = x.mean(axis=1, keepdims=True)
    sd = x.std(axis=1, ddof=1, keepdims=True)  # torch's x.std()
    np.testing.assert_allclose(xn, (x - mu) / (sd + 1e-5), rtol=1e-6)
    np.testing.assert_allclose(stats.scale, sd + 1e-5, rtol=1e-6)
    sd0 = x.std(axis=1, keepdims=True)
    np.testing.assert_allclose(normalize_rows(jnp.asarray(x))[0], (x - mu) / (sd0 + 1e-5), rtol=1e-6)
    module = T.build_sae(SAETrainConfig(std_ddof=1, latents=3), 4)
    assert module.ddof == 1


# ---------------------------------------------------------------- 3. KL with the epsilons
def test_kl_with_log_epsilons_matches_reference_and_hand_gradient():
    z = np.array([[0.0, 0.2, 1.5], [0.1, 0.0, 0.3], [0.0, 0.4, 0.0]], np.float32)
    assert float(kl_sparsity(jnp.asarray(z), 0.05, log_eps=1e-6)) == pytest.approx(np_kl(z, 0.05), rel=1e-5)
    assert float(kl_sparsity(jnp.asarray(z), 0.05)) != pytest.approx(np_kl(z, 0.05), rel=1e-7)
    # the hand-derived MF fast path supports it (and ddof=1): value and gradient equal autodiff
    from jaxsae.training.sae import tied_mf_value_and_grad

    cfg = SAETrainConfig.ml1m_mf(latents=7, kl_log_eps=1e-6, std_ddof=1, w_kl=0.5)
    d = 5
    state = T.init_state(jax.random.PRNGKey(2), cfg, d)
    rng = np.random.default_rng(1)
    u, i = (jnp.asarray(rng.normal(size=(6, d)), jnp.float32) for _ in range(2))
    batch = T.SAEBatch(user_x=u, item_x=i)
    (la, aa), ga = jax.jit(jax.value_and_grad(lambda p: T.sae_loss(p, batch, TwoTower.create(u, i), cfg, state.weights),
                                              has_aux=True))(state.params)
    (lh, ah), gh = jax.jit(lambda p: tied_mf_value_and_grad(p, u, i, state.weights, "relu", 0, True, ddof=1,
                                                            kl_log_eps=1e-6))(state.params)
    assert float(ah["kl"]) == pytest.approx(float(aa["kl"]), rel=1e-5)
    assert float(lh) == pytest.approx(float(la), rel=1e-5)
    for name in ("W", "b_pre", "b_lat"):
        np.testing.assert_allclose(gh["shared"][name], ga["shared"][name], rtol=1e-4,
                                   atol=1e-6 * np.abs(np.asarray(ga["shared"][name])).max())


# ---------------------------------------------------------------- NCF SAE without normalization / pre-bias
def test_ncf_reference_sae_has_no_pre_bias_and_a_torch_bias():
    cfg = SAETrainConfig.ml1m_ncf(normalize=False, pre_bias=False, latent_bias_init="torch_linear")
    d = 16
    module = T.build_sae(cfg, d)
    params = T.init_state(jax.random.PRNGKey(0), cfg, d).params["shared"]
    assert set(params) == {"W", "b_lat"}
    b = np.asarray(params["b_lat"])
    assert np.all(np.abs(b) <= 1 / np.sqrt(d)) and np.abs(b).max() > 0.1 / np.sqrt(d)
    x = np.random.default_rng(0).normal(size=(3, d)).astype(np.float32)
    out = module.apply({"params": params}, jnp.asarray(x))
    w = np.asarray(params["W"])
    z = np.maximum(x @ w + b, 0)  # SparseAutoencoderNCF: relu(Linear(x)), decoder F.linear(z, W^T) without bias
    np.testing.assert_allclose(out.z, z, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.x_hat, z @ w.T, rtol=1e-5, atol=1e-6)
    from jaxsae.training.sae import supports_hand_gradient

    assert not supports_hand_gradient(SAETrainConfig(pre_bias=False), True)


def test_mse_prob_loss_is_mse_of_sigmoids():
    from jaxsae.losses import paired_pred_loss

    score = lambda head, u, i: jnp.sum(u * i, axis=-1)  # noqa: E731
    u, i = jnp.array([[1.0, 2.0], [0.5, -1.0]]), jnp.array([[0.3, 0.1], [2.0, 1.0]])
    uh, ih = u * 0.8, i + 0.1
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    expected = np.mean((sig(np.sum(np.asarray(uh) * np.asarray(ih), -1)) - sig(np.sum(np.asarray(u) * np.asarray(i), -1))) ** 2)
    assert float(paired_pred_loss(score, {}, uh, ih, u, i, "mse_prob")) == pytest.approx(expected, rel=1e-5)


# ---------------------------------------------------------------- schedules
def test_drop_last_schedule_ml1m_counts_and_cycled_items():
    from jaxsae.training.sae import batch_plan

    cfg = SAETrainConfig.ml1m_mf(paper_schedule=True, schedule="drop_last")
    users = np.arange(4831, dtype=np.int32)  # ML-1M's 6,039 users less 20% held out
    plan = batch_plan(cfg, users, 3706)
    assert (plan.per_epoch, plan.total) == (18, 324)  # not 432 (18 x 24: every user, partial batches counted)
    u, it = plan.batches(0, 18)
    assert len(np.unique(u)) == 18 * 256  # one pass, no repeats, the 223 leftover users dropped
    np.testing.assert_array_equal(it[14:18], it[0:4])  # 14 full item batches, then cycled (itertools.cycle)
    assert len(np.unique(it[:14])) == 14 * 256
    u2, _ = plan.batches(18, 1)
    assert not np.array_equal(u2[0], u[0])  # a fresh shuffle per epoch
    w, wi = plan.batches(10, 12)  # windows across the epoch boundary agree with whole epochs
    np.testing.assert_array_equal(w[:8], u[10:18])
    assert cfg.replace(schedule="stream").total_steps(4831) == 18 * 19


def test_zip_schedule_and_positive_pairs():
    from jaxsae.training.sae import batch_plan

    cfg = SAETrainConfig.lastfm_matryoshka(paper_schedule=True, schedule="zip")
    plan = batch_plan(cfg, np.arange(18037, dtype=np.int32), 2277)  # Last.fm: 9 item batches, zip stops there
    assert (plan.per_epoch, plan.total) == (9, 270)
    data = tiny_data(n_users=10, n_items=30, n_train=6)
    train_users = np.array([0, 2, 3, 5, 7, 9], np.int32)
    pc = SAETrainConfig(pairs="positives", schedule="drop_last", batch_size=8, epochs=2)
    plan = batch_plan(pc, train_users, 30, data)
    assert (plan.per_epoch, plan.total) == (36 // 8, 8)
    u, i = plan.batches(0, plan.total)
    for uu, ii in zip(u.ravel(), i.ravel()):
        assert uu in train_users and ii in data.user_train_items(int(uu))
    with pytest.raises(ConfigError, match="zip"):
        SAETrainConfig(pairs="positives", schedule="zip")


# ---------------------------------------------------------------- 5. 29-item lists, all positives excluded
def test_paper_fidelity_29_items_all_positives_excluded():
    from jaxsae.metrics import all_positives_mask, masked_top_k_lists, paper_fidelity

    data = tiny_data(n_users=5, n_items=60, n_train=10, n_test=4)
    rng = np.random.default_rng(3)
    tt = TwoTower.create(rng.normal(size=(5, 4)), rng.normal(size=(60, 4)), item_bias=rng.normal(size=60))
    recon = tt.replace(user_emb=tt.user_emb + 0.3 * jnp.asarray(rng.normal(size=(5, 4)), jnp.float32))
    users = np.arange(5)
    out = paper_fidelity(tt, recon, data, users)
    rbos, taus = [], []
    for u in users:  # the reference: recommend_pq drops every positive of the full matrix, returns [0:29]
        pos = set(data.user_train_items(u).tolist()) | set(data.test_pos[u].tolist())
        def lst(model):
            s = np.asarray(model.logits_cross(jnp.asarray([u])))[0]
            order = [j for j in np.argsort(-s, kind="stable") if j not in pos]
            return order[:29]
        a, b = lst(tt), lst(recon)
        assert not (set(a) & pos) and len(a) == 29
        rbos.append(np_rbo(a, b))
        taus.append(np_kendall(a, b))
    assert out["rbo_paper"] == pytest.approx(np.mean(rbos), rel=1e-6)
    assert out["kendall_tau_paper"] == pytest.approx(np.mean(taus), rel=1e-6)
    mask = all_positives_mask(data, users)
    assert mask.sum() == 5 * 14
    lists = masked_top_k_lists(tt, users, 29, lambda u: all_positives_mask(data, u))
    assert not mask[np.arange(5)[:, None], lists].any()


# ---------------------------------------------------------------- 6. absolute intervention levels, double pass
def _steer_world():
    from jaxsae.interventions import Steerer

    rng = np.random.default_rng(0)
    d, h = 4, 6
    tt = TwoTower.create(rng.normal(size=(5, d)), rng.normal(size=(12, d)))
    module = TiedSAE(d=d, h=h, activation="relu", normalize=False, pre_bias=False)
    params = module.init(jax.random.PRNGKey(1), jnp.zeros((1, d)))["params"]
    params = {"W": params["W"], "b_lat": jnp.full(h, 0.2)}
    return tt, module, params, Steerer


def test_absolute_levels_set_the_latent_to_the_level():
    from jaxsae.interventions import latent_edit, level_scale

    tt, module, params, Steerer = _steer_world()
    lat = np.array([[0.0, 2.0], [1.0, 4.0]])
    assert level_scale(lat, 1, absolute=True) == 1.0 and level_scale(lat, 1) == 4.0
    st = Steerer(module, params, tt, mode="reconstruct")
    users = np.array([0, 3])
    w, b = np.asarray(params["W"]), np.asarray(params["b_lat"])
    for level in (-1.5, 0.0, 2.0):
        s = np.asarray(st.scores(users, user_edit=latent_edit(2, "set", level * level_scale(lat, 0, True), [True, True])))
        z = np.maximum(np.asarray(tt.user_emb)[users] @ w + b, 0)
        z[:, 2] = level  # the reference: user_act_new.iloc[neuron] = level; recons = decoder(latents)
        np.testing.assert_allclose(s, (z @ w.T) @ np.asarray(tt.item_emb).T, rtol=1e-5, atol=1e-5)


def test_ncf_double_pass_scores_reconstructions_and_re_encodes_the_edited_user():
    from jaxsae.interventions import latent_edit

    tt, module, params, Steerer = _steer_world()
    w, b = np.asarray(params["W"]), np.asarray(params["b_lat"])
    sae = lambda x: np.maximum(x @ w + b, 0) @ w.T  # noqa: E731  (SparseAutoencoderNCF forward)
    st = Steerer(module, params, tt, mode="double_pass")
    users = np.array([1, 2, 4])
    rows = np.array([True, False, True])
    s = np.asarray(st.scores(users, user_edit=latent_edit(3, "set", 1.5, rows)))
    x = np.asarray(tt.user_emb)[users]
    z = np.maximum(x @ w + b, 0)
    z[:, 3] = 1.5
    edited = sae(z @ w.T)  # flex_user: sae_model(decoder(user_act_new)): decoded, then through the SAE again
    u_rows = np.where(rows[:, None], edited, sae(x))
    np.testing.assert_allclose(s, u_rows @ sae(np.asarray(tt.item_emb)).T, rtol=1e-5, atol=1e-5)
    item_rows = np.zeros(12, bool)
    item_rows[5] = True
    s_item = np.asarray(st.scores(users, item_edit=latent_edit(0, "set", 2.0, item_rows)))
    zi = np.maximum(np.asarray(tt.item_emb) @ w + b, 0)
    zi[5, 0] = 2.0
    items = sae(np.asarray(tt.item_emb))
    items[5] = zi[5] @ w.T  # flex_item: the edited item's decoder output, single pass
    np.testing.assert_allclose(s_item, sae(x) @ items.T, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- negatives: never a positive, hidden included
def test_training_negatives_never_a_training_or_hidden_positive():
    from data_prep.negatives import all_positives_csr
    from jaxsae.training import rec as rec_epochs
    from jaxsae.training.rec import RecConfig

    data = tiny_data(n_users=30, n_items=20, seed=4, n_train=9, n_test=5)  # dense: 14 of 20 items positive
    indptr, indices = all_positives_csr(data)
    assert np.array_equal(np.diff(indptr), np.full(30, 14))
    cfg = RecConfig(model="mf", negatives=3, batch_size=64, epochs=1)
    for epoch in (1, 2):
        u, i, y, wts = rec_epochs.epoch_batches(data, cfg, rec_epochs.epoch_key(jax.random.PRNGKey(0), epoch), None)
        neg = (y == 0) & (wts > 0)
        assert neg.sum() == 3 * data.n_train
        for uu, ii in zip(u[neg], i[neg]):
            assert ii not in data.user_train_items(int(uu)) and ii not in data.test_pos[int(uu)]


# ---------------------------------------------------------------- the configs' reference variants
PAPER_CONFIGS = ("ml1m-mf", "ml1m-ncf", "lastfm-mf", "lastfm-ncf", "lastfm-matryoshka", "ml100k-mf", "ml100k-ncf",
                 "hetrec-mf", "hetrec-matryoshka")


@pytest.mark.parametrize("name", PAPER_CONFIGS)
def test_every_paper_config_has_a_reference_variant(name):
    import jaxsae.app.pipeline as pl
    from jaxsae.app.cli import build_parser
    from jaxsae.app.cli.train_sae import config_from_args

    cfg = pl.load_config(name, "reference")
    argv = ["train-sae", "RUN", *pl.options_to_argv(cfg.stages["train_sae"])]
    sae = config_from_args(build_parser().parse_args(argv))
    assert sae == pl.check_options(cfg)["train_sae"][0]  # the command line and the pipeline give one config
    assert sae.kl_log_eps == 1e-6 and sae.epochs is not None
    if "ncf" in name:
        assert (sae.normalize, sae.pre_bias, sae.latent_bias_init) == (False, False, "torch_linear")
    elif sae.sae == "matryoshka":
        assert (sae.schedule, sae.input_scaling, sae.std_ddof) == ("zip", "none", 1)
    else:
        assert (sae.input_scaling, sae.std_ddof, sae.schedule) == ("batch_minmax", 1, "drop_last")
    for o in cfg.stages["intervene"]:
        assert o["absolute_levels"] and o["audience_size"] == 20 and o["k"] == 30
