"""Ranking metrics against hand-computed values, ties, exclusion, chunking."""
import math

import jax.numpy as jnp
import numpy as np
import pytest

from data_prep.dataset import InteractionData
from jaxsae.errors import ConfigError
from jaxsae.metrics import evaluate_most_popular, evaluate_ranking, top_k


def make_data(n_users, n_items, train, test_users, test_pos, popularity=None):
    """A hand-built InteractionData: `train` is a list of item lists per user."""
    indptr = np.concatenate([[0], np.cumsum([len(t) for t in train])]).astype(np.int64)
    indices = np.asarray([i for t in train for i in sorted(t)], np.int32)
    pop = np.bincount(indices, minlength=n_items) if popularity is None else np.asarray(popularity)
    return InteractionData(
        dataset="hand", n_users=n_users, n_items=n_items,
        user_ids=np.asarray([str(u) for u in range(n_users)]), item_ids=np.asarray([str(i) for i in range(n_items)]),
        item_titles=np.asarray([f"item {i}" for i in range(n_items)]),
        train_indptr=indptr, train_indices=indices,
        test_users=np.asarray(test_users, np.int32), test_pos=np.asarray(test_pos, np.int32),
        test_neg=np.zeros((len(test_users), np.asarray(test_pos).shape[1]), np.int32),
        popularity=pop.astype(np.int64), concepts=np.zeros((n_items, 0), bool), concept_names=[],
        concept_families=[], year=np.full(n_items, -1, np.int64),
    )


# user 0: train {0}, hidden {2, 4}; user 1: train {5}, hidden {1} (+ padding); user 2 is not evaluated
SCORES = np.array([
    [9.0, 5.0, 3.0, 8.0, 7.0, 1.0],
    [2.0, 2.0, 2.0, 2.0, 2.0, 2.0],  # all tied: ties go to the lower item index
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
], np.float32)


@pytest.fixture
def data():
    return make_data(3, 6, [[0], [5], [1]], test_users=[0, 1], test_pos=[[2, 4], [1, -1]])


def scores_fn(users):
    return jnp.asarray(SCORES)[users]


def test_hand_computed_metrics_excluding_train(data):
    # user 0 candidates 1..5 sorted: 3(8) 4(7) 1(5) 2(3) 5(1) -> rank(2)=4, rank(4)=2
    # user 1 candidates 0..4 all tied -> rank(1)=2 (item 0 comes first)
    out = evaluate_ranking(scores_fn, data, ks=(1, 3))
    assert out["n_eval_users"] == 2
    l2 = math.log2
    ndcg0 = (1 / l2(3)) / (1 / l2(2) + 1 / l2(3))  # one hit at rank 2; ideal has min(2, 3) = 2 hits
    ndcg1 = (1 / l2(3)) / (1 / l2(2))  # one hidden item: ideal is one hit at rank 1
    expected = {
        "hit@1": 0.0, "ndcg@1": 0.0, "mrr@1": 0.0, "recall@1": 0.0,
        "hit@3": 1.0, "ndcg@3": (ndcg0 + ndcg1) / 2, "mrr@3": (1 / 2 + 1 / 2) / 2,
        "recall@3": (1 / 2 + 1 / 1) / 2,  # hits / min(n_hidden, K)
        "mpr": ((3 / 4 + 1 / 4) / 2 + 1 / 4) / 2,  # (rank - 1) / (n_candidates - 1)
    }
    for k, v in expected.items():
        assert out[k] == pytest.approx(v, abs=1e-6), k


def test_hand_computed_metrics_including_train(data):
    # user 0 now also ranks item 0 (score 9) -> rank(2)=5, rank(4)=3; user 1: rank(1)=2 of 6
    out = evaluate_ranking(scores_fn, data, ks=(3,), exclude_train=False)
    l2 = math.log2
    assert out["hit@3"] == 1.0
    assert out["mrr@3"] == pytest.approx((1 / 3 + 1 / 2) / 2)
    assert out["ndcg@3"] == pytest.approx(((1 / l2(4)) / (1 + 1 / l2(3)) + 1 / l2(3)) / 2, abs=1e-6)
    assert out["mpr"] == pytest.approx(((4 / 5 + 2 / 5) / 2 + 1 / 5) / 2, abs=1e-6)


def test_recall_when_more_hidden_than_k():
    # 3 hidden items all ranked on top: recall@2 = 2 / min(3, 2) = 1, ndcg@2 = 1
    d = make_data(1, 5, [[]], test_users=[0], test_pos=[[0, 1, 2]])
    out = evaluate_ranking(lambda u: jnp.asarray([[5.0, 4.0, 3.0, 2.0, 1.0]])[jnp.zeros_like(u)], d, ks=(2, 10))
    assert out["recall@2"] == 1.0 and out["ndcg@2"] == pytest.approx(1.0) and out["mrr@2"] == 1.0
    assert out["recall@10"] == 1.0 and out["ndcg@10"] == pytest.approx(1.0)
    assert out["mpr"] == pytest.approx((0 + 1 / 4 + 2 / 4) / 3)


def test_hidden_item_past_k_scores_zero():
    d = make_data(1, 30, [[]], test_users=[0], test_pos=[[29]])
    s = jnp.arange(30, 0, -1, dtype=jnp.float32)[None, :]  # item 29 is last: rank 30
    out = evaluate_ranking(lambda u: s, d, ks=(10, 20))
    assert all(out[f"{m}@{k}"] == 0.0 for m in ("hit", "ndcg", "mrr", "recall") for k in (10, 20))
    assert out["mpr"] == pytest.approx(1.0)


def test_constant_scores_do_not_rank_everything_first():
    d = make_data(1, 100, [[]], test_users=[0], test_pos=[[50]])
    out = evaluate_ranking(lambda u: jnp.zeros((u.shape[0], 100)), d, ks=(10,))
    assert out["hit@10"] == 0.0 and out["mpr"] == pytest.approx(50 / 99)


def test_nan_scores_rank_last():
    d = make_data(1, 4, [[]], test_users=[0], test_pos=[[1]])
    out = evaluate_ranking(lambda u: jnp.asarray([[1.0, jnp.nan, 3.0, 2.0]]), d, ks=(1,))
    assert out["mpr"] == pytest.approx(1.0)


def test_chunking_and_user_subset_agree(data):
    full = evaluate_ranking(scores_fn, data, ks=(1, 3), chunk_size=1024, per_user=True)
    chunked = evaluate_ranking(scores_fn, data, ks=(1, 3), chunk_size=1)
    for k in full:
        if k not in ("users", "per_user"):
            assert full[k] == pytest.approx(chunked[k]), k
    only1 = evaluate_ranking(scores_fn, data, users=[1, 2], ks=(3,))
    assert only1["n_eval_users"] == 1 and only1["recall@3"] == 1.0
    assert list(full["users"]) == [0, 1]
    np.testing.assert_allclose(full["per_user"]["mrr@3"], [0.5, 0.5])


def test_no_evaluable_users_is_an_error(data):
    with pytest.raises(ConfigError, match="no user to evaluate"):
        evaluate_ranking(scores_fn, data, users=[2])


def test_wrong_score_shape_is_an_error(data):
    with pytest.raises(ConfigError, match="scores_fn returned shape"):
        evaluate_ranking(lambda u: jnp.zeros((u.shape[0], 5)), data)


def test_top_k_ties_and_exclusion():
    s = jnp.asarray([[1.0, 3.0, 3.0, 2.0, 3.0]])
    vals, idx = top_k(s, 3)
    assert idx.tolist() == [[1, 2, 4]]
    vals, idx = top_k(s, 3, exclude_mask=jnp.asarray([[False, False, True, False, False]]))
    assert idx.tolist() == [[1, 4, 3]] and vals.tolist() == [[3.0, 3.0, 2.0]]


def test_top_k_agrees_with_rank_definition():
    rng = np.random.default_rng(0)
    s = rng.integers(0, 4, size=(1, 40)).astype(np.float32)  # many ties
    _, idx = top_k(jnp.asarray(s), 40)
    order = list(np.asarray(idx)[0])
    for item in (0, 7, 39):
        d = make_data(1, 40, [[]], test_users=[0], test_pos=[[item]])
        out = evaluate_ranking(lambda u: jnp.asarray(s), d, ks=(1,), per_user=True)
        rank = order.index(item) + 1
        assert out["mpr"] == pytest.approx((rank - 1) / 39)


def test_most_popular_baseline():
    # popularity 3 > 2 > 1 > 0 over items 0..3; user 0 trained on item 0 -> item 1 is first
    d = make_data(1, 4, [[0]], test_users=[0], test_pos=[[1]], popularity=[3, 2, 1, 0])
    out = evaluate_most_popular(d, ks=(1,))
    assert out["hit@1"] == 1.0 and out["mrr@1"] == 1.0
    out = evaluate_most_popular(d, ks=(1,), exclude_train=False)
    assert out["hit@1"] == 0.0
