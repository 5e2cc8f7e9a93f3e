"""A lower bound of an SAE run's memory, checked before anything is allocated.

`--latents 100000000` used to run until the OOM killer; `check_fits` refuses such a run with one line.
The estimate counts only the arrays that must exist (float32 parameters with their gradient and two Adam
moments, and one batch's latent activations with their gradients), so it never refuses a run that fits.
"""
from __future__ import annotations

import os
from typing import Optional

from jaxsae.errors import ConfigError
import jax

BYTES = 4  # float32


def estimate_bytes(d: int, latents: int, batch_size: int, tied: bool = True, shared: bool = True,
                   n_eval_rows: int = 0) -> int:
    """Bytes that a run of this shape needs at least (parameters x4, a batch's latents x2, evaluation latents)."""
    per_sae = d * latents * (1 if tied else 2) + latents + d
    params = per_sae * (1 if shared else 2)
    batch_latents = 2 * batch_size * latents  # users and items of one step
    return BYTES * (4 * params + 2 * batch_latents + n_eval_rows * latents)


def available_bytes() -> Optional[int]:
    """Memory the default JAX device can hold: the accelerator's limit, or the host's MemAvailable; None if unknown."""
    try:

        dev = jax.devices()[0]
        if dev.platform != "cpu":
            stats = dev.memory_stats() or {}
            if stats.get("bytes_limit"):
                return int(stats["bytes_limit"])
    except Exception:  # pragma: no cover - no device information: fall back to the host
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return None


def check_fits(d: int, latents: int, batch_size: int, tied: bool = True, shared: bool = True,
               n_eval_rows: int = 0, available: Optional[int] = None) -> None:
    """`ConfigError` when the run cannot fit in memory (one line with both sizes)."""
    need = estimate_bytes(d, latents, batch_size, tied, shared, n_eval_rows)
    have = available_bytes() if available is None else available
    if have is not None and need > have:
        raise ConfigError(f"an SAE with {latents:,} latents on {d}-dim inputs (batch {batch_size}) needs at least "
                          f"{need / 2**30:.1f} GiB but {have / 2**30:.1f} GiB is available; lower --latents or --batch-size")
