"""`experiments.sparse_knn`: the item-kNN candidate's scores equal a hand computation."""
from types import SimpleNamespace

import numpy as np

from experiments.sparse_knn import knn_parts, knn_scores


def test_knn_scores_equal_a_hand_computation():
    # users: {0, 1}, {1, 2}, {0, 1, 3}; item counts c = (2, 3, 1, 1)
    data = SimpleNamespace(n_users=3, n_items=4, train_indptr=np.array([0, 2, 4, 7]),
                           train_indices=np.array([0, 1, 1, 2, 0, 1, 3]))
    fn = knn_scores(knn_parts(data), lam=1.0, betas=[0.5])[0]
    got = np.asarray(fn(np.array([0, 1], np.int32)))
    c = np.array([2.0, 3.0, 1.0, 1.0])
    co = np.array([[2, 2, 0, 1], [2, 3, 1, 1], [0, 1, 1, 0], [1, 1, 0, 1]], float)
    s = co / (np.sqrt(np.outer(c, c)) + 1.0)
    np.fill_diagonal(s, 0.0)
    prior = 0.5 * np.log1p(c) / np.log1p(3.0)
    x = np.array([[1, 1, 0, 0], [0, 1, 1, 0]], float)
    np.testing.assert_allclose(got, x @ s + prior, rtol=1e-5)
    # user 0's unseen item 3 co-occurs with both of its items: s(0, 3) = 1/(sqrt 2 + 1) + 1/(sqrt 3 + 1)
    assert np.isclose(got[0, 3] - prior[3], 1 / (np.sqrt(2) + 1) + 1 / (np.sqrt(3) + 1), rtol=1e-5)
