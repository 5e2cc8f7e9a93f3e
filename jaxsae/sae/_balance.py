"""Score-preserving side balancing of the SAE's inputs.

A dot-product recommender's logit `b + b_u + b_i + p_u . q_i` is unchanged when every user factor is
multiplied by `c` and every item factor divided by `c`. Outside models often put the scale on one side
(implicit's ALS: user norms ~12.6, item norms ~0.095), and a shared SAE then rebuilds the small side
far worse. Balancing picks the `c` that gives both sides the same mean row norm:

    c = sqrt(mean_i ||q_i|| / mean_u ||p_u||)      (training users of the SAE, all items)

so `mean ||c p_u|| = mean ||q_i / c||`. The rule is scale-free: rescaling either table by any factor
gives the same balanced tables. Sides whose mean norms are already within `MIN_RATIO` (1.5x) of each
other are left exactly as they are (`c = 1`): nearly balanced tables gain nothing from the rescale, and
jaxsae's own MF (ratio ~1) keeps bit-identical SAE inputs and results. `c` applies to the factor columns only; with `fold_biases` the
balanced factors are folded afterwards, `[c p_u, 1, b_u]` and `[q_i / c, b_i, 1]`, so the augmented
inner product is still exactly the logit minus `b` and the bias columns keep their own scale.

Only bilinear (MF, `cross_fn is dot_cross`) scorers are balanced; any other scorer gets `c = 1`
(an MLP on `[p_u, q_i]` is not invariant under the rescale). The chosen `c` is stored with the SAE
(checkpoint metadata `balance_factor`, `RUN/sae/metrics.json`); an SAE saved before balancing existed
has none and is read with `c = 1`. `TrainedSAE.input_two_tower` is the balanced space, so every
analysis, fidelity and intervention that reads it encodes and decodes consistently; raw recommender
rows enter that space with `to_sae_space` (users times c, items divided by c) and leave it with
`from_sae_space`.
"""
from __future__ import annotations

from typing import Any, Optional, Tuple

import jax.numpy as jnp
import numpy as np

from jaxsae.recommenders import TwoTower, dot_cross

__all__ = ["BALANCE_KEY", "balances", "side_factor", "balance_two_tower", "sae_input_space", "stored_factor",
           "to_sae_space", "from_sae_space"]

BALANCE_KEY = "balance_factor"  # checkpoint metadata / metrics.json key of the chosen c
MIN_RATIO = 1.5  # mean-norm ratio (larger / smaller side) from which the sides are rescaled


def balances(two_tower: TwoTower) -> bool:
    """True when the scorer is bilinear (MF), so the rescale leaves every logit unchanged."""
    return two_tower.cross_fn is dot_cross


def side_factor(user_emb: Any, item_emb: Any, users: Optional[np.ndarray] = None,
                min_ratio: float = MIN_RATIO) -> float:
    """`c = sqrt(mean item row norm / mean user row norm)` over `users` (all when None) and all items;
    1.0 when the mean norms are within `min_ratio` of each other, either side is all zeros, or the
    ratio is not finite."""
    u = np.asarray(user_emb, np.float64)
    if users is not None:
        u = u[np.asarray(users)]
    nu = float(np.mean(np.linalg.norm(u, axis=1))) if u.shape[0] else 0.0
    ni = float(np.mean(np.linalg.norm(np.asarray(item_emb, np.float64), axis=1)))
    if not (nu > 0 and ni > 0):
        return 1.0
    if max(ni / nu, nu / ni) < min_ratio:
        return 1.0
    c = float(np.sqrt(ni / nu))
    return c if np.isfinite(c) and c > 0 else 1.0


def balance_two_tower(two_tower: TwoTower, c: float) -> TwoTower:
    """`two_tower` with user factors times `c` and item factors divided by `c` (biases untouched)."""
    if c == 1.0:
        return two_tower
    return two_tower.replace(user_emb=two_tower.user_emb * jnp.float32(c),
                             item_emb=two_tower.item_emb / jnp.float32(c))


def sae_input_space(two_tower: TwoTower, balance: bool, fold: bool, train_users: Optional[np.ndarray] = None,
                    factor: Optional[float] = None) -> Tuple[TwoTower, float]:
    """`(input_two_tower, c)`: the space the SAE encodes, balanced (when `balance` and the scorer is MF)
    then bias-folded (when `fold`). `factor` reuses a stored `c` instead of choosing it from the data."""
    c = 1.0
    if factor is not None:
        c = float(factor)
    elif balance and balances(two_tower):
        c = side_factor(two_tower.user_emb, two_tower.item_emb, train_users)
    tt = balance_two_tower(two_tower, c)
    return (tt.fold_biases() if fold else tt), c


def stored_factor(meta: Optional[dict]) -> float:
    """The `c` saved with an SAE checkpoint; 1.0 for SAEs saved before balancing existed."""
    if not meta or meta.get(BALANCE_KEY) is None:
        return 1.0
    return float(meta[BALANCE_KEY])


def _factor_columns(x: jnp.ndarray, factor_dim: int, scale: float) -> jnp.ndarray:
    x = jnp.asarray(x, jnp.float32)
    if factor_dim >= x.shape[-1]:
        return x * jnp.float32(scale)
    return jnp.concatenate([x[..., :factor_dim] * jnp.float32(scale), x[..., factor_dim:]], axis=-1)


def to_sae_space(x: Any, side: str, c: float, factor_dim: Optional[int] = None) -> jnp.ndarray:
    """Raw recommender rows `x` of `side` in the SAE's (balanced) space: users times c, items over c.
    `factor_dim` limits the rescale to the first columns (the factors of bias-folded rows)."""
    scale = c if side == "user" else 1.0 / c
    return _factor_columns(x, x.shape[-1] if factor_dim is None else factor_dim, scale)


def from_sae_space(x: Any, side: str, c: float, factor_dim: Optional[int] = None) -> jnp.ndarray:
    """Inverse of `to_sae_space`: rows decoded by the SAE back in the recommender's own scale."""
    scale = 1.0 / c if side == "user" else c
    return _factor_columns(x, x.shape[-1] if factor_dim is None else factor_dim, scale)
