"""`jaxsae.app.steering`: the audience pool is explicit and checked; the calls themselves run in
the docs/BYO.md walk-through (tests/e2e/test_readme_byo.py)."""
import types

import numpy as np
import pytest

from jaxsae.app import steering
from jaxsae.errors import ConfigError


def _s():
    data = types.SimpleNamespace(n_users=5, test_users=np.array([1, 3]))
    return steering.Steering(data=data, sae=types.SimpleNamespace(heldout_users=np.array([4])), steerer=None)


def test_audience_pools():
    s = _s()
    assert steering.audience_users(s, "heldout").tolist() == [4]
    assert steering.audience_users(s, "test").tolist() == [1, 3]
    assert steering.audience_users(s, "all").tolist() == [0, 1, 2, 3, 4]
    assert steering.audience_users(s, [2, 0]).dtype == np.int32
    with pytest.raises(ConfigError, match="unknown audience 'everyone'"):
        steering.audience_users(s, "everyone")
    with pytest.raises(ConfigError, match=r"audience users must be in \[0, 5\)"):
        steering.audience_users(s, [7])
