"""RBO (extrapolated and truncated), Kendall tau-b on the union, top-K overlap: hand-computed values."""
import numpy as np
import pytest

from jaxsae.metrics import kendall_tau_union, overlap_at_depths, rbo, rbo_truncated, topk_overlap


def test_rbo_hand_computed():
    a, b = [1, 2, 3], [2, 1, 4]
    # overlaps at depth 1, 2, 3: 0, 2, 2 -> agreements 0, 1, 2/3
    np.testing.assert_array_equal(overlap_at_depths(a, b)[0], [0, 2, 2])
    trunc = 0.1 * (0 + 0.9 * 1 + 0.81 * 2 / 3)
    assert rbo_truncated(a, b) == pytest.approx(trunc)
    assert trunc == pytest.approx(0.144)
    assert rbo(a, b) == pytest.approx(trunc + (2 / 3) * 0.9 ** 3)
    assert rbo(a, b) == pytest.approx(0.630)


def test_rbo_limits():
    same = list(range(30))
    assert rbo(same, same) == pytest.approx(1.0)
    assert rbo_truncated(same, same) == pytest.approx(1 - 0.9 ** 30)  # the reference's ceiling
    assert rbo(same, list(range(30, 60))) == 0.0
    assert rbo([1, 2], [2, 1], p=0.5) == pytest.approx(0.5 * (0 + 0.5 * 1) + 1 * 0.25)


def test_kendall_tau_union_hand_computed():
    # union {1,2,3,4}; ranks in a: 1,2,3,4(missing=K+1); in b: 2,1,4(missing),3 -> C=4, D=2 -> 1/3
    assert kendall_tau_union([1, 2, 3], [2, 1, 4]) == pytest.approx(1 / 3)
    # disjoint lists: a ranks 1,2,3,3; b ranks 3,3,1,2: C-D=-4, one tie in each -> -4/sqrt(5*5)
    assert kendall_tau_union([1, 2], [3, 4]) == pytest.approx(-0.8)
    assert kendall_tau_union([5, 6, 7], [5, 6, 7]) == pytest.approx(1.0)
    assert kendall_tau_union([5, 6, 7], [7, 6, 5]) == pytest.approx(-1.0)


def test_batched_rows_and_overlap():
    a = np.array([[1, 2, 3], [1, 2, 3]])
    b = np.array([[2, 1, 4], [1, 2, 3]])
    np.testing.assert_allclose(rbo(a, b), [0.630, 1.0])
    np.testing.assert_allclose(kendall_tau_union(a, b), [1 / 3, 1.0])
    np.testing.assert_allclose(topk_overlap(a, b), [2 / 3, 1.0])
    with pytest.raises(ValueError, match="same shape"):
        rbo(a, b[:, :2])


def test_fidelity_report_of_identical_recommenders():
    from data_prep.preprocess import prepare
    from data_prep.synthetic import generate, preset
    from jaxsae.metrics import fidelity_report
    from jaxsae.recommenders import TwoTower

    data = prepare(generate(preset("tiny")))
    rng = np.random.default_rng(0)
    tt = TwoTower.create(rng.normal(size=(data.n_users, 4)), rng.normal(size=(data.n_items, 4)))
    users = np.asarray(data.test_users[:20])
    rep = fidelity_report(tt, tt, data, users, k=10)
    assert rep["rbo@10"] == pytest.approx(1.0)
    assert rep["kendall_tau@10"] == pytest.approx(1.0)
    assert rep["overlap@10"] == 1.0
    assert rep["hit@10"] == rep["original"]["hit@10"]
    noisy = tt.replace(item_emb=tt.item_emb + rng.normal(size=tt.item_emb.shape).astype(np.float32))
    rep2 = fidelity_report(tt, noisy, data, users, k=10)

    def lists(item_emb):  # NumPy top-10 without the training positives
        s = np.asarray(tt.user_emb, np.float64)[users] @ np.asarray(item_emb, np.float64).T
        for r, u in enumerate(users):
            s[r, data.train_indices[data.train_indptr[u]:data.train_indptr[u + 1]]] = -np.inf
        return np.argsort(-s, axis=1, kind="stable")[:, :10]

    a, b = lists(tt.item_emb), lists(noisy.item_emb)
    agree = np.array([[len(set(x[:d]) & set(y[:d])) / d for d in range(1, 11)] for x, y in zip(a, b)])
    trunc = agree @ (0.1 * 0.9 ** np.arange(10))
    assert rep2["rbo_trunc@10"] == pytest.approx(trunc.mean(), abs=1e-9)
    assert rep2["rbo@10"] == pytest.approx((trunc + agree[:, -1] * 0.9 ** 10).mean(), abs=1e-9)
    assert rep2["overlap@10"] == pytest.approx(agree[:, -1].mean(), abs=1e-9) and rep2["overlap@10"] < 0.9
    assert rep2["hit@10"] != rep["hit@10"] or rep2["ndcg@10"] != rep["ndcg@10"]  # metrics of the noisy side


def test_fidelity_report_ranks_a_seeded_sample_above_max_users():
    """Above `max_users` the report is the report of a seeded sample of that many users (bounded cost at
    ML-25M size), the same sample every time; at or below it every user is ranked."""
    from data_prep.preprocess import prepare
    from data_prep.synthetic import generate, preset
    from jaxsae.metrics import fidelity_report, sample_users
    from jaxsae.recommenders import TwoTower

    data = prepare(generate(preset("tiny")))
    rng = np.random.default_rng(0)
    tt = TwoTower.create(rng.normal(size=(data.n_users, 4)), rng.normal(size=(data.n_items, 4)))
    noisy = tt.replace(item_emb=tt.item_emb + rng.normal(size=tt.item_emb.shape).astype(np.float32))
    users = np.asarray(data.test_users[:40])
    sample = sample_users(users, 15)
    assert len(sample) == 15 and set(sample) <= set(users) and list(sample) == sorted(sample, key=list(users).index)
    assert np.array_equal(sample, sample_users(users, 15)) and np.array_equal(sample_users(users, 40), users)
    capped = fidelity_report(tt, noisy, data, users, k=10, max_users=15)
    direct = fidelity_report(tt, noisy, data, sample, k=10)
    assert capped["n_fidelity_users"] == 15 and capped["rbo@10"] == direct["rbo@10"]
    assert capped["kendall_tau_paper"] == direct["kendall_tau_paper"] and capped["hit@10"] == direct["hit@10"]
    assert fidelity_report(tt, noisy, data, users, k=10)["n_fidelity_users"] == 40
