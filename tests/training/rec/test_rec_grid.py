"""The recommender's validation grid: the bias-only candidate, the choice on validation only, the record."""
from types import SimpleNamespace

import numpy as np
import pytest

from data_prep import synthetic
from data_prep.preprocess import PrepareOptions, prepare
from jaxsae.errors import ConfigError
from jaxsae.metrics import _ranking as ranking
from jaxsae.training.rec import (RecConfig, behind_leader, choose, grid_candidates, load_recommender,
                                load_recommender_state, paired_gain, pooled_params, slice_options, to_two_tower,
                                train_recommender, validation_split)


@pytest.fixture(scope="module")
def data():
    return prepare(synthetic.generate(synthetic.preset("tiny")), PrepareOptions())


def quiet(_msg):
    pass


def scripted(v, view, per_user=False, spread=0.0, **_):
    """A scripted validation evaluation: mean `v`; with `per_user`, per-user values `v +- spread` (alternating)."""
    out = {"ndcg@10": v, "hit@10": v, "n_eval_users": int(view.test_users.shape[0])}
    if per_user:
        n = int(view.test_users.shape[0])
        signs = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
        signs[-1] *= n % 2 == 0  # an odd count: the last user at the mean, so the mean stays `v`
        per = v + spread * signs
        out["per_user"] = {"ndcg@10": per, "hit@10": per}
    return out


def test_grid_is_on_only_when_the_caller_chose_neither_dim_nor_l2():
    assert RecConfig().grid and RecConfig(model="ncf").grid
    assert not RecConfig(dim=20).grid and not RecConfig(l2=0.01).grid and not RecConfig(patience=0).grid
    assert not RecConfig.preset("paper").grid
    names = [n for n, _ in grid_candidates(RecConfig())]
    assert names[0] == "d128-l2-0.01" and names[1] == "default" and "bias-only" in names
    cands = dict(grid_candidates(RecConfig()))
    assert cands["default"].dim == 64 and cands["default"].l2 == 0.03 and not cands["default"].grid
    assert cands["bias-only"].bias_only and cands["d32-l2-0.1"].init_std == pytest.approx(1 / 32)
    assert dict(grid_candidates(RecConfig(model="ncf")))["bias-only"].model == "mf"
    with pytest.raises(ConfigError, match="bias_only"):
        RecConfig(model="ncf", bias_only=True)


def test_bias_only_model_keeps_zero_embeddings_and_ranks_by_its_item_bias(data):
    tr = train_recommender(data, RecConfig(bias_only=True, dim=4, epochs=3, patience=0), log=quiet)
    assert np.all(np.asarray(tr.params["user_emb"]) == 0) and np.all(np.asarray(tr.params["item_emb"]) == 0)
    bias = np.asarray(tr.params["item_bias"])
    assert np.std(bias) > 0  # the biases learned
    # its item order is its learned item bias, close to popularity (most-popular with learned offsets)
    pop = np.asarray(data.popularity, float)
    assert np.corrcoef(np.argsort(np.argsort(bias)), np.argsort(np.argsort(pop)))[0, 1] > 0.8


def test_grid_chooses_on_the_validation_slice_never_the_hidden_split(data, tmp_path, monkeypatch):
    hidden = {(int(u), int(i)) for u, row in zip(data.test_users, data.test_pos) for i in row}
    seen = []
    # scripted validation scores per candidate (by its embedding width): d=32 is the best
    score = {64: 0.20, 32: 0.40, 128: 0.30, 1: 0.10}

    def check_view(view):
        assert view.test_pos is not data.test_pos
        pairs = {(int(u), int(i)) for u, row in zip(view.test_users, view.test_pos) for i in row}
        assert not pairs & hidden, "a grid candidate was scored on the hidden split"
        seen.append(len(pairs))

    def fake_two_tower(tt, view, **kw):
        check_view(view)
        v = score.get(int(tt.user_emb.shape[1]), 0.0)  # the pooled candidate's ranks: 64 (0.2), others 0
        return scripted(v, view, **kw)

    def fake_popular(view, **kw):
        check_view(view)
        return scripted(0.05, view, **kw)

    monkeypatch.setattr("jaxsae.training.rec._driver.evaluate_two_tower", fake_two_tower)  # the names the trainer calls
    monkeypatch.setattr("jaxsae.training.rec._driver.evaluate_most_popular", fake_popular)
    out = train_recommender(data, RecConfig(epochs=4, patience=1, batch_size=512, pooled=True), out_dir=tmp_path,
                            log=quiet)
    grid = out.validation["grid"]
    assert grid["chosen"] == "d32-l2-0.1" and out.config.dim == 32 and out.config.l2 == 0.1
    assert [c["name"] for c in grid["candidates"]] == ["d128-l2-0.01", "default", "d32-l2-0.1", "bias-only",
                                                       "pooled-svd", "most-popular"]
    assert [c["best"] for c in grid["candidates"]] == [0.3, 0.2, 0.4, 0.1, 0.2, 0.05]
    assert grid["most_popular"]["ndcg@10"] == 0.05 and seen and min(seen) > 0
    # the run's checkpoint is the chosen candidate's (warm) refit
    _, params, cfg, _ = load_recommender_state(tmp_path)
    assert cfg.dim == 32 and cfg.patience == 0 and cfg.epochs == out.validation["refit"]["epochs"] == 5
    assert np.asarray(params["user_emb"]).shape[1] == 32


def test_behind_leader_compares_best_so_far_scores_at_the_same_epoch():
    h = lambda *v: [{"epoch": e, "val_ndcg@10": x} for e, x in enumerate(v, 1)]  # noqa: E731
    leader = [0.1, 0.3, 0.4]
    assert not behind_leader(h(0.05, 0.2), leader, "ndcg@10")  # fewer than 3 epochs: not yet
    assert behind_leader(h(0.05, 0.2, 0.3), leader, "ndcg@10")  # gaps .05, .1, .1: behind, not closing
    assert not behind_leader(h(0.05, 0.35, 0.3), leader, "ndcg@10")  # ahead at epoch 2 (0.35 > 0.3)
    # past the leader's last epoch its best (0.4) is the bar; own best so far counts, not the last score
    assert behind_leader(h(0.5, 0.1, 0.1, 0.3, 0.39, 0.2), leader, "ndcg@10") is False
    assert behind_leader(h(0.05, 0.1, 0.1, 0.3, 0.3, 0.2), leader, "ndcg@10")  # gaps .1, .1, .1
    assert not behind_leader(h(0.05, 0.1, 0.1, 0.3, 0.41, 0.2), leader, "ndcg@10")
    assert not behind_leader(h(0.05, 0.2, 0.3), [], "ndcg@10")


def test_behind_leader_lets_a_slow_starter_that_closes_the_gap_run_on():
    """ml-latest-small's d=128/L2 0.01 (the grid's best there) against the default's first epochs: behind
    at every one of them, but closer each time; a candidate stuck at half the leader stops."""
    h = lambda *v: [{"epoch": e, "val_ndcg@10": x} for e, x in enumerate(v, 1)]  # noqa: E731
    leader = [0.058, 0.056, 0.060, 0.074, 0.068, 0.069, 0.083, 0.075, 0.088]
    slow = [0.034, 0.045, 0.053, 0.067, 0.069, 0.072, 0.080, 0.089]
    assert not any(behind_leader(h(*slow[:e]), leader, "ndcg@10") for e in range(1, len(slow) + 1))
    # past the leader's end a climbing candidate closes the gap too, and stops once it flattens below the best
    assert not behind_leader(h(0.05, 0.1, 0.1, 0.3, 0.39), [0.1, 0.3, 0.4], "ndcg@10")
    assert behind_leader(h(0.05, 0.1, 0.1, 0.3, 0.39, 0.39, 0.39), [0.1, 0.3, 0.4], "ndcg@10")
    stuck = [0.03, 0.03, 0.031]
    assert behind_leader(h(*stuck), leader, "ndcg@10")


def test_grid_stops_a_candidate_behind_the_best_so_far(data, monkeypatch):
    score = {64: 0.20, 32: 0.40, 128: 0.30, 1: 0.10}  # constant per candidate: d=32 leads once it has run

    def fake_two_tower(tt, view, **kw):
        return scripted(score[int(tt.user_emb.shape[1])], view, **kw)

    monkeypatch.setattr("jaxsae.training.rec._driver.evaluate_two_tower", fake_two_tower)
    out = train_recommender(data, RecConfig(epochs=6, patience=5, batch_size=512, refit=False), log=quiet)
    rows = {c["name"]: c for c in out.validation["grid"]["candidates"]}
    # d=128 runs first and leads (nothing before it), d=32 overtakes; the default and bias-only stop after 3 epochs
    assert rows["d128-l2-0.01"]["epochs_run"] == 6 and rows["d32-l2-0.1"]["epochs_run"] == 6
    assert rows["default"]["epochs_run"] == 3 and rows["default"]["behind_leader"]
    assert rows["bias-only"]["epochs_run"] == 3 and not rows["d128-l2-0.01"]["behind_leader"]
    assert out.validation["grid"]["chosen"] == "d32-l2-0.1"


def test_a_closed_form_leader_stops_the_trained_candidates_behind_it(data, monkeypatch):
    def fake_two_tower(tt, view, **kw):
        v = 0.5 if int(tt.user_emb.shape[1]) not in (64, 32, 128, 1) else 0.3  # pooled at rank 64 is 0.3 too
        return scripted(v, view, **kw)

    monkeypatch.setattr("jaxsae.training.rec._driver.evaluate_two_tower", fake_two_tower)
    monkeypatch.setattr("jaxsae.training.rec._pooled.FACTORS", ((0.0, 64), (0.5, 8)))
    off = train_recommender(data, RecConfig(epochs=1, patience=5, batch_size=512), log=quiet)
    assert "pooled-svd" not in [c["name"] for c in off.validation["grid"]["candidates"]]  # opt-in
    out = train_recommender(data, RecConfig(epochs=6, patience=5, batch_size=512, pooled=True), log=quiet)
    rows = {c["name"]: c for c in out.validation["grid"]["candidates"]}
    assert out.validation["grid"]["chosen"] == "pooled-svd" and rows["pooled-svd"]["best"] == 0.5
    assert rows["pooled-svd"]["rank"] == 8 and rows["pooled-svd"]["alpha"] == 0.5
    assert all(rows[n]["epochs_run"] == 3 and rows[n]["behind_leader"] for n in ("default", "d32-l2-0.1"))
    # the kept model is the pooled one rebuilt on all training positives (not the validation view's)
    expect = pooled_params(data, 0.5, 8, rows["pooled-svd"]["beta"])
    np.testing.assert_allclose(np.asarray(out.params["user_emb"]), expect["user_emb"], rtol=1e-5, atol=1e-6)
    assert out.config.dim == 8 and not out.config.bias_only


def test_the_floor_is_kept_unless_beaten_by_more_than_the_margin():
    rows = lambda a: [{"best": 0.1}, {"best": a}, {"best": 0.2}]  # noqa: E731  (the last: the floor)
    assert choose(rows(0.201), "ndcg@10", floor_margin=0.01) == 2
    assert choose(rows(0.203), "ndcg@10", floor_margin=0.01) == 1
    assert choose(rows(0.201), "ndcg@10") == 1


def test_paired_gain_equals_a_numpy_computation():
    cand, floor = np.array([0.5, 0.0, 1.0, 0.25, 0.0]), np.array([0.0, 0.0, 0.5, 0.5, 0.0])
    d = cand - floor
    got = paired_gain(cand, floor)
    se = np.sqrt(np.sum((d - d.mean()) ** 2) / 4 / 5)
    assert got["mean"] == pytest.approx(0.15) and got["se"] == pytest.approx(se) and got["n_users"] == 5
    assert got["z"] == pytest.approx(0.15 / se)
    assert paired_gain([0.3, 0.3], [0.1, 0.1])["z"] == float("inf")  # every user gains the same
    assert paired_gain([0.1, 0.1], [0.1, 0.1])["z"] == 0.0
    with pytest.raises(ValueError, match="equal-length"):
        paired_gain([0.1, 0.2], [0.1])


@pytest.mark.parametrize("spread, kept", [(0.0, "d32-l2-0.1"), (1.0, "most-popular")])
def test_a_validation_win_within_the_per_user_noise_keeps_most_popular(data, monkeypatch, spread, kept):
    """d=32 leads most-popular by 0.1 of validation ndcg@10 (far above the 1% margin): kept when every
    validation user gains the same, not when the per-user gains spread +-1 around it (z ~ 0.1 sqrt(n))."""
    score = {64: 0.20, 32: 0.40, 128: 0.30, 1: 0.10}
    monkeypatch.setattr("jaxsae.training.rec._driver.evaluate_two_tower",
                        lambda tt, view, **kw: scripted(score[int(tt.user_emb.shape[1])], view, spread=spread, **kw))
    monkeypatch.setattr("jaxsae.training.rec._driver.evaluate_most_popular", lambda view, **kw: scripted(0.3, view, **kw))
    out = train_recommender(data, RecConfig(epochs=2, patience=1, batch_size=512, refit=False), log=quiet)
    test = out.validation["grid"]["floor_test"]
    assert out.validation["grid"]["chosen"] == kept and test["candidate"] == "d32-l2-0.1"
    assert test["kept"] == (kept != "most-popular") and test["mean"] == pytest.approx(0.1)
    assert (test["z"] >= 1.645) == test["kept"]


def test_pooled_scores_equal_a_numpy_computation():
    """score(u, i) = p_u . V_i + beta log(1 + c_i) / log(1 + max c), p_u = x_u V / |x_u V|, V the top right
    singular vectors of X diag(c)^-alpha."""
    x = np.array([[1, 1, 0, 0, 1], [0, 1, 1, 0, 0], [1, 0, 0, 1, 1], [0, 0, 1, 1, 0], [1, 1, 1, 0, 0],
                  [0, 0, 0, 0, 0]], np.float64)
    indptr = np.concatenate([[0], np.cumsum(x.sum(1))]).astype(np.int64)
    data = SimpleNamespace(train_indptr=indptr, train_indices=np.nonzero(x)[1], n_users=6, n_items=5)
    alpha, rank, beta = 0.5, 2, 0.3
    params = pooled_params(data, alpha, rank, beta)
    c = x.sum(0)
    _, _, vt = np.linalg.svd(x / c ** alpha)
    v = vt[:rank].T
    v *= np.sign(v[np.argmax(np.abs(v), axis=0), np.arange(rank)])
    p = x @ v
    p = p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12)
    expected = p @ v.T + beta * np.log1p(c) / np.log1p(c.max())
    tt = to_two_tower(RecConfig(), params)
    got = np.asarray(tt.cross(tt.user_emb, tt.item_emb)) + np.asarray(tt.item_bias)[None, :]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert np.all(np.asarray(params["user_emb"])[5] == 0)  # no history: the popularity term alone


def test_most_popular_is_kept_when_no_trained_candidate_beats_it_on_validation(data, tmp_path, monkeypatch):
    def fake_two_tower(tt, view, **kw):
        return scripted(0.1, view, **kw)

    def fake_popular(view, **kw):
        return scripted(0.2, view, **kw)

    monkeypatch.setattr("jaxsae.training.rec._driver.evaluate_two_tower", fake_two_tower)  # the names the trainer calls
    monkeypatch.setattr("jaxsae.training.rec._driver.evaluate_most_popular", fake_popular)
    out = train_recommender(data, RecConfig(epochs=2, patience=1, batch_size=512), out_dir=tmp_path, log=quiet)
    assert out.validation["grid"]["chosen"] == "most-popular" and out.config.bias_only
    monkeypatch.undo()
    # what later stages load ranks exactly as most-popular
    tt = load_recommender(tmp_path)
    users = np.arange(data.n_users)
    mine = ranking.evaluate_two_tower(tt, data, ks=(10,))
    popular = ranking.evaluate_most_popular(data, ks=(10,))
    assert mine["hit@10"] == popular["hit@10"] and mine["ndcg@10"] == popular["ndcg@10"]
    assert np.all(np.asarray(tt.item_emb) == 0) and users.size == np.asarray(tt.user_emb).shape[0]


def test_sparse_data_validates_one_positive_of_every_user_with_two(data):
    dense = SimpleNamespace(train_indptr=np.arange(0, 61, 6))  # 10 users x 6 positives
    assert slice_options(dense, RecConfig()) == (2, 5)
    sparse = SimpleNamespace(train_indptr=np.array([0, 2, 4, 7, 9, 11, 13, 19, 21, 24, 26]))
    assert slice_options(sparse, RecConfig()) == (1, 2)  # 1 user of 10 has 5+ positives, all 10 have 2+
    assert slice_options(sparse, RecConfig(val_per_user=2, val_min_train=3)) == (2, 3)  # the caller's rule stays
    _, val = validation_split(data, RecConfig())
    assert val.info["validation"]["per_user"] == 2  # the tiny synthetic data is dense enough for the default


def test_ncf_validates_fewer_users_and_its_grid_shares_one_slice(data):
    """NCF scores every (user, item) pair through its MLP, so its validation is capped lower (2,000 users
    against MF's 5,000); the grid's bias-only MF candidate must be scored on the NCF's slice, not its own."""
    assert RecConfig(model="ncf").val_max_users == 2000 and RecConfig().val_max_users == 5000
    assert RecConfig(model="ncf", val_max_users=300).val_max_users == 300
    cands = grid_candidates(RecConfig(model="ncf", val_max_users=7))
    slices = [validation_split(data, cand)[1] for _, cand in cands]
    assert [cand.model for _, cand in cands] == ["ncf", "mf"]
    assert all(np.array_equal(v.test_users, slices[0].test_users) for v in slices)
    assert slices[0].test_users.shape == (7,)
