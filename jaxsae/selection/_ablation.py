"""The prediction-aware ablation: retrain the SAE for several `w_pred` (and seeds) and compare.

All runs train together in one compiled program (`jaxsae.training.sae._grid`): the loss weights are arrays
inside the SAE state (`jaxsae.training.sae._driver`), so the states of every (w_pred, seed) pair are stacked and
the scanned epoch is `jax.vmap`-ed over them. Every run sees the same batches (the base config's seed orders them) and
the same held-out users; a seed changes only the initialization. Each run is then measured like a
trained SAE: fidelity of the reconstructed recommender on the held-out users (RBO@K, Kendall tau@K,
the held-out users), the monosemanticity score, concept purity, FVU and L0.

`best_purity@10` is the mean, over the genre/tag concepts, of the best neuron's purity@10, and
`n_concepts_pure@10` the number of those concepts with a neuron at purity@10 >= 0.9.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, ClassVar, Dict, List, Mapping, Optional, Sequence, Tuple

import jax.numpy as jnp
import numpy as np

from jaxsae.analysis import best_neurons, purity_at_k
from jaxsae.analysis import content_concepts
from jaxsae.analysis import monosemanticity_per_neuron
from jaxsae.errors import ConfigError
from jaxsae.sae import PRESETS
from jaxsae.training.sae import train_grid
from jaxsae.training.sae import training_setup
from jaxsae.metrics import fidelity_report
from jaxsae.sae import diagnostics
from jaxsae.sae import TrainedSAE
from jaxsae.training.sae import build_sae

PAPER_PRED_WEIGHTS: Tuple[float, ...] = (0.0, 1.0, 2.0, 5.0, 10.0)
METRICS = ("rbo@30", "kendall_tau@30", "rbo_paper", "kendall_tau_paper", "ms", "best_purity@10", "n_concepts_pure@10", "fvu", "l0")
PURE = 0.9


def _presets() -> Sequence[str]:

    return tuple(PRESETS)


@dataclasses.dataclass(frozen=True)
class AblationConfig:
    """Options of `jaxsae ablate`."""

    OPTION_CHOICES: ClassVar[Mapping[str, Sequence[str]]] = {"sae_preset": tuple(_presets())}

    pred_weights: Tuple[float, ...] = PAPER_PRED_WEIGHTS  # w_pred values to train (paper: 0, 1, 2, 5, 10)
    seeds: Tuple[int, ...] = (0,)  # initialization seeds per weight; rows report the mean over seeds
    steps: Optional[int] = None  # optimizer steps per run (None: the SAE config's budget)
    k: int = 30  # top-K of the fidelity lists
    sae_preset: Optional[str] = None  # ablate this paper SAE setting (jaxsae.sae._config.PRESETS) instead of RUN/sae's

    def __post_init__(self) -> None:
        object.__setattr__(self, "pred_weights", tuple(float(w) for w in self.pred_weights))
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        if not self.pred_weights:
            raise ConfigError("--pred-weights is empty")
        if any(not np.isfinite(w) or w < 0 for w in self.pred_weights):
            raise ConfigError(f"--pred-weights must be finite and >= 0, got {list(self.pred_weights)}")
        if len(set(self.pred_weights)) != len(self.pred_weights):
            raise ConfigError(f"--pred-weights has duplicates: {list(self.pred_weights)}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"--seeds must be distinct integers, got {list(self.seeds)}")
        if self.steps is not None and self.steps < 1:
            raise ConfigError(f"--steps must be >= 1, got {self.steps}")
        if self.k < 1:
            raise ConfigError(f"k must be >= 1, got {self.k}")
        if self.sae_preset is not None:

            if self.sae_preset not in PRESETS:
                raise ConfigError(f"--sae-preset {self.sae_preset!r}: known presets are {', '.join(PRESETS)}")


def train_sweep(two_tower: Any, base: Any, configs: Sequence[Any], seeds: Sequence[int],
                log: Callable[[str], None] = print, data: Any = None) -> Tuple[List[Any], Dict[str, Any]]:
    """Train one SAE per `(configs[r], seeds[r])` with `jaxsae.training.sae._grid` (one vmapped program when
    configs differ only in loss weights), all on the base config's training users and batch order.
    Returns the per-run parameters and `{"heldout", "input_two_tower", "d", "train_s", "steps"}`.
    The base config's batch plan (`schedule`, `pairs`: the reference's) applies to every run; `data` is
    needed for `pairs="positives"`."""

    input_tt, d, train_users, heldout, total = training_setup(two_tower, base, data)
    runs, info = train_grid(two_tower, [c.replace(seed=s) for c, s in zip(configs, seeds)], train_users,
                            batch_seeds=[base.seed] * len(configs),
                            log=lambda line: log(line.replace("grid:", "ablate:", 1)), data=data)
    return [r.state.params for r in runs], {"heldout": heldout, "input_two_tower": input_tt, "d": d,
                                            "train_s": info["train_s"], "steps": total}


def measure(trained: Any, data: Any, rec_item_emb: np.ndarray, k: int = 30) -> Dict[str, float]:
    """Fidelity (RBO@K, Kendall tau@K), MS, best purity@10, concepts at purity >= 0.9, FVU and L0 of one SAE."""

    tt = trained.input_two_tower
    users = np.asarray(trained.heldout_users)
    fid = fidelity_report(tt, trained.reconstructed_two_tower(), data, users, k=k)
    zi, si = trained.encode(tt.item_emb, side="item")
    xu = tt.user_emb[jnp.asarray(users)]
    zu, su = trained.encode(xu, side="user")
    x = jnp.concatenate([xu, tt.item_emb])
    x_hat = jnp.concatenate([trained.decode(zu, su, side="user"), trained.decode(zi, si, side="item")])
    a = np.asarray(zi)
    conc = content_concepts(data.concepts, data.concept_families)
    _, best = best_neurons(purity_at_k(a, conc, (10,)), (10,), 10)
    return {
        f"rbo@{k}": float(fid[f"rbo@{k}"]),
        f"kendall_tau@{k}": float(fid[f"kendall_tau@{k}"]),
        "rbo_paper": float(fid["rbo_paper"]),  # the reference's own fidelity (29-item lists, all positives excluded)
        "kendall_tau_paper": float(fid["kendall_tau_paper"]),
        "ms": float(np.mean(np.asarray(monosemanticity_per_neuron(a, rec_item_emb)))),
        "best_purity@10": float(best[0].mean()) if best.size else 0.0,
        "n_concepts_pure@10": int((best[0] >= PURE).sum()),
        "fvu": float(diagnostics.fvu(x, x_hat)),
        "l0": float(diagnostics.l0(jnp.concatenate([zu, zi]))),
    }


def ablate(two_tower: Any, data: Any, base: Any, config: AblationConfig = AblationConfig(),
           log: Callable[[str], None] = print) -> List[Dict[str, Any]]:
    """The `w_pred` sweep: one row per weight with the mean of `METRICS` over seeds (and `per_seed`).

    `two_tower` is the frozen recommender (unfolded), `base` the `SAETrainConfig` whose loss weights
    other than `w_pred` and whose schedule every run shares (`config.steps` overrides its budget).
    """

    if config.steps is not None:
        base = base.replace(steps=config.steps, epochs=None)
    grid = [(w, s) for w in config.pred_weights for s in config.seeds]
    configs = [base.replace(w_pred=w, seed=s) for w, s in grid]
    log(f"ablate: {len(grid)} runs ({len(config.pred_weights)} w_pred x {len(config.seeds)} seeds) of a "
        f"{base.sae} SAE with {base.latents} latents, trained together (vmap)")
    params, info = train_sweep(two_tower, base, configs, [s for _, s in grid], log, data=data)
    module = build_sae(base, info["d"])
    rec_items = np.asarray(two_tower.item_emb, np.float32)
    per_run = []
    for (w, s), c, p in zip(grid, configs, params):
        trained = TrainedSAE(module=module, params=p, config=c, input_two_tower=info["input_two_tower"],
                             heldout_users=info["heldout"])
        per_run.append({"w_pred": w, "seed": s, **measure(trained, data, rec_items, config.k)})
    rows = []
    for w in config.pred_weights:
        runs = [r for r in per_run if r["w_pred"] == w]
        row: Dict[str, Any] = {"w_pred": w}
        for key in runs[0]:
            if key not in ("w_pred", "seed"):
                row[key] = float(np.mean([r[key] for r in runs]))
        row["seeds"] = len(runs)
        row["steps"] = info["steps"]
        row["per_seed"] = runs
        rows.append(row)
    log(f"ablate: trained and measured in {info['train_s']:.1f} s of training")
    return rows


def plot_ablation(rows: Sequence[Dict[str, Any]], path: "str | Path") -> bool:
    """`ablation.png`: RBO, Kendall tau, MS and best purity against w_pred. False when matplotlib is absent."""
    try:
        import matplotlib  # lazy: an optional dependency

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # lazy: an optional dependency
    except ImportError:
        return False
    keys = ("rbo@30", "kendall_tau@30", "ms", "best_purity@10")
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3.0))
    xs = [r["w_pred"] for r in rows]
    for ax, key in zip(axes, keys):
        ax.plot(xs, [r.get(key) for r in rows], marker="o")
        ax.set_title(key)
        ax.set_xlabel("w_pred")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
