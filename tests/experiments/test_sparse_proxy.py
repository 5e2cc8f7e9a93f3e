"""The sparse proxy of `experiments.rec_grid`: a median of 3 rows per user, at least 2, deterministic."""
import numpy as np

from data_prep import synthetic
from experiments.rec_grid import sparse_proxy


def test_sparse_proxy_keeps_two_plus_poisson_rows_per_user():
    raw = synthetic.generate(synthetic.preset("tiny"))
    sparse = sparse_proxy(raw, seed=3)
    _, counts = np.unique(np.asarray(sparse.user), return_counts=True)
    _, before = np.unique(np.asarray(raw.user), return_counts=True)
    assert np.median(counts) == 3 and counts.min() >= 2 and len(counts) == len(before)
    kept = set(zip(np.asarray(sparse.user).tolist(), np.asarray(sparse.item).tolist()))
    assert kept <= set(zip(np.asarray(raw.user).tolist(), np.asarray(raw.item).tolist()))  # a subset of the rows
    again = sparse_proxy(raw, seed=3)
    np.testing.assert_array_equal(np.asarray(again.item), np.asarray(sparse.item))
