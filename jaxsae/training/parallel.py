"""Data parallelism over local devices with `jax.pmap`.

A global batch of B rows is split into `n_devices` shards of B / n_devices rows (leading axis), the
train step runs under `pmap(axis_name="devices")` and averages gradients with `lax.pmean`, so for the
same global batch the update equals the single-device one up to float summation order.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxsae.errors import ConfigError

AXIS = "devices"


def local_devices(n: Optional[int] = None) -> Sequence[jax.Device]:
    """The first `n` local devices (all when None); a clear error when fewer exist."""
    devices = jax.local_devices()
    if n is None or n == 0:
        return devices
    if n < 1 or n > len(devices):
        raise ConfigError(
            f"--devices {n}: this host has {len(devices)} {jax.default_backend()} device(s) "
            "(on CPU, set XLA_FLAGS=--xla_force_host_platform_device_count=N before starting)"
        )
    return devices[:n]


def check_divisible(batch_size: int, n_devices: int, what: str = "batch size") -> None:
    if batch_size % n_devices:
        raise ConfigError(f"{what} {batch_size} is not divisible by {n_devices} devices")


def shard(tree: Any, n_devices: int) -> Any:
    """Reshape every leaf `[B, ...] -> [n_devices, B / n_devices, ...]` (or `[S, B, ...] -> [S, n, B/n, ...]`
    is *not* done here: use `shard_steps` for scanned epochs)."""
    return jax.tree_util.tree_map(lambda x: x.reshape((n_devices, x.shape[0] // n_devices) + x.shape[1:]), tree)


def host_slice(tree: Any, process_index: Optional[int] = None, process_count: Optional[int] = None) -> Any:
    """This host's share of a global batch: columns `[p B / P, (p + 1) B / P)` of every `[steps, B, ...]` leaf.

    Multi-host training (`jax.distributed.initialize()`): every host builds the same global batch from the
    same seed, keeps its own slice and feeds it to its local devices; `pmap`'s collectives then span the
    devices of all hosts. With one process this is the identity.
    """
    p = jax.process_index() if process_index is None else process_index
    n = jax.process_count() if process_count is None else process_count
    if n == 1:
        return tree

    def f(x: Any) -> Any:
        b = x.shape[1]
        if b % n:
            raise ConfigError(f"global batch {b} is not divisible by {n} hosts")
        return x[:, p * (b // n):(p + 1) * (b // n)]

    return jax.tree_util.tree_map(f, tree)


def shard_steps(tree: Any, n_devices: int) -> Any:
    """For scanned epochs: this host's slice (`host_slice`) of `[steps, B, ...]`, split over its local
    devices: `[n_devices, steps, B / (hosts * n_devices), ...]`."""
    tree = host_slice(tree)

    def f(x: Any) -> Any:
        x = np.asarray(x) if not isinstance(x, jax.Array) else x
        s, b = x.shape[0], x.shape[1]
        y = x.reshape((s, n_devices, b // n_devices) + x.shape[2:])
        return jnp.moveaxis(y, 1, 0) if isinstance(y, jax.Array) else np.moveaxis(y, 1, 0)

    return jax.tree_util.tree_map(f, tree)


def pmap_devices(devices: Sequence[jax.Device]) -> list:
    """The devices a data-parallel `pmap` spans: `devices` on one host; with several processes
    (`jax.distributed.initialize`) every device of every process, in `jax.devices()` order (process 0's
    first), which is the order `host_slice` hands out the columns of the global batch. Each process then
    passes its own `[n_local, ...]` shards; collectives (`pmean`, `psum`, `all_gather`) span all hosts.
    Every process must use all its local devices."""
    if jax.process_count() == 1:
        return list(devices)
    if len(devices) != jax.local_device_count():
        raise ConfigError(f"several hosts: use all {jax.local_device_count()} local devices of this host "
                          f"(got {len(devices)})")
    return list(jax.devices())


def data_parallel(devices: Sequence[jax.Device]) -> bool:
    """True when a step must run under `pmap` (several local devices, or several hosts)."""
    return len(devices) > 1 or jax.process_count() > 1


def replicate(tree: Any, devices: Sequence[jax.Device]) -> Any:
    """Put one copy of `tree` on each device (leading axis = devices), laid out as a pmap output."""
    n = len(devices)
    stacked = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(jnp.asarray(x), (n,) + jnp.shape(x)), tree)
    if not jax.tree_util.tree_leaves(stacked):
        return stacked
    return jax.pmap(lambda t: t, axis_name=AXIS, devices=list(devices))(stacked)


def unreplicate(tree: Any) -> Any:
    """The copy on this host's first device (replicas are identical after a pmean-ed update; with
    several hosts a pmap output is not addressable as a whole, so the local shard is read)."""
    def first(x: Any) -> Any:
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return x.addressable_data(0).reshape(x.shape[1:])
        return x[0]

    return jax.tree_util.tree_map(first, tree)
