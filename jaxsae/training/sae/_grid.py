"""Train a grid of SAEs in as few compiled programs as possible.

Runs are grouped by the program they need: `program_key` is the config with every field that lives in
the state or the data normalised away (loss weights and rho are arrays in `SAEState.weights`; seed,
schedule and users are data), plus what fixes the program's shapes and inputs (batch size, bias
folding, step budget). Each group is one `jax.jit(jax.vmap(epoch))` over the stacked states of its
runs: loss weights and seeds are vmapped, while architecture, latents, k, pred_loss, tied/shared,
normalization and the learning rate (baked into the Adam transform) make a new program.

Run r starts from `init_state(PRNGKey(configs[r].seed))`, reads the batches of
`batch_indices(train_users[r], n_items, batch_seeds[r], ...)` (default: its own seed) and so equals
`train_sae` of the same config and users, step for step (up to float reassociation under vmap).
Its input space is balanced (`jaxsae.sae._balance`) from *its own* training users, as `train_sae`'s is:
runs whose factors c differ get separate groups, and users outside every run (a sweep's validation
users) never reach training, not even through c.
"""
from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxsae.errors import ConfigError, TrainingDivergedError
from jaxsae.progress import eta
from jaxsae.recommenders import ScoreFn, TwoTower
from jaxsae.sae import SAETrainConfig
from jaxsae.sae import SPARSE_K_SAES
from jaxsae.training.sae._epoch import _packed, make_sae_epoch
from jaxsae.sae import balances, sae_input_space, side_factor
from jaxsae.training.sae._batches import _chunks
from jaxsae.training.sae._epoch import METRIC_KEYS, _unpacked
from jaxsae.training.sae._step import init_state, pred_spec, prepare_inputs
from jaxsae.training.sae._schedules import batch_plan


@dataclasses.dataclass(frozen=True)
class GridRun:
    """One trained run of a grid: its config, final state and the input space it was trained in."""

    config: SAETrainConfig  # the run's config (its seed is the init seed)
    state: Any  # final SAEState (params, Adam state, weights), on the host
    input_two_tower: TwoTower  # the SAE input space (bias-folded when config.fold_biases)
    d: int  # input dimension
    steps: int  # optimizer steps taken
    last: Dict[str, Any]  # last logging window's metrics (loss terms, l0, fvu, dead_fraction)
    program: int  # index of the compiled program (group) that trained it
    balance_factor: float = 1.0  # side-balancing c of its input space (from its own training users)


def program_key(config: SAETrainConfig, total_steps: int) -> Tuple[Any, ...]:
    """What one compiled program is shared by: runs with equal keys train together under vmap."""
    return (config.static_part(), config.fold_biases, config.batch_size, int(total_steps))


def _stack(trees: Sequence[Any]) -> Any:
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *trees)


def _index(tree: Any, r: int) -> Any:
    return jax.tree_util.tree_map(lambda x: x[r], tree)


@functools.lru_cache(maxsize=32)
def _grid_epoch(program: SAETrainConfig, d: int, score_fn: ScoreFn, gram: bool, shared_batches: bool) -> Callable:

    ax = None if shared_batches else 0
    return jax.jit(jax.vmap(_packed(make_sae_epoch(program, d, score_fn, gram)), in_axes=(0, None, ax, ax)))


_EXECUTABLES: Dict[Tuple[Any, ...], Any] = {}


def _compile(fn: Any, args: Tuple[Any, ...]) -> Any:
    """`fn.lower(*args).compile()`, cached by the function and the arguments' structure, shapes and dtypes."""
    leaves, treedef = jax.tree_util.tree_flatten(args)
    key = (fn, treedef, tuple((np.shape(x), str(getattr(x, "dtype", type(x)))) for x in leaves))
    if key not in _EXECUTABLES:
        if len(_EXECUTABLES) >= 64:
            _EXECUTABLES.clear()
        _EXECUTABLES[key] = fn.lower(*args).compile()
    return _EXECUTABLES[key]


def _label(config: SAETrainConfig) -> str:
    return (f"{config.sae} h={config.latents}" + (f" k={config.k}" if config.sae in SPARSE_K_SAES else "")
            + f" w_pred={config.w_pred:g} seed={config.seed}")


def train_grid(two_tower: TwoTower, configs: Sequence[SAETrainConfig],
               train_users: "np.ndarray | Sequence[np.ndarray]", batch_seeds: Optional[Sequence[int]] = None,
               log: Callable[[str], None] = print, data: Any = None) -> Tuple[List[GridRun], Dict[str, Any]]:
    """Train every config on `train_users` (one array for all runs, or one per run), grouped into
    vmapped programs. Returns the runs in input order and `{"programs": [...], "compile_s", "train_s"}`.
    Each run's batches come from its `jaxsae.training.sae._schedules.BatchPlan` (the reference's `schedule` and
    `pairs` included; `data` is needed for `pairs="positives"`), seeded by its batch seed."""

    configs = list(configs)
    if not configs:
        raise ConfigError("the grid has no runs")
    per_run_users = isinstance(train_users, (list, tuple))
    users_of = [np.asarray(train_users[r] if per_run_users else train_users, np.int32) for r in range(len(configs))]
    if any(len(u) == 0 for u in users_of):
        raise ConfigError("a grid run has no training users")
    seeds = [c.seed for c in configs] if batch_seeds is None else [int(s) for s in batch_seeds]
    plans = [batch_plan(c.replace(seed=seeds[r]), users_of[r], two_tower.n_items, data) for r, c in enumerate(configs)]
    # the side-balancing factor of each run, from its own training users (1.0 when off or not MF)
    factors = [side_factor(two_tower.user_emb, two_tower.item_emb, users_of[r])
               if c.balance_sides and balances(two_tower) else 1.0 for r, c in enumerate(configs)]
    groups: Dict[Tuple[Any, ...], List[int]] = {}
    for r, c in enumerate(configs):
        groups.setdefault((*program_key(c, plans[r].total), factors[r]), []).append(r)
    runs: List[Optional[GridRun]] = [None] * len(configs)
    programs: List[Dict[str, Any]] = []
    for g, (key, members) in enumerate(groups.items()):
        program, fold, batch, total, factor = key
        first = configs[members[0]]
        input_tt, _ = sae_input_space(two_tower, first.balance_sides, first.fold_biases, factor=factor)
        d = input_tt.dim
        score_fn, gram = pred_spec(input_tt, first)
        shared = (len({(seeds[r], configs[r].schedule, configs[r].pairs) for r in members}) == 1
                  and all(np.array_equal(users_of[r], users_of[members[0]]) for r in members))
        epoch = _grid_epoch(program, d, score_fn, gram, shared)
        inputs = prepare_inputs(program, input_tt, gram)
        states = _stack([init_state(jax.random.PRNGKey(configs[r].seed), configs[r], d) for r in members])
        windows = _chunks(0, total, first.log_every, total)

        def batches(s0: int, s1: int) -> Tuple[jax.Array, jax.Array]:
            if shared:
                u, i = plans[members[0]].batches(s0, s1 - s0)
                return jnp.asarray(u), jnp.asarray(i)
            pairs = [plans[r].batches(s0, s1 - s0) for r in members]
            return jnp.asarray(np.stack([p[0] for p in pairs])), jnp.asarray(np.stack([p[1] for p in pairs]))

        t0 = time.perf_counter()
        compiled: Dict[int, Any] = {}
        for s0, s1 in windows:  # ahead-of-time compile each window length, timed apart from training
            if s1 - s0 not in compiled:
                compiled[s1 - s0] = _compile(epoch, (states, inputs, *batches(s0, s1)))
        compile_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        last = None
        for s0, s1 in windows:
            u, i = batches(s0, s1)
            states, m = compiled[s1 - s0](states, inputs, u, i)
            m = np.asarray(jax.device_get(m))
            last = m
            bad = [members[j] for j in np.flatnonzero(m[:, METRIC_KEYS.index("finite")] == 0)]
            if bad:
                which = "; ".join(_label(configs[r]) for r in bad)
                raise TrainingDivergedError(f"grid run(s) diverged (non-finite loss before step {s1}): {which}; "
                                            f"lower the learning rate or the weights")
            log(f"grid: program {g + 1}/{len(groups)} ({len(members)} runs, {_label(first).split(' w_pred')[0]}) "
                f"step {s1}/{total}" + (f"; {eta(time.perf_counter() - t0, s1, total - s1)} for this program" if s1 < total else ""))
        train_s = time.perf_counter() - t0
        host = jax.device_get(states)
        for j, r in enumerate(members):
            runs[r] = GridRun(config=configs[r], state=_index(host, j), input_two_tower=input_tt, d=d, steps=total,
                              last=_unpacked(last[j]), program=g, balance_factor=factor)
        programs.append({"program": g, "runs": len(members), "steps": total, "sae": first.sae,
                         "latents": first.latents, "k": first.k if first.sae in SPARSE_K_SAES else None,
                         "pred_loss": first.pred_loss, "lr": first.lr, "compile_s": compile_s, "train_s": train_s})
    info = {"programs": programs, "compile_s": sum(p["compile_s"] for p in programs),
            "train_s": sum(p["train_s"] for p in programs)}
    return [r for r in runs if r is not None], info
