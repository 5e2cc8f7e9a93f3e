"""How sparse the code is: active latents per item and per user, firing fraction per latent.

    item_density  = mean_i #{j : a_ij > 0} / h          (users: the same over user rows)
    firing_j      = #{i : a_ij > 0} / n_items           (per latent, over items)
    dead          = #{j : latent j fires on no item (and, given users, on no user)}
    dense         = #{j : firing_j > dense_fraction}    (0.5: fires on most of the catalogue)

A code whose items each activate a third of the dictionary is not sparse, whatever its purity; a latent
firing on most items is a bias channel, not a concept. The counts are plain integers over `> 0`.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

DENSE_FRACTION = 0.5


def density(item_acts: np.ndarray, user_acts: Optional[np.ndarray] = None,
            dense_fraction: float = DENSE_FRACTION) -> Dict[str, Any]:
    """The density summary of the module docstring (`user_*` entries are None without user rows)."""
    a = np.asarray(item_acts) > 0
    n_items, h = a.shape
    firing = a.sum(axis=0) / max(n_items, 1)
    out: Dict[str, Any] = {
        "latents": int(h),
        "item_density": float(a.sum(axis=1).mean() / h) if n_items else 0.0,
        "item_active_mean": float(a.sum(axis=1).mean()) if n_items else 0.0,
        "firing_fraction": [float(v) for v in firing],
        "dense_fraction": float(dense_fraction),
        "n_dense": int((firing > dense_fraction).sum()),
        "max_firing_fraction": float(firing.max()) if h else 0.0,
        "user_density": None, "user_active_mean": None, "user_firing_fraction": None,
    }
    alive = a.any(axis=0)
    if user_acts is not None:
        u = np.asarray(user_acts) > 0
        out["user_density"] = float(u.sum(axis=1).mean() / h) if u.shape[0] else 0.0
        out["user_active_mean"] = float(u.sum(axis=1).mean()) if u.shape[0] else 0.0
        out["user_firing_fraction"] = [float(v) for v in u.sum(axis=0) / max(u.shape[0], 1)]
        alive = alive | u.any(axis=0)
    out["n_dead"] = int((~alive).sum())
    return out
