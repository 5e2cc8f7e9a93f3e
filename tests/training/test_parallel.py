"""Data-parallel helpers: sharding a global batch over hosts and local devices."""
import numpy as np
import pytest

from jaxsae.errors import ConfigError
from jaxsae.training.parallel import host_slice, shard_steps


def test_host_slices_partition_the_global_batch() -> None:
    x = np.arange(3 * 8).reshape(3, 8)
    parts = [host_slice(x, p, 2) for p in range(2)]
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), x)
    assert parts[1].shape == (3, 4) and parts[1][0, 0] == 4


def test_host_slice_rejects_indivisible_batch() -> None:
    with pytest.raises(ConfigError, match="not divisible by 3 hosts"):
        host_slice(np.zeros((2, 8)), 0, 3)


def test_shard_steps_splits_rows_over_devices_in_order() -> None:
    x = np.arange(2 * 8).reshape(2, 8)
    y = shard_steps(x, 4)
    assert y.shape == (4, 2, 2)
    np.testing.assert_array_equal(y[1], x[:, 2:4])  # device 1 gets rows 2..3 of every step
