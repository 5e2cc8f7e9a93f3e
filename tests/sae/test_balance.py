"""Score-preserving side balancing of the SAE inputs."""
import json

import jax
import numpy as np
import pytest

from jaxsae.checkpoint import META_FILE, checkpoint_meta
from jaxsae.recommenders import TwoTower
from jaxsae.recommenders.ncf import init_head, ncf_score
from jaxsae.sae import _balance as B
from jaxsae.sae import SAETrainConfig
from jaxsae.training import sae as T
N_USERS, N_ITEMS, D = 30, 20, 4


def _mf(user_scale=12.0, item_scale=0.1, biases=True, seed=0):
    rng = np.random.default_rng(seed)
    kw = dict(user_bias=rng.normal(size=N_USERS), item_bias=rng.normal(size=N_ITEMS), global_bias=0.3) if biases else {}
    return TwoTower.create(rng.normal(size=(N_USERS, D)) * user_scale, rng.normal(size=(N_ITEMS, D)) * item_scale,
                           kind="mf", **kw)


def _logits_np(user_emb, item_emb, bu=0.0, bi=0.0):
    u, i = np.asarray(user_emb, np.float64), np.asarray(item_emb, np.float64)
    return u @ i.T + np.asarray(bu, np.float64).reshape(-1, 1) + np.asarray(bi, np.float64).reshape(1, -1)


def test_factor_equalizes_mean_norms_and_is_scale_free():
    tt = _mf()
    users = np.arange(0, N_USERS, 2)
    c = B.side_factor(tt.user_emb, tt.item_emb, users)
    nu = np.linalg.norm(np.asarray(tt.user_emb, np.float64)[users], axis=1).mean()
    ni = np.linalg.norm(np.asarray(tt.item_emb, np.float64), axis=1).mean()
    assert c == pytest.approx(np.sqrt(ni / nu), rel=1e-12)
    bal = B.balance_two_tower(tt, c)
    assert np.linalg.norm(np.asarray(bal.user_emb)[users], axis=1).mean() == pytest.approx(
        np.linalg.norm(np.asarray(bal.item_emb), axis=1).mean(), rel=1e-5)
    # moving scale from one side to the other gives the same balanced tables
    other = tt.replace(user_emb=tt.user_emb * 7.0, item_emb=tt.item_emb / 7.0)
    bal2 = B.balance_two_tower(other, B.side_factor(other.user_emb, other.item_emb, users))
    np.testing.assert_allclose(np.asarray(bal2.user_emb), np.asarray(bal.user_emb), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(bal2.item_emb), np.asarray(bal.item_emb), rtol=1e-5)


@pytest.mark.parametrize("fold", [False, True])
def test_balanced_input_space_keeps_every_logit(fold):
    tt = _mf()
    input_tt, c = B.sae_input_space(tt, balance=True, fold=fold, train_users=np.arange(N_USERS))
    assert c < 0.5  # users were 120x larger than items
    # the recommender's score from the SAE's input tables, computed with NumPy
    got = _logits_np(input_tt.user_emb, input_tt.item_emb, input_tt.user_bias, input_tt.item_bias)
    want = _logits_np(tt.user_emb, tt.item_emb, tt.user_bias, tt.item_bias)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    users = np.arange(N_USERS)
    np.testing.assert_allclose(np.asarray(input_tt.logits_cross(users)), np.asarray(tt.logits_cross(users)),
                               rtol=1e-5, atol=1e-5)
    if fold:  # the bias columns keep their own scale: [c p_u, 1, b_u] and [q_i / c, b_i, 1]
        np.testing.assert_array_equal(np.asarray(input_tt.user_emb[:, D]), 1.0)
        np.testing.assert_allclose(np.asarray(input_tt.user_emb[:, D + 1]), np.asarray(tt.user_bias))
        np.testing.assert_allclose(np.asarray(input_tt.item_emb[:, D]), np.asarray(tt.item_bias))
        np.testing.assert_array_equal(np.asarray(input_tt.item_emb[:, D + 1]), 1.0)
    # raw rows enter and leave the SAE space with to_sae_space / from_sae_space
    fd = D if fold else None
    raw_u = np.asarray(tt.fold_biases().user_emb if fold else tt.user_emb)
    np.testing.assert_allclose(np.asarray(B.to_sae_space(raw_u, "user", c, fd)), np.asarray(input_tt.user_emb),
                               rtol=1e-6)
    np.testing.assert_allclose(np.asarray(B.from_sae_space(input_tt.user_emb, "user", c, fd)), raw_u, rtol=1e-5)
    # the item side goes the other way (items over c on entry, times c on exit); bias columns untouched
    raw_i = np.asarray(tt.fold_biases().item_emb if fold else tt.item_emb)
    np.testing.assert_allclose(np.asarray(B.to_sae_space(raw_i, "item", c, fd)), np.asarray(input_tt.item_emb),
                               rtol=1e-6)
    np.testing.assert_allclose(np.asarray(B.from_sae_space(input_tt.item_emb, "item", c, fd)), raw_i, rtol=1e-5)


def test_off_nearly_balanced_and_non_bilinear_scorers_are_not_rescaled():
    tt = _mf()
    assert B.sae_input_space(tt, balance=False, fold=False)[1] == 1.0
    near = _mf(user_scale=1.3, item_scale=1.0)  # mean norms within 1.5x: tables kept exactly
    input_tt, c = B.sae_input_space(near, balance=True, fold=False)
    assert c == 1.0 and input_tt is near
    assert B.side_factor(near.user_emb, near.item_emb, min_ratio=1.0) != 1.0
    rng = np.random.default_rng(0)
    ncf = TwoTower.create(rng.normal(size=(N_USERS, D)) * 10, rng.normal(size=(N_ITEMS, D)), score_fn=ncf_score,
                          head=init_head(jax.random.PRNGKey(0), 2 * D, (4,)), kind="ncf")
    input_tt, c = B.sae_input_space(ncf, balance=True, fold=False)
    assert c == 1.0 and input_tt is ncf


def _cfg(**kw):
    return SAETrainConfig(**{**dict(sae="topk", latents=8, k=2, batch_size=8, steps=6, log_every=3,
                                    checkpoint_every=3, normalize=False), **kw})


def test_trained_sae_records_and_reloads_the_factor(tmp_path):
    tt = _mf()
    cfg = _cfg(fold_biases=True)
    sae, metrics = T.train_sae(tt, None, cfg, out_dir=tmp_path, log=lambda _: None)
    train_users, _ = T.heldout_split(N_USERS, cfg.heldout_fraction, cfg.seed)
    c = B.side_factor(tt.user_emb, tt.item_emb, train_users)
    assert sae.balance_factor == pytest.approx(c) and metrics["balance_factor"] == pytest.approx(c)
    assert checkpoint_meta(tmp_path)["balance_factor"] == pytest.approx(c)
    loaded = T.load_sae(tmp_path, two_tower=tt)
    assert loaded.balance_factor == pytest.approx(c)
    np.testing.assert_array_equal(np.asarray(loaded.input_two_tower.item_emb), np.asarray(sae.input_two_tower.item_emb))
    # the SAE's input space scores like the recommender
    u = loaded.input_two_tower
    np.testing.assert_allclose(_logits_np(u.user_emb, u.item_emb, u.user_bias, u.item_bias),
                               _logits_np(tt.user_emb, tt.item_emb, tt.user_bias, tt.item_bias), rtol=1e-5, atol=1e-4)


def test_checkpoint_saved_before_balancing_loads_with_factor_one(tmp_path):
    tt = _mf()
    T.train_sae(tt, None, _cfg(balance_sides=False), out_dir=tmp_path, log=lambda _: None)
    meta = json.loads((tmp_path / META_FILE).read_text())
    meta.pop("balance_factor")
    meta["config"].pop("balance_sides")  # as written by an older jaxsae
    (tmp_path / META_FILE).write_text(json.dumps(meta))
    loaded = T.load_sae(tmp_path, two_tower=tt)
    assert loaded.balance_factor == 1.0
    np.testing.assert_array_equal(np.asarray(loaded.input_two_tower.user_emb), np.asarray(tt.user_emb))


def test_metrics_report_fvu_and_fidelity_per_side():
    from jaxsae.metrics import side_fvu

    x_u = np.array([[1.0, 0.0], [3.0, 0.0]])
    x_i = np.array([[0.0, 2.0], [0.0, 4.0]])
    # users: error 1 on one row, variance 2 -> 0.5; items exact
    out = side_fvu(x_u, x_u + np.array([[1.0, 0.0], [0.0, 0.0]]), x_i, x_i)
    assert out["fvu_users"] == pytest.approx(0.5) and out["fvu_items"] == 0.0
    assert out["error_share_users"] == 1.0 and out["error_share_items"] == 0.0


def test_cli_flag_and_pipeline_key_turn_balancing_off():
    from jaxsae.app.cli import build_parser
    from jaxsae.app.cli.train_sae import config_from_args
    from jaxsae.app.pipeline import options_to_argv

    parse = lambda *a: config_from_args(build_parser().parse_args(["train-sae", "RUN", "--sae", "topk", *a]))  # noqa: E731
    assert parse().balance_sides is True
    assert parse("--no-balance-sides").balance_sides is False
    assert parse("--balance-sides").balance_sides is True
    assert parse(*options_to_argv({"no_balance_sides": True})).balance_sides is False
    from jaxsae.app.stages.train_sae import build

    assert build({"sae": "topk", "no_balance_sides": True}).balance_sides is False  # the pipeline's key
    assert build({"sae": "topk", "balance_sides": False}).balance_sides is False
