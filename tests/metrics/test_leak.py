"""`jaxsae.metrics._leak.hidden_fit` on a hand-computed example: each positive is ranked against the user's
*other* items only (neither training nor hidden positives)."""
import types

import numpy as np
import pytest

from jaxsae.metrics import LEAK_RATIO, hidden_fit
from jaxsae.recommenders import TwoTower


def _one_user(train, hidden):
    return types.SimpleNamespace(test_users=np.array([0]), train_indptr=np.array([0, len(train)]),
                                 train_indices=np.asarray(train), test_pos=np.asarray([hidden]))


def test_ranks_against_the_other_items_only():
    # scores 5 4 3 2 1 0 for items 0..5; training positive item 1 (4), hidden positive item 3 (2)
    tt = TwoTower.create(np.ones((1, 1)), np.arange(5.0, -1.0, -1.0)[:, None])
    fit = hidden_fit(tt, _one_user([1], [3, -1]))  # -1 pads the hidden list
    # other items {0, 2, 4, 5} score 5 3 1 0: one of four above the training positive, two above the hidden one
    assert fit["train_rank"] == pytest.approx(0.25) and fit["hidden_rank"] == pytest.approx(0.5)
    assert fit["ratio"] == pytest.approx(2.0) and not fit["suspicious"] and fit["n_users"] == 1
    # the hidden positive scored like the training one (4.0 -> rank 1/4): a model that saw it
    leaky = TwoTower.create(np.ones((1, 1)), np.array([[5.0], [4.0], [3.0], [4.0], [1.0], [0.0]]))
    fit = hidden_fit(leaky, _one_user([1], [3]))
    assert fit["ratio"] == pytest.approx(1.0) and 1.0 < LEAK_RATIO and fit["suspicious"]
