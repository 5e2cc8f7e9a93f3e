"""Steering from Python in one call: filter, nudge or promote from a trained run.

    from jaxsae.app import steering
    s = steering.open_run("runs/ml100k-mf")                  # data + SAE + recommender of a run
    out = steering.filter(s, "Horror", audience="heldout")   # the concept falls for its biggest fans
    out = steering.nudge(s, "Documentary", audience="heldout")
    out = steering.promote(s, "Toy Story", audience="heldout")

`open_run(RUN)` reads `RUN/data` and `RUN/sae` (with its recommender, balanced and bias-folded as the SAE
was trained); `open_arrays(sae, data)` does the same from a `TrainedSAE` (e.g. `train_sae`'s result) and
an `InteractionData`. The audience is always explicit: `"heldout"` (the SAE's held-out users, never
trained on: the default of `jaxsae intervene`), `"test"` (users with hidden positives), `"all"`, or an
array of user indices. Each call picks the users within that pool the experiment needs (most exposed to
the concept for `filter`, least for `nudge`, not yet recommending the item for `promote`), the neurons
as `jaxsae intervene` does (the weighted user-side filter, the concept's purest neuron, the item's most
lifting neuron) unless given, and returns the same JSON-ready dict that command writes.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

import numpy as np

from jaxsae import interventions as iv
from jaxsae.errors import ConfigError
from data_prep.dataset import InteractionData
from jaxsae.app.runs import load_run_sae

Audience = Union[str, Sequence[int], np.ndarray]
AUDIENCES = ("heldout", "test", "all")

__all__ = ["Steering", "open_run", "open_arrays", "audience_users", "filter", "nudge", "promote"]


@dataclasses.dataclass(frozen=True)
class Steering:
    """What every steering call needs: the data, the trained SAE and its `Steerer`."""

    data: Any  # InteractionData
    sae: Any  # TrainedSAE
    steerer: iv.Steerer


def open_arrays(sae: Any, data: Any, mode: str = "residual") -> Steering:
    """A `Steering` from a `TrainedSAE` and the `InteractionData` it was trained on."""
    if sae.input_two_tower.n_items != data.n_items or sae.input_two_tower.n_users != data.n_users:
        raise ConfigError(f"the SAE's recommender has {sae.input_two_tower.n_users} users x "
                          f"{sae.input_two_tower.n_items} items but the data has {data.n_users} x {data.n_items}")
    return Steering(data=data, sae=sae, steerer=iv.Steerer.from_trained(sae, mode=mode))


def open_run(run_dir: "str | Path", mode: str = "residual") -> Steering:
    """A `Steering` of a run directory (`RUN/data`, `RUN/sae` and its recommender `RUN/rec`)."""

    run = Path(run_dir)
    return open_arrays(load_run_sae(run), InteractionData.load(run / "data"), mode)


def audience_users(s: Steering, audience: Audience) -> np.ndarray:
    """The user pool of `audience` ("heldout", "test", "all" or user indices), int32."""
    if isinstance(audience, str):
        if audience == "heldout":
            pool = np.asarray(s.sae.heldout_users)
        elif audience == "test":
            pool = np.asarray(s.data.test_users)
        elif audience == "all":
            pool = np.arange(s.data.n_users)
        else:
            raise ConfigError(f"unknown audience {audience!r}; use one of {', '.join(AUDIENCES)} or user indices")
    else:
        pool = np.asarray(audience).reshape(-1)
        if pool.size and (pool.min() < 0 or pool.max() >= s.data.n_users):
            raise ConfigError(f"audience users must be in [0, {s.data.n_users}), got {pool.min()}..{pool.max()}")
    if pool.size == 0:
        raise ConfigError(f"audience {audience if isinstance(audience, str) else 'given'}: no users")
    return pool.astype(np.int32)


def filter(s: Steering, concept: str, audience: Audience, neurons: Optional[Sequence[int]] = None,
           audience_size: int = 100, k: int = 20, levels: Sequence[float] = iv.FILTER_LEVELS, **options: Any
           ) -> Dict[str, Any]:
    """Lower `concept` for the `audience_size` users of `audience` who see the most of it.
    Default: the weighted user-side filter; `neurons` filters through those; `options` go to
    `interventions.filter_experiment` (`method`, `side`, `op`, `n_neurons`, `target`, `exclude_train`)."""
    out = iv.filter_experiment(s.steerer, s.data, concept, audience_users(s, audience), neurons,
                               audience_size=audience_size, k=k, levels=levels, **options)
    out["audience"] = audience if isinstance(audience, str) else "given"
    return out


def nudge(s: Steering, concept: str, audience: Audience, neuron: Optional[int] = None, audience_size: int = 100,
          k: int = 30, levels: Sequence[float] = iv.NUDGE_LEVELS, **options: Any) -> Dict[str, Any]:
    """Raise `concept` for the `audience_size` users of `audience` who see the least of it, through `neuron`
    (default: the concept's purest neuron, `interventions.concept_neuron`)."""
    if neuron is None:
        neuron = iv.concept_neuron(s.steerer.item_latents(), s.data.concepts, s.data.concept_index(concept))
    out = iv.nudge_experiment(s.steerer, s.data, concept, audience_users(s, audience), neuron,
                              audience_size=audience_size, k=k, levels=levels, **options)
    out["audience"] = audience if isinstance(audience, str) else "given"
    return out


def promote(s: Steering, item: str, audience: Audience, neuron: Optional[int] = None, audience_size: int = 100,
            k: int = 20, levels: Sequence[float] = iv.PROMOTE_LEVELS, **options: Any) -> Dict[str, Any]:
    """Raise one item (original id or title) for up to `audience_size` users of `audience` who do not
    have it in their top-K, through `neuron` (default: its most lifting active latent)."""
    out = iv.promote_experiment(s.steerer, s.data, item, audience_users(s, audience), neuron,
                                audience_size=audience_size, k=k, levels=levels, **options)
    out["audience"] = audience if isinstance(audience, str) else "given"
    return out
