"""The steering benchmark: its metrics, the label and popularity baselines, against NumPy and hand values."""
import dataclasses

import numpy as np
import pytest

from jaxsae.interventions import (Steerer, concept_benchmark, concept_fans, gini, label_scores, long_tail_coverage,
                                  long_tail_mask, ndcg_at_k, popularity_benchmark, redistribute,
                                  segment_recall)
from test_interventions import identity_sae, planted_world


def naive_ndcg(top, pos):
    out = []
    for t, p in zip(top, pos):
        p = [i for i in p if i >= 0]
        dcg = sum(1 / np.log2(r + 2) for r, i in enumerate(t) if i in p)
        idcg = sum(1 / np.log2(r + 2) for r in range(min(len(p), len(t))))
        out.append(dcg / idcg if idcg else 0.0)
    return np.array(out)


def naive_recall(top, pos, seg):
    out = []
    for t, p in zip(top, pos):
        s = [i for i in p if i >= 0 and seg[i]]
        out.append(sum(i in t for i in s) / len(s) if s else np.nan)
    return np.array(out)


def test_ranking_metrics_equal_naive_loops():
    rng = np.random.default_rng(0)
    top = np.stack([rng.permutation(30)[:8] for _ in range(20)])
    pos = rng.integers(0, 30, (20, 4))
    pos[rng.random((20, 4)) < 0.2] = -1
    seg = rng.random(30) < 0.4
    np.testing.assert_allclose(ndcg_at_k(top, pos), naive_ndcg(top, pos), atol=1e-12)
    np.testing.assert_allclose(segment_recall(top, pos, seg), naive_recall(top, pos, seg), atol=1e-12)
    # a perfect list scores 1
    assert ndcg_at_k(np.array([[3, 1, 7]]), np.array([[1, 3]]))[0] == pytest.approx(1.0)


def test_gini_and_long_tail_coverage_by_hand():
    assert gini([1, 1, 1, 1]) == pytest.approx(0.0)
    assert gini([0, 0, 0, 4]) == pytest.approx(0.75)  # one item takes every slot: 1 - 1/n
    assert gini([3, 1, 2]) == pytest.approx(2 * (1 * 1 + 2 * 2 + 3 * 3) / (3 * 6) - 4 / 3)  # = 2/9
    assert gini([0, 0]) == 0.0
    tail = np.array([False, True, False, False, True, True])
    assert long_tail_coverage(np.array([[0, 1], [1, 5]]), tail) == pytest.approx(2 / 3)
    # the head: the 20% most popular items (ties by index)
    np.testing.assert_array_equal(long_tail_mask(np.array([5, 9, 1, 9, 0, 2, 3, 4, 1, 0]), 0.2),
                                  [True, False, True, False, True, True, True, True, True, True])


def test_redistribution_keeps_the_l1_norm_and_moves_mass_onto_the_segment():
    z = np.array([[1.0, 3.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    out = redistribute(z, [2, 3], 0.5)
    np.testing.assert_allclose(out, [[0.5, 1.5, 1.0, 1.0], [0, 0, 0, 0]])  # |z|_1 = 4: 2 moves onto S, 1 each
    np.testing.assert_allclose(np.abs(redistribute(z, [0], 0.3)).sum(axis=1), [4.0, 0.0])
    np.testing.assert_allclose(redistribute(z, [1], 0.0), z)


def world():
    """The planted world of the intervention tests, with hidden positives: users 0-2 hold Horror items."""
    tt, data = planted_world()
    data = dataclasses.replace(data, test_pos=np.array([[0, 5], [1, 6], [2, 7], [8, 9], [9, 10], [11, 4]], np.int32),
                               test_neg=np.zeros((6, 2), np.int32),
                               popularity=np.array([9, 1, 4, 2, 8, 3, 7, 5, 6, 0, 2, 1], np.int64))
    module, params = identity_sae(4)
    return Steerer(module, params, tt), data, tt


def numpy_top(scores, exclude, k):
    s = np.where(exclude, -np.inf, scores)
    return np.argsort(-s, axis=1, kind="stable")[:, :k]


def test_label_baseline_equals_numpy(monkeypatch):
    steer, data, tt = world()
    cmask = np.asarray(data.concepts[:, 0])
    fans = concept_fans(data, np.arange(6), cmask)
    np.testing.assert_array_equal(fans, [0, 1, 2])  # half their held-out items are Horror, twice the base rate
    out = concept_benchmark(steer, data, "Horror", np.arange(6), k=4, lambdas=(0.0, 0.5, 2.0), levels=(0.0, 1.0))
    scores = (np.asarray(tt.user_emb)[fans] @ np.asarray(tt.item_emb).T).astype(np.float64)
    excl = np.zeros_like(scores, bool)
    excl[np.arange(3), 10] = True  # each user's training positive
    pos = data.test_pos[fans]
    for row, lam in zip(out["label"], (0.0, 0.5, 2.0)):
        boosted = scores + lam * scores.std(axis=1, keepdims=True) * cmask[None, :]
        np.testing.assert_allclose(label_scores(scores, cmask, lam), boosted, rtol=1e-12)
        top = numpy_top(boosted, excl, 4)
        assert row["strength"] == lam
        assert row["ndcg"] == pytest.approx(naive_ndcg(top, pos).mean(), abs=1e-6)
        assert row["segment_recall"] == pytest.approx(np.nanmean(naive_recall(top, pos, cmask)), abs=1e-6)
        assert row["concept_share"] == pytest.approx(cmask[top].mean(), abs=1e-6)
    # level 0 of the SAE edit is the unedited recommender: the same point as lambda 0
    assert out["sae"][0]["ndcg"] == pytest.approx(out["label"][0]["ndcg"], abs=1e-9)
    assert out["n_users"] == 3 and out["neuron"] == 0
    assert out["sae_redistribute"][0]["ndcg"] == pytest.approx(out["label"][0]["ndcg"], abs=1e-6)  # a = 0: unedited


def test_popularity_downweighting_equals_numpy():
    steer, data, tt = world()
    out = popularity_benchmark(steer, data, np.arange(6), k=3, lambdas=(0.0, 1.0), levels=(0.0, -1.0), head=0.25)
    scores = (np.asarray(tt.user_emb) @ np.asarray(tt.item_emb).T).astype(np.float64)
    excl = np.zeros_like(scores, bool)
    excl[np.arange(6), 10] = True
    logp = np.log1p(data.popularity.astype(float))
    z = (logp - logp.mean()) / logp.std()
    tail = np.ones(12, bool)
    tail[[0, 4, 6]] = False  # the 3 most popular of 12 items
    for row, lam in zip(out["downweight"], (0.0, 1.0)):
        top = numpy_top(scores - lam * scores.std(axis=1, keepdims=True) * z[None, :], excl, 3)
        counts = np.bincount(top.ravel(), minlength=12)
        assert row["gini"] == pytest.approx(gini(counts), abs=1e-12)
        assert row["long_tail_coverage"] == pytest.approx(len(set(top.ravel()) & set(np.flatnonzero(tail))) / 9)
        assert row["long_tail_share"] == pytest.approx(tail[top].mean())
        assert row["ndcg"] == pytest.approx(naive_ndcg(top, data.test_pos).mean(), abs=1e-6)
    assert out["n_tail_items"] == 9 and len(out["sae"]) == 2
