"""The per-user hidden split: counts, disjointness, uniformity, determinism, the eligibility rule."""
import numpy as np
import pytest

from data_prep.errors import ConfigError, JaxsaeError
from data_prep.split import eligible_users, split_hidden


def csr(rows):
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(r) for r in rows])
    indices = np.concatenate([np.sort(np.asarray(r, dtype=np.int64)) for r in rows]) if rows else np.zeros(0, np.int64)
    return indptr, indices


def users_of(indptr, indices):
    return [set(indices[indptr[u] : indptr[u + 1]].tolist()) for u in range(len(indptr) - 1)]


ROWS = [list(range(10)), [1, 3, 5, 7, 9, 11], [0, 2, 4, 6, 8], [4, 5, 6], list(range(3, 18)), []]
N_ITEMS = 20


def test_counts_disjoint_and_rule():
    indptr, indices = csr(ROWS)
    tr_ptr, tr_idx, users, pos, neg = split_hidden(indptr, indices, N_ITEMS, 5, seed=0)
    # users with >= n_test + 1 = 6 positives and >= 5 unseen items are evaluated: 0, 1, 4 (15 positives, 5 unseen)
    assert users.tolist() == [0, 1, 4]
    assert pos.shape == (3, 5) and neg.shape == (3, 5)
    assert pos.dtype == np.int32 and neg.dtype == np.int32 and users.dtype == np.int32
    train = users_of(tr_ptr, tr_idx)
    for r, u in enumerate(users):
        hp, hn = set(pos[r].tolist()), set(neg[r].tolist())
        assert len(hp) == 5 and len(hn) == 5
        assert hp <= set(ROWS[u])
        assert not hp & train[u], "a hidden positive is still in training"
        assert train[u] | hp == set(ROWS[u])
        assert not hn & set(ROWS[u]), "a hidden negative is a positive"
    assert set(neg[2].tolist()) == {0, 1, 2, 18, 19}  # user 4 has exactly 5 unseen items
    for u in (2, 3, 5):  # too few positives: all stay in training, not evaluated
        assert train[u] == set(ROWS[u])
    # CSR is well formed: items sorted within users
    for u in range(len(ROWS)):
        seg = tr_idx[tr_ptr[u] : tr_ptr[u + 1]]
        assert (np.diff(seg) > 0).all()
    assert tr_ptr[-1] == len(tr_idx) == len(indices) - 15


def test_deterministic_per_seed():
    indptr, indices = csr(ROWS)
    a = split_hidden(indptr, indices, N_ITEMS, 3, seed=7)
    b = split_hidden(indptr, indices, N_ITEMS, 3, seed=7)
    c = split_hidden(indptr, indices, N_ITEMS, 3, seed=8)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not (np.array_equal(a[3], c[3]) and np.array_equal(a[4], c[4]))


def test_no_test_users_when_n_test_zero():
    indptr, indices = csr(ROWS)
    tr_ptr, tr_idx, users, pos, neg = split_hidden(indptr, indices, N_ITEMS, 0, seed=0)
    np.testing.assert_array_equal(tr_ptr, indptr)
    np.testing.assert_array_equal(tr_idx, indices)
    assert users.size == 0 and pos.shape == (0, 0)
    with pytest.raises(ConfigError, match="n_test"):
        split_hidden(indptr, indices, N_ITEMS, -1, seed=0)


def test_eligibility_rule():
    assert eligible_users(np.array([5, 6, 6, 15, 16]), 20, 5).tolist() == [False, True, True, True, False]


def chi2(counts, expected):
    return float(((counts - expected) ** 2 / expected).sum())


def test_hidden_samples_are_uniform():
    # 3000 identical users with positives {0..5} among 12 items; 2 hidden positives and 2 negatives each.
    n_users, n_test = 3000, 2
    indptr, indices = csr([list(range(6))] * n_users)
    _, _, users, pos, neg = split_hidden(indptr, indices, 12, n_test, seed=3)
    assert users.size == n_users
    for sample, support in ((pos, range(0, 6)), (neg, range(6, 12))):
        counts = np.bincount(sample.ravel(), minlength=12)[list(support)]
        assert counts.sum() == n_users * n_test
        # 5 degrees of freedom: P(chi2 > 20.5) = 0.001
        assert chi2(counts, n_users * n_test / 6) < 20.5
        assert (sample[:, 0] != sample[:, 1]).all()  # without replacement


def test_vectorized_at_scale():
    rng = np.random.default_rng(0)
    n_users, n_items = 3000, 500
    rows = [rng.choice(n_items, size=rng.integers(1, 60), replace=False) for _ in range(n_users)]
    indptr, indices = csr(rows)
    tr_ptr, tr_idx, users, pos, neg = split_hidden(indptr, indices, n_items, 5, seed=1)
    n_pos = np.diff(indptr)
    np.testing.assert_array_equal(users, np.flatnonzero(n_pos >= 6))
    keys = set((np.repeat(np.arange(n_users), n_pos) * n_items + indices).tolist())
    neg_keys = (users[:, None].astype(np.int64) * n_items + neg).ravel()
    assert not any(k in keys for k in neg_keys.tolist())
    assert len(tr_idx) + pos.size == len(indices)


def test_unsorted_input_and_duplicates():
    indptr, indices = csr([[9, 2, 7, 0, 4, 5, 1], [3, 8, 6]])
    shuffled = indices.copy()
    shuffled[:7] = [9, 2, 7, 0, 4, 5, 1]
    tr_ptr, tr_idx, users, pos, neg = split_hidden(indptr, shuffled, 12, 2, seed=0)
    train = users_of(tr_ptr, tr_idx)
    assert train[0] | set(pos[0].tolist()) == {9, 2, 7, 0, 4, 5, 1} and not train[0] & set(pos[0].tolist())
    assert not set(neg[0].tolist()) & {9, 2, 7, 0, 4, 5, 1}
    assert (np.diff(tr_idx[tr_ptr[0] : tr_ptr[1]]) > 0).all()
    with pytest.raises(JaxsaeError, match="duplicate"):
        split_hidden(np.array([0, 3]), np.array([1, 1, 2]), 5, 1, seed=0)
