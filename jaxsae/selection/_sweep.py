"""Honest, automatic SAE model selection (`jaxsae sweep`, `train-sae --sae auto`).

A grid of SAE settings (axes over any `SAETrainConfig` fields, times several init seeds) is trained in
as few compiled programs as `jaxsae.training.sae._grid` allows, then scored on data the reported figures
never use:

- Users. The seeded held-out users of the base config (`heldout_fraction`, `seed`: the users on which
  `RUN/sae/metrics.json` reports fidelity) are neither trained on nor scored on. From the
  remaining SAE training users a seeded `validation_fraction` is carved out as *validation users*; the
  sweep's SAEs train on the rest, and fidelity (`rbo@30`, `kendall_tau@30`, top-30 lists over all items
  excluding training positives) is measured on the validation users only (at most 8,192 of them, a seeded
  sample, for the top-k lists).
- Items. Every SAE trains on all items (as the final SAE does), so "validation items" cannot be items
  no SAE saw. Concepts are scored on a seeded `item_fraction` of the items (default 1.0: all items,
  the item set `jaxsae analyze` reports on; below 1 the purity top-K, its null and the popularity
  correlation use only that share, and the rest of the items are what concepts are never chosen on).

Figures per run: `clear_concepts`, the number of genre/tag concepts whose best neuron has
purity@10 >= 0.9 and beats the random-direction null purity@10 (`null_seeds` seeds, same latents and
input space) by >= 0.2; `rbo@30`, `kendall_tau@30` on validation users; `popularity_rho`, the largest
|Spearman| of a neuron's item activations with item popularity; `l0`, `fvu`. A setting's figures are
means over its seeds (`per_seed` keeps each).

Selection rule (lexicographic, scale-free; `choose`). Density first, then concepts, then fidelity:

1. **Density.** `density = max(item_density, user_density)`, the mean active latents per scored item
   and per validation user over the latents h (dense-block latents count). Settings with
   `density <= max_density` (0.10) are the candidates; when none is, the least dense settings are.
2. **Concepts.** Among the candidates, those within the tolerance of the most clear concepts `c*`:
   `clear >= c* - max(1, spread*)`, where `spread*` is the range (max - min) of the clear counts over the
   seeds of the setting(s) reaching `c*`: one clear concept, or the seeds' own noise when that is larger.
   (Clear concepts and not concept recall: the probe bound's null depends on h, so recall's denominator
   changes with the width and comparing recall across widths would reward the width that shrinks the bound.)
3. **Fidelity.** Among those, the largest `rbo@30 + kendall_tau@30` (validation means); then the stronger
   popularity neuron (|rho|), then grid order.

So a density-compliant setting always beats a denser, more faithful one; more clear concepts win only
beyond the seeds' noise; and within that, the most faithful setting is chosen. `attainment` (the share of
the fidelity and concept targets reached, `min(1, clear/3) * min(1, rbo/0.8) * min(1, kendall/0.5)`) is
reported per setting (`feasible` = every target met, density included) but no longer ranks.

The chosen setting's final SAE (`final="reuse"`, the default) is the sweep's own run of that setting
with the base seed: trained without validation or held-out users, so its held-out fidelity in
`RUN/sae/metrics.json` stays honest and no extra training is spent; `final="retrain"` trains the
setting again with `train_sae` on all SAE training users (validation users included).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import jax.numpy as jnp
import numpy as np

from jaxsae.errors import ConfigError
from jaxsae.progress import duration, eta
from jaxsae.sae import SAETrainConfig
from jaxsae.training.sae import heldout_split
import jax
from jaxsae.metrics import top_k
from jaxsae.sae import diagnostics
from jaxsae.sae import side_params
from jaxsae.training.sae import build_sae
from jaxsae.sae import TrainedSAE
from jaxsae.training.sae import train_grid
from jaxsae.analysis import content_concepts
from jaxsae.metrics import FIDELITY_MAX_USERS, sample_users, scores_chunk, train_mask
from jaxsae.analysis.activations import encoder_inputs
from jaxsae.analysis import random_direction_null
from jaxsae.analysis import best_neurons, density, popularity_analysis, purity_at_k, restrict_items
from jaxsae.metrics import kendall_tau_union, rbo

SCHEMA = 1
FIGURES = ("clear_concepts", "rbo@30", "kendall_tau@30", "popularity_rho", "l0", "fvu", "item_density",
           "user_density", "density")  # per run (k = 30)
# the config and the grids (re-exported: part of this module's API)
from jaxsae.selection._sweep_config import (FINALS, FIXED_FIELDS, SWEEP_BASE, SweepConfig, load_grid,  # noqa: E402,F401
                                          named_grid)


def sweep_split(n_users: int, base: SAETrainConfig, validation_fraction: float
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(train, validation, heldout)` users, sorted and disjoint: held-out as `train_sae` holds them out
    (base seed and fraction), validation a seeded share of the rest, train the remainder."""

    rest, heldout = heldout_split(n_users, base.heldout_fraction, base.seed)
    perm = np.random.default_rng([base.seed, 0x5AE, 7]).permutation(rest)
    n_val = int(round(validation_fraction * len(rest)))
    if n_val < 1 or n_val >= len(rest):
        raise ConfigError(f"validation_fraction {validation_fraction} of {len(rest)} SAE training users leaves "
                          f"no validation or no training users")
    return np.sort(perm[n_val:]).astype(np.int32), np.sort(perm[:n_val]).astype(np.int32), heldout


def item_subset(n_items: int, fraction: float, seed: int) -> Optional[np.ndarray]:
    """Boolean mask of the items concepts are scored on (None = all items)."""
    if fraction >= 1.0:
        return None
    mask = np.zeros(n_items, bool)
    mask[np.random.default_rng([seed, 0x5AE, 8]).permutation(n_items)[:max(1, int(round(fraction * n_items)))]] = True
    return mask


SCORE_CHUNK = 1024
"""Validation users per scoring call: the `[users, n_items]` logits of a call are `SCORE_CHUNK` rows (240 MB
at ML-25M's 59k items) however many validation users there are (26k at ML-25M size: 6 GB at once)."""
MASK_CACHE_BYTES = 2**28
"""The validation users' training masks (`[users, n_items]` bools, one per chunk) are built once per sweep
when they take at most this many bytes (ML-1M: 4.5 MB), and rebuilt per scored SAE above it (ML-25M size: 1.5 GB)."""


@functools.lru_cache(maxsize=64)
def _score_core(program: SAETrainConfig, d: int, k: int) -> Tuple[Callable[..., Any], Callable[..., Any]]:
    """Jitted `(embed, lists)` for the SAEs of one program, what `fidelity_report` and the FVU/L0 diagnostics
    compute: `embed(params, input_tt, users) -> (item z, user z, reconstructed two-tower, l0, fvu)` over every
    validation user at once (embeddings only), and `lists(tt, users, train_mask) -> top-k item ids` of a
    two-tower (the original or the reconstruction) for one chunk of users (the full logits: chunked by the
    caller)."""

    module = build_sae(program, d)

    def embed(params: Any, tt: Any, users: Any) -> Tuple[Any, ...]:
        def recon(x: Any, side: str) -> Tuple[Any, Any]:
            p = {"params": side_params(params, side)}
            z, stats = module.apply(p, x, method="encode")
            return z, module.apply(p, z, stats, method="decode")

        zi, ih = recon(tt.item_emb, "item")
        xu = tt.user_emb[users]
        zu, uh = recon(xu, "user")
        rec = tt.replace(user_emb=tt.user_emb.at[users].set(uh), item_emb=ih)
        x, x_hat = jnp.concatenate([xu, tt.item_emb]), jnp.concatenate([uh, ih])
        return zi, zu, rec, diagnostics.l0(jnp.concatenate([zu, zi])), diagnostics.fvu(x, x_hat)

    def lists(tt: Any, users: Any, mask: Any) -> Any:
        return top_k(tt.logits_cross(users), k, mask)[1]

    return jax.jit(embed), jax.jit(lists)


def _digest(tree: Any) -> str:
    """SHA-1 of a pytree's array bytes (equal arrays, equal digest)."""
    h = hashlib.sha1()
    for leaf in jax.tree_util.tree_leaves(tree):
        h.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
    return h.hexdigest()


class _Scorer:
    """Scores trained SAEs on validation users and the scored items, caching per input two-tower the null and
    the original model's top-k lists (ranked once per recommender, not per SAE). The lists (RBO, Kendall tau)
    rank at most `max_ranked` validation users (`sample_users`); density, FVU and L0 use them all."""

    def __init__(self, data: Any, validation: np.ndarray, config: SweepConfig, chunk_size: int = SCORE_CHUNK,
                 mask_cache_bytes: int = MASK_CACHE_BYTES, max_ranked: int = FIDELITY_MAX_USERS) -> None:

        self.data, self.validation, self.config = data, validation, config
        ranked = sample_users(validation, max_ranked)
        chunk_size = scores_chunk(chunk_size, data.n_items)
        self.chunks = [ranked[i:i + chunk_size] for i in range(0, len(ranked), chunk_size)]
        self._masks = ([jnp.asarray(train_mask(data, users)) for users in self.chunks]
                       if len(ranked) * data.n_items <= mask_cache_bytes else None)
        keep = np.array([f in ("genre", "tag") for f in data.concept_families], bool)
        if not keep.any():
            keep = np.ones(len(data.concept_families), bool)
        self.names = [n for n, k in zip(data.concept_names, keep) if k]
        self.concepts = content_concepts(data.concepts, data.concept_families)
        self.mask = item_subset(data.n_items, config.item_fraction, config.base.seed)
        self._null: Dict[Tuple[Any, ...], np.ndarray] = {}
        self._original: Dict[str, np.ndarray] = {}

    def _lists(self, lists: Callable[..., Any], tt: Any) -> np.ndarray:
        """`[validation users, k]` top-k item ids of `tt`, chunk by chunk."""
        out = []
        for j, users in enumerate(self.chunks):
            mask = self._masks[j] if self._masks is not None else jnp.asarray(train_mask(self.data, users))
            out.append(np.asarray(lists(tt, jnp.asarray(users), mask)))
        return np.concatenate(out)

    def null(self, trained: Any) -> np.ndarray:
        """Null purity@10 per concept for `trained`'s latents and input space (cached)."""

        x = encoder_inputs(trained, trained.input_two_tower.item_emb)
        key = (trained.latents, x.shape, _digest(x))
        if key not in self._null:
            nb = random_direction_null(x, self.concepts, trained.latents, (10,), tuple(range(self.config.null_seeds)),
                                       self.mask)
            self._null[key] = np.asarray(nb.best[0])
        return self._null[key]

    def __call__(self, trained: Any) -> Dict[str, Any]:
        cfg = self.config
        embed, lists = _score_core(trained.config.static_part(), trained.dim, cfg.k)
        tt = trained.input_two_tower
        zi, zu, rec, l0, fvu = embed(trained.params, tt, jnp.asarray(self.validation))
        key = f"{cfg.k}:{_digest(tt)}"
        if key not in self._original:
            self._original[key] = self._lists(lists, tt)
        a, b = self._original[key], self._lists(lists, rec)
        zi = np.asarray(zi, np.float32)
        scored = np.asarray(restrict_items(zi, self.mask))
        dn = density(scored, np.asarray(zu))
        _, best = best_neurons(purity_at_k(scored, self.concepts, (10,)), (10,), 10)
        p10, null = best[0], self.null(trained)
        clear = (p10 >= cfg.purity) & (p10 - null >= cfg.margin)
        pop = popularity_analysis(zi, self.data.popularity, 10, self.mask)
        return {
            "clear_concepts": int(clear.sum()),
            f"rbo@{cfg.k}": float(np.mean(rbo(a, b))),
            f"kendall_tau@{cfg.k}": float(np.nanmean(kendall_tau_union(a, b))),
            "popularity_rho": abs(float(pop["spearman"])) if pop["spearman"] is not None else 0.0,
            "l0": float(l0),
            "fvu": float(fvu),
            "item_density": dn["item_density"],
            "user_density": dn["user_density"],
            "density": max(dn["item_density"], dn["user_density"]),
            "clear": [n for n, ok in zip(self.names, clear) if ok],
        }


def attainment(fig: Mapping[str, float], config: "SweepConfig") -> float:
    """Share of the targets reached: `min(1, clear/min_concepts) * min(1, rbo/rbo_min) * min(1, kendall/kendall_min)`."""
    rbo, tau = fig[f"rbo@{config.k}"], fig[f"kendall_tau@{config.k}"]
    return (min(1.0, fig["clear_concepts"] / config.min_concepts) * min(1.0, max(rbo, 0.0) / config.rbo_min)
            * min(1.0, max(tau, 0.0) / config.kendall_min))


def feasible(fig: Mapping[str, float], config: "SweepConfig") -> bool:
    """Every target met: density <= max_density and attainment 1 (fidelity and clear concepts)."""
    return bool(fig.get("density", 0.0) <= config.max_density + 1e-12 and attainment(fig, config) >= 1.0)


def _seed_spread(setting: Mapping[str, Any]) -> float:
    """Range (max - min) of the clear-concept counts over a setting's seeds (0 with one seed)."""
    counts = [r["clear_concepts"] for r in setting.get("per_seed") or ()]
    return float(max(counts) - min(counts)) if counts else 0.0


def shortlist(settings: Sequence[Mapping[str, Any]], config: SweepConfig) -> List[int]:
    """Steps 1 and 2 of the rule (module docstring): the indices the fidelity step chooses among."""
    dens = [float(s["figures"].get("density", 0.0)) for s in settings]
    cand = [i for i, d in enumerate(dens) if d <= config.max_density + 1e-12]
    if not cand:  # none is sparse enough: the least dense ones
        cand = [i for i, d in enumerate(dens) if d <= min(dens) + 1e-12]
    clear = {i: float(settings[i]["figures"]["clear_concepts"]) for i in cand}
    best = max(clear.values())
    tol = max([1.0] + [_seed_spread(settings[i]) for i in cand if clear[i] >= best])
    return [i for i in cand if clear[i] >= best - tol]


def rank_key(fig: Mapping[str, float], config: "SweepConfig") -> Tuple[float, ...]:
    """The fidelity step's sort key among the shortlist (larger is better): rbo + kendall, then popularity."""
    return (round(fig[f"rbo@{config.k}"] + fig[f"kendall_tau@{config.k}"], 9), round(fig["popularity_rho"], 9))


def choose(settings: Sequence[Mapping[str, Any]], config: SweepConfig) -> int:
    """Index of the setting the rule picks (module docstring; first in grid order among exact ties)."""
    keys = {i: rank_key(settings[i]["figures"], config) for i in shortlist(settings, config)}
    return max(keys, key=lambda i: (keys[i], -i))


def request_fingerprint(run_dir: Path, config: SweepConfig) -> str:
    """Hash of what a sweep's result depends on: its config and the recommender and data it read."""
    h = hashlib.sha256(json.dumps(_config_doc(config), sort_keys=True).encode())
    for rel in ("rec/metrics.json", "data/summary.json"):
        p = Path(run_dir) / rel
        h.update(p.read_bytes() if p.exists() else b"-")
    return h.hexdigest()[:16]


def _config_doc(config: SweepConfig) -> Dict[str, Any]:
    return {"base": config.base.to_dict(), "axes": [[[n, list(v)] for n, v in c] for c in config.axes],
            **{f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name not in ("base", "axes")}}


def sweep(two_tower: Any, data: Any, config: SweepConfig, log: Callable[[str], None] = print
          ) -> Tuple[Dict[str, Any], Dict[Tuple[int, int], Any]]:
    """Train and score the grid. Returns the sweep.json document and the trained runs by (setting, seed)."""

    t_start = time.perf_counter()
    if data.n_users != two_tower.n_users or data.n_items != two_tower.n_items:
        raise ConfigError(f"recommender has {two_tower.n_users} users x {two_tower.n_items} items but the data "
                          f"has {data.n_users} x {data.n_items}")
    settings = config.settings()
    train, validation, heldout = sweep_split(two_tower.n_users, config.base, config.validation_fraction)
    grid = [(si, s) for si in range(len(settings)) for s in config.seeds]
    configs = [settings[si][1].replace(seed=s) for si, s in grid]
    log(f"sweep: {len(settings)} settings x {len(config.seeds)} seeds = {len(configs)} SAEs on {len(train)} "
        f"training users; scored on {len(validation)} validation users ({len(heldout)} held out, never used"
        + (f"; top-k lists on {FIDELITY_MAX_USERS} of them" if len(validation) > FIDELITY_MAX_USERS else "") + ")")
    runs, info = train_grid(two_tower, configs, train, log=lambda s: log(s.replace("grid:", "sweep:", 1)))
    log(f"sweep: trained {len(runs)} SAEs in {len(info['programs'])} programs "
        f"(compile {info['compile_s']:.1f} s, train {info['train_s']:.1f} s); scoring")
    t_score = time.perf_counter()
    scorer = _Scorer(data, validation, config)
    trained: Dict[Tuple[int, int], Any] = {}
    per_seed: Dict[int, List[Dict[str, Any]]] = {}
    for (si, s), run in zip(grid, runs):
        t = TrainedSAE(module=build_sae(run.config, run.d), params=run.state.params, config=run.config,
                       input_two_tower=run.input_two_tower, heldout_users=heldout,
                       balance_factor=run.balance_factor)
        trained[(si, s)] = (t, run)
        per_seed.setdefault(si, []).append({"seed": s, "program": run.program, **scorer(t)})
        done = len(trained)
        if done % max(1, len(grid) // 4) == 0 or done == len(grid):  # a few lines: scoring is minutes at ML-25M size
            log(f"sweep: scored {done}/{len(grid)} SAEs ({duration(time.perf_counter() - t_score)}"
                + (f"; {eta(time.perf_counter() - t_score, done, len(grid) - done)})" if done < len(grid) else ")"))
    score_s = time.perf_counter() - t_score
    rows = []
    for si, (params, cfg) in enumerate(settings):
        runs_s = per_seed[si]
        fig = {k: float(np.mean([r[k] for r in runs_s])) for k in runs_s[0] if k not in ("seed", "program", "clear")}
        rows.append({"id": si, "params": params, "config": cfg.to_dict(), "program": runs_s[0]["program"],
                     "figures": fig, "per_seed": runs_s,
                     "attainment": attainment(fig, config), "feasible": feasible(fig, config)})
    chosen = choose(rows, config)
    wall = time.perf_counter() - t_start
    doc = {
        "schema": SCHEMA,
        "rule": {"text": "density = max(item, user) <= max_density first (else the least dense); then clear "
                         "concepts within max(1, the best setting's seed range) of the most; then the largest "
                         "rbo+kendall (validation means), then popularity |rho|",
                 "max_density": config.max_density, "shortlist": shortlist(rows, config),
                 "rbo_min": config.rbo_min, "kendall_min": config.kendall_min, "min_concepts": config.min_concepts,
                 "purity": config.purity,
                 "margin": config.margin, "null_seeds": config.null_seeds, "k": config.k},
        "split": {"n_train_users": int(len(train)), "n_validation_users": int(len(validation)),
                  "n_heldout_users": int(len(heldout)), "validation_fraction": config.validation_fraction,
                  "heldout_fraction": config.base.heldout_fraction, "seed": config.base.seed,
                  "items": "all" if scorer.mask is None else f"seeded {config.item_fraction:g} of items",
                  "n_scored_items": int(data.n_items if scorer.mask is None else scorer.mask.sum())},
        "config": _config_doc(config),
        "concepts": scorer.names,
        "settings": rows,
        "chosen": chosen,
        "chosen_params": rows[chosen]["params"],
        "chosen_config": rows[chosen]["config"],
        "cost": {"n_runs": len(runs), "n_programs": len(info["programs"]), "programs": info["programs"],
                 "compile_s": info["compile_s"], "train_s": info["train_s"], "score_s": score_s, "wall_s": wall,
                 "wall_per_sae_s": wall / len(runs), "train_per_sae_s": info["train_s"] / len(runs)},
    }
    return doc, trained


def table_lines(doc: Mapping[str, Any]) -> List[str]:
    """The sweep as a plain table (printed by the CLI): one line per setting, the chosen one marked."""
    k = doc["rule"]["k"]
    lines = [f"   {'setting':<44}{'dens':>6}{'clear':>6}{'rbo':>7}{'tau':>7}{'pop':>6}{'l0':>6}"]
    for r in doc["settings"]:
        f = r["figures"]
        mark = "*" if r["id"] == doc["chosen"] else ("+" if r["feasible"] else " ")
        label = " ".join(f"{n}={v}" for n, v in r["params"].items()) or "base"
        lines.append(f" {mark} {label[:43]:<44}{f.get('density', float('nan')):6.3f}"
                     f"{f['clear_concepts']:6.1f}{f[f'rbo@{k}']:7.3f}"
                     f"{f[f'kendall_tau@{k}']:7.3f}{f['popularity_rho']:6.2f}{f['l0']:6.1f}")
    return lines


def plot_pareto(doc: Mapping[str, Any], path: "str | Path") -> bool:
    """`pareto.png`: clear concepts beyond the null vs validation rbo@30 per setting (seeds as small dots),
    the Pareto front, the fidelity target and the chosen setting. False when matplotlib is absent."""
    try:
        import matplotlib  # lazy: an optional dependency

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # lazy: an optional dependency
    except ImportError:
        return False
    k = doc["rule"]["k"]
    rows = doc["settings"]
    xs = np.array([r["figures"][f"rbo@{k}"] for r in rows])
    ys = np.array([r["figures"]["clear_concepts"] for r in rows])
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for r in rows:
        ax.scatter([p[f"rbo@{k}"] for p in r["per_seed"]], [p["clear_concepts"] for p in r["per_seed"]],
                   s=8, color="0.7", zorder=1)
    ax.scatter(xs, ys, c=[r["figures"][f"kendall_tau@{k}"] for r in rows], cmap="viridis", zorder=2,
               label="setting (mean over seeds; colour: kendall)")
    front = [i for i in range(len(rows)) if not any((xs[j] >= xs[i] and ys[j] >= ys[i]) and
                                                    (xs[j] > xs[i] or ys[j] > ys[i]) for j in range(len(rows)))]
    front.sort(key=lambda i: xs[i])
    ax.plot(xs[front], ys[front], color="C1", lw=1, zorder=1, label="Pareto front")
    c = doc["chosen"]
    ax.scatter([xs[c]], [ys[c]], marker="*", s=220, color="C3", zorder=3, label="chosen")
    ax.axvline(doc["rule"]["rbo_min"], color="0.5", ls="--", lw=0.8)
    for i, r in enumerate(rows):
        ax.annotate(" ".join(f"{v}" for v in r["params"].values()), (xs[i], ys[i]), fontsize=6, alpha=0.7)
    ax.set_xlabel(f"validation rbo@{k}")
    ax.set_ylabel("clear concepts (purity@10 >= %.1f, null + %.1f)" % (doc["rule"]["purity"], doc["rule"]["margin"]))
    ax.set_title("SAE sweep: concepts beyond the null vs fidelity")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
