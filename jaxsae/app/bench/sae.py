"""`jaxsae bench sae`: SAE training throughput at ML-1M size.

Workloads (random tables built here, so no data is needed): `mf-sae` (tied ReLU SAE, MF scorer,
Gram-form prediction loss, the paper's ML-1M MF weights), `ncf-sae` (tied ReLU SAE through a frozen
NCF MLP [64, 32, 16], BCE, the paper's ML-1M NCF weights) and `matryoshka-sae` (prefixes
[h/4, h/2, h], MF scorer, the paper's Last.FM Matryoshka weights). Each row times the compiled
scanned window that `train_sae` runs (`EpochRunner`): one warm-up call (compile), then calls of
`--window` steps (default the trainer's logging window, `log_every` = 250 steps; 0: one epoch of
`ceil(users / batch)` steps per call) for at least `--epochs` epochs' worth of steps and one second.
Every call includes what a training run pays per window: dispatch, index upload and the metrics' transfer.
"""
from __future__ import annotations

import argparse
import math
import time
from typing import Any, Dict, List

import jax
import numpy as np

from jaxsae.errors import ConfigError
from jaxsae.recommenders import TwoTower
from jaxsae.sae import SAETrainConfig
from jaxsae.training.sae import batch_indices
from jaxsae.training.sae import EpochRunner
from jaxsae.training.sae import init_state
from jaxsae.recommenders.ncf import init_head, ncf_score

WORKLOADS = ("mf-sae", "ncf-sae", "matryoshka-sae")
_MODEL_TO_WORKLOAD = {"mf": "mf-sae", "ncf": "ncf-sae", "matryoshka": "matryoshka-sae"}
MIN_TIMED_S = 1.0


def _two_tower(workload: str, users: int, items: int, dim: int, seed: int) -> TwoTower:
    rng = np.random.default_rng(seed)
    u = rng.normal(0.0, 0.3, (users, dim)).astype(np.float32)
    i = rng.normal(0.0, 0.3, (items, dim)).astype(np.float32)
    if workload == "ncf-sae":

        head = init_head(jax.random.PRNGKey(seed), 2 * dim, (64, 32, 16))
        return TwoTower.create(u, i, score_fn=ncf_score, head=head, kind="ncf")
    return TwoTower.create(u, i, user_bias=rng.normal(0, 0.1, users), item_bias=rng.normal(0, 0.1, items), kind="mf")


def _config(workload: str, latents: int, batch_size: int, devices: int, seed: int) -> SAETrainConfig:
    common = dict(latents=latents, batch_size=batch_size, devices=devices, seed=seed, heldout_fraction=0.0)
    if workload == "mf-sae":
        return SAETrainConfig.ml1m_mf(**common)
    if workload == "ncf-sae":
        return SAETrainConfig.ml1m_ncf(**common)
    if latents < 4:
        raise ConfigError(f"matryoshka-sae needs latents >= 4, got {latents}")
    return SAETrainConfig.lastfm_matryoshka(prefixes=(latents // 4, latents // 2, latents), **common)


def bench_workload(workload: str, users: int, items: int, dim: int, latents: int, batch_size: int,
                   epochs: int, devices: int = 1, seed: int = 0, max_steps: "int | None" = None,
                   min_seconds: float = MIN_TIMED_S, window: "int | None" = None) -> Dict[str, Any]:
    """Compile time and steady-state steps/s of one workload's scanned window (timed >= `min_seconds`)."""
    config = _config(workload, latents, batch_size, devices, seed)
    tt = _two_tower(workload, users, items, dim, seed)
    runner = EpochRunner(config, tt, dim)
    epoch_steps = max(1, math.ceil(users / batch_size))
    window = config.log_every if window is None else int(window)
    steps = window if window > 0 else epoch_steps
    if max_steps:
        steps = min(steps, int(max_steps))
    calls = max(1, math.ceil(max(1, epochs) * epoch_steps / steps))
    n_batches = min(calls, 8) + 1
    all_users = np.arange(users, dtype=np.int32)
    u_idx, i_idx = batch_indices(all_users, items, seed, 0, steps * n_batches, batch_size)
    batches = [(u_idx[e * steps:(e + 1) * steps], i_idx[e * steps:(e + 1) * steps]) for e in range(n_batches)]
    state = runner.put(init_state(jax.random.PRNGKey(seed), config, dim))

    t0 = time.perf_counter()
    state, _ = runner(state, tt, *batches[0])  # compiles
    first_s = time.perf_counter() - t0
    timed_calls, t0 = 0, time.perf_counter()
    while True:
        state, m = runner(state, tt, *batches[1 + timed_calls % (n_batches - 1)])
        timed_calls += 1
        elapsed = time.perf_counter() - t0
        if timed_calls >= calls and elapsed >= min_seconds:
            break
    call_s = elapsed / timed_calls
    return {
        "workload": workload, "users": users, "items": items, "dim": dim, "latents": latents,
        "batch_size": batch_size, "devices": runner.n, "backend": jax.default_backend(),
        "compile_s": max(0.0, first_s - call_s), "steps_per_s": steps * timed_calls / elapsed,
        "pairs_per_s": steps * timed_calls * batch_size / elapsed, "call_s": call_s,
        "steps_per_call": steps, "steps_per_epoch": epoch_steps, "timed_calls": timed_calls,
        "epoch_s": call_s * epoch_steps / steps, "final_loss": m["loss"],
    }


def run(args: argparse.Namespace) -> List[Dict[str, Any]]:
    """Rows for the workloads selected by `--model` (mf, ncf, matryoshka; default all)."""
    if args.model is None:
        workloads = list(WORKLOADS)
    elif args.model in _MODEL_TO_WORKLOAD:
        workloads = [_MODEL_TO_WORKLOAD[args.model]]
    else:
        raise ConfigError(f"bench sae: unknown --model {args.model!r}; use mf, ncf or matryoshka")
    return [bench_workload(w, args.users, args.items, args.dim, args.latents, args.batch_size, args.epochs,
                           args.devices, args.seed, args.steps, window=getattr(args, "window", None))
            for w in workloads]
