"""Training negatives: weights as specified, never a positive, distribution, determinism."""
import jax
import numpy as np
import pytest

from data_prep.errors import JaxsaeError
from data_prep.negatives import item_sampling_weights, sample_negatives


def csr(rows):
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(r) for r in rows])
    return indptr, np.concatenate([np.asarray(r, dtype=np.int64) for r in rows])


def test_weights_hand_computed():
    c = np.array([1.0, 2.0, 3.0, 4.0])
    w = np.exp(c / 10.0)
    np.testing.assert_allclose(item_sampling_weights(c, "exp", alpha=1.0), w / w.sum())
    w = np.exp(3.0 * c / 10.0)
    np.testing.assert_allclose(item_sampling_weights(c, "exp", alpha=3.0), w / w.sum())
    np.testing.assert_allclose(item_sampling_weights(c, "power", beta=0.5), np.sqrt(c) / np.sqrt(c).sum())
    np.testing.assert_allclose(item_sampling_weights(c, "uniform"), np.full(4, 0.25))
    # alpha = 1 is nearly uniform (the paper's rule): max/min ratio exp(3/10)
    p = item_sampling_weights(c, "exp")
    assert p.max() / p.min() == pytest.approx(np.exp(0.3))


def test_weights_errors():
    with pytest.raises(JaxsaeError, match="unknown negative sampling scheme 'zipf'"):
        item_sampling_weights(np.ones(3), "zipf")
    with pytest.raises(JaxsaeError, match="degenerate"):
        item_sampling_weights(np.zeros(3), "power")


def test_never_a_positive():
    rng = np.random.default_rng(0)
    n_users, n_items = 300, 50
    rows = [np.sort(rng.choice(n_items, size=rng.integers(1, 45), replace=False)) for _ in range(n_users)]
    indptr, indices = csr(rows)
    users = np.repeat(np.arange(n_users), np.diff(indptr))
    for probs in (None, item_sampling_weights(np.bincount(indices, minlength=n_items), "power", beta=1.0)):
        neg = sample_negatives(1, users, indptr, indices, n_items, probs)
        assert neg.dtype == np.int32 and neg.shape == users.shape
        assert not any(int(n) in set(rows[u].tolist()) for u, n in zip(users.tolist(), neg))


def test_unsorted_positives_still_excluded():
    indptr, indices = csr([[5, 1, 3], [4, 0]])
    users = np.repeat([0, 1], 2000)
    neg = sample_negatives(0, users, indptr, indices, 6)
    assert set(neg[:2000].tolist()) == {0, 2, 4} and set(neg[2000:].tolist()) == {1, 2, 3, 5}


@pytest.mark.parametrize("scheme,kw", [("exp", {"alpha": 5.0}), ("power", {"beta": 1.0}), ("uniform", {})])
def test_distribution_chi_square(scheme, kw):
    # one user with positives {0, 2} among 6 items: negatives follow the weights restricted to {1, 3, 4, 5}
    pop = np.array([4.0, 1.0, 3.0, 2.0, 6.0, 4.0])
    probs = item_sampling_weights(pop, scheme, **kw)
    indptr, indices = csr([[0, 2]])
    n = 40000
    neg = sample_negatives(jax.random.PRNGKey(0), np.zeros(n, dtype=np.int64), indptr, indices, 6, probs)
    allowed = [1, 3, 4, 5]
    counts = np.bincount(neg, minlength=6)
    assert counts[0] == 0 and counts[2] == 0
    expected = probs[allowed] / probs[allowed].sum() * n
    stat = float(((counts[allowed] - expected) ** 2 / expected).sum())
    assert stat < 16.27  # 3 degrees of freedom, P(chi2 > 16.27) = 0.001
    if scheme != "uniform":  # and the uniform hypothesis is rejected
        flat = np.full(4, n / 4)
        assert float(((counts[allowed] - flat) ** 2 / flat).sum()) > 16.27


def test_deterministic_per_seed_and_jax_key():
    rng = np.random.default_rng(1)
    rows = [np.sort(rng.choice(100, size=20, replace=False)) for _ in range(50)]
    indptr, indices = csr(rows)
    users = np.repeat(np.arange(50), 20)
    a = sample_negatives(5, users, indptr, indices, 100)
    np.testing.assert_array_equal(a, sample_negatives(5, users, indptr, indices, 100))
    assert not np.array_equal(a, sample_negatives(6, users, indptr, indices, 100))
    for make in (jax.random.PRNGKey, jax.random.key):  # raw uint32 keys and typed keys
        k1 = sample_negatives(make(3), users, indptr, indices, 100)
        np.testing.assert_array_equal(k1, sample_negatives(make(3), users, indptr, indices, 100))
        assert not np.array_equal(k1, sample_negatives(make(4), users, indptr, indices, 100))
    # a split key gives a new epoch's negatives
    k = jax.random.PRNGKey(3)
    assert not np.array_equal(
        sample_negatives(k, users, indptr, indices, 100), sample_negatives(jax.random.split(k)[0], users, indptr, indices, 100)
    )


def test_dense_users():
    # user 0 saw every item but 7; user 1 saw all but {2, 9}
    indptr, indices = csr([[i for i in range(10) if i != 7], [i for i in range(10) if i not in (2, 9)]])
    users = np.array([0] * 50 + [1] * 50)
    neg = sample_negatives(0, users, indptr, indices, 10)
    assert (neg[:50] == 7).all() and set(neg[50:].tolist()) == {2, 9}
    # weights with no mass on the user's unseen items: uniform over the unseen items instead
    probs = np.zeros(10)
    probs[:2] = 0.5
    neg = sample_negatives(0, users, indptr, indices, 10, probs, max_rounds=2)
    assert (neg[:50] == 7).all() and set(neg[50:].tolist()) <= {2, 9}
    with pytest.raises(JaxsaeError, match="user 0 interacted with every item"):
        sample_negatives(0, np.array([0]), *csr([list(range(10))]), 10)


@pytest.mark.parametrize("sorted_items,filter_slots", [(True, None), (False, None), (True, 16)])
def test_sparse_lookup_path_never_returns_a_positive(monkeypatch, sorted_items, filter_slots):
    """Above DENSE_MASK_MAX_CELLS user x item cells positives are found through a hashed filter and binary
    search: force that path (with a 32-slot filter nearly every candidate is flagged and checked exactly)."""
    from data_prep import negatives

    if filter_slots:
        monkeypatch.setattr(negatives, "FILTER_MAX_SLOTS", filter_slots)

    rng = np.random.default_rng(2)
    n_users, n_items = 200, 40
    rows = [rng.choice(n_items, size=rng.integers(1, 36), replace=False) for _ in range(n_users)]
    rows = [np.sort(r) if sorted_items else r for r in rows]
    indptr, indices = csr(rows)
    users = np.repeat(np.arange(n_users), np.diff(indptr))
    dense = sample_negatives(3, users, indptr, indices, n_items)
    monkeypatch.setattr(negatives, "DENSE_MASK_MAX_CELLS", n_users * n_items - 1)  # one cell too many: sparse
    for probs in (None, item_sampling_weights(np.bincount(indices, minlength=n_items), "power", beta=1.0)):
        neg = sample_negatives(3, users, indptr, indices, n_items, probs)
        hits = sum(int(n) in set(rows[u].tolist()) for u, n in zip(users.tolist(), neg.tolist()))
        assert hits == 0 and neg.shape == users.shape and neg.min() >= 0 and neg.max() < n_items
    # the two look-ups answer the same question: the same key gives the same negatives
    np.testing.assert_array_equal(sample_negatives(3, users, indptr, indices, n_items), dense)


def test_prebuilt_lookup_gives_the_same_negatives():
    from data_prep.negatives import positive_keys, positive_lookup

    rng = np.random.default_rng(1)
    rows = [rng.choice(30, size=rng.integers(1, 20), replace=False) for _ in range(50)]
    indptr, indices = csr(rows)
    users = np.repeat(np.arange(50), 3)
    lookup = positive_lookup(positive_keys(indptr, indices, 30), 50, 30)
    np.testing.assert_array_equal(sample_negatives(7, users, indptr, indices, 30, lookup=lookup),
                                  sample_negatives(7, users, indptr, indices, 30))
