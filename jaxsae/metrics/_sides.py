"""Fidelity and FVU of an SAE per side (users, items), so one mixed number cannot hide a badly rebuilt
side (ALS items were rebuilt far worse than users before side balancing)."""
from __future__ import annotations

from typing import Any, Dict

import numpy as np

from jaxsae.metrics._fidelity import kendall_tau_union, rbo, top_k_lists
from jaxsae.sae import diagnostics


def side_fvu(x_users: Any, x_hat_users: Any, x_items: Any, x_hat_items: Any) -> Dict[str, float]:
    """`fvu_users`, `fvu_items`: each side's FVU about its own mean row; and `error_share_users/_items`,
    each side's share of the summed squared error."""
    out: Dict[str, float] = {}
    sse = {}
    for side, x, xh in (("users", x_users, x_hat_users), ("items", x_items, x_hat_items)):
        if np.shape(x)[0] == 0:
            continue
        s, t = diagnostics.fvu_sums(x, xh)
        sse[side] = float(s)
        out[f"fvu_{side}"] = float(s / t) if float(t) > 0 else None
    total = sum(sse.values())
    for side, s in sse.items():
        out[f"error_share_{side}"] = s / total if total > 0 else None
    return out


def side_fidelity(two_tower: Any, recon_two_tower: Any, data: Any, users: np.ndarray, k: int = 30
                  ) -> Dict[str, float]:
    """`rbo@K_users` / `kendall_tau@K_users`: top-K agreement when only the user embeddings are
    reconstructed (items original); `_items` the same with only the items reconstructed."""
    users = np.asarray(users, np.int32)
    a = top_k_lists(two_tower, users, k, data)
    out: Dict[str, float] = {}
    for side, tt in (("users", two_tower.replace(user_emb=recon_two_tower.user_emb)),
                     ("items", two_tower.replace(item_emb=recon_two_tower.item_emb))):
        b = top_k_lists(tt, users, k, data)
        out[f"rbo@{k}_{side}"] = float(np.mean(rbo(a, b)))
        out[f"kendall_tau@{k}_{side}"] = float(np.nanmean(kendall_tau_union(a, b)))
    return out
