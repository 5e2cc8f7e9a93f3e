"""`jaxsae bench rec`: recommender training throughput on synthetic data built here.

Per model one row `workload, users, items, dim, batch_size, compile_s, epoch_s, pairs_per_s, steps_per_s`
(plus `host_prep_s`, the untimed negative sampling and shuffling). Workloads:
- `mf-train`: the paper's MF schedule (SGD lr 0.05, L2 0.01, summed rows) at `--batch-size`, the same
  work per step as the baseline's `--mode mf-train --optim sgd`;
- `mf-train-default`: the project's default MF schedule (its own batch size);
- `ncf-train`: NCF with Adam at `--batch-size`;
- `mf-time-to-quality` (`--model quality`): trains the paper schedule (10 epochs at `--batch-size`) and the
  default MF schedule, evaluating HR@10 after every epoch (untimed), and reports the paper schedule's final
  HR@10 and train time and the time the default needs to reach that HR@10 (compile and host
  preparation included). Compare with the baseline's `--mode mf-train --impl reference` time for 10 epochs.
As in the baseline, an epoch is all positives plus one negative each; sampling and batch preparation are
not timed, one warm-up epoch (which compiles) runs first. `time_to_quality` measures the speed target:
wall time until a schedule reaches a given HR@10.
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from typing import Any, Dict, List, Optional

import jax
import numpy as np

from jaxsae.training import parallel

from jaxsae.training import rec as rec_epochs

from jaxsae.training import rec as rec_step
from jaxsae.training import rec as rec
from jaxsae.training.rec import RecConfig
from data_prep import synthetic
from data_prep.preprocess import PrepareOptions, prepare
from jaxsae.errors import ConfigError


def bench_data(users: int, items: int, seed: int = 0) -> Any:
    """ML-1M-like planted synthetic `InteractionData` of `users x items` (about 166 positives per user)."""

    per_user = min(166.0, max(6.0, items / 6))
    cfg = synthetic.preset("ml1m", n_users=users, n_items=items, seed=seed, interactions_per_user=per_user,
                           min_interactions=min(20, items // 2))
    return prepare(synthetic.generate(cfg), PrepareOptions(seed=seed))


def _block(tree: Any) -> Any:
    return jax.block_until_ready(tree)


def measure_training(data: Any, config: RecConfig, epochs: int = 2, max_steps: Optional[int] = None) -> Dict[str, Any]:
    """Compile time and steady epoch time of `config` on `data` (host batch preparation excluded)."""
    devices = parallel.local_devices(config.devices)
    n_dev = len(devices)
    module = rec_step.build_recommender(config, data.n_users, data.n_items)
    tx = rec_step.make_optimizer(config)
    key = jax.random.PRNGKey(config.seed)
    params = rec_step.init_params(module, jax.random.fold_in(key, 0))
    p, o = parallel.replicate(params, devices), parallel.replicate(rec_step.init_opt_state(config, tx, params), devices)
    epoch_fn = rec_step.make_rec_epoch(module, config, tx, devices)
    probs = rec_epochs.negative_probs(data, config)

    def batches_for(epoch: int) -> tuple:
        b = rec_epochs.epoch_batches(data, config, rec_epochs.epoch_key(key, epoch), probs)
        if max_steps:
            b = tuple(x[:max_steps] for x in b)
        return tuple(jax.device_put(x) for x in parallel.shard_steps(b, n_dev))

    prep, timed = [], []
    t0 = time.perf_counter()
    first = batches_for(0)
    prep.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    compiled = epoch_fn.lower(p, o, first).compile()
    compile_s = time.perf_counter() - t0
    p, o, _, _ = _block(compiled(p, o, first))  # warm-up epoch
    for e in range(1, epochs + 1):
        t0 = time.perf_counter()
        b = _block(batches_for(e))
        prep.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        p, o, bce, _ = _block(compiled(p, o, b))
        timed.append(time.perf_counter() - t0)
    steps = int(first[0].shape[1])
    epoch_s = float(np.mean(timed))
    return {
        "users": data.n_users, "items": data.n_items, "dim": config.dim, "batch_size": config.batch_size,
        "optimizer": config.optimizer, "devices": n_dev, "steps": steps, "compile_s": compile_s,
        "epoch_s": epoch_s, "pairs_per_s": steps * config.batch_size / epoch_s, "steps_per_s": steps / epoch_s,
        "host_prep_s": float(np.mean(prep)), "backend": jax.default_backend(),
    }


def time_to_quality(data: Any, config: RecConfig, target_hit10: float, log: Any = print) -> Dict[str, Any]:
    """Train `config` epoch by epoch (evaluating hit@10 after each, untimed) and report the training wall time
    (compile and host preparation included) until hit@10 >= `target_hit10`."""
    cfg = dataclasses.replace(config, eval_every=1)
    trained = rec.train_recommender(data, cfg, log=log)
    elapsed, reached = 0.0, None
    for h in trained.history:
        elapsed += h["time_s"]
        if reached is None and h["hit@10"] >= target_hit10:
            reached = {"epoch": h["epoch"], "time_s": elapsed, "hit@10": h["hit@10"]}
    return {"target_hit@10": target_hit10, "reached": reached, "final_hit@10": trained.history[-1]["hit@10"],
            "total_train_s": trained.train_s, "history": trained.history}


def quality_row(data: Any, args: argparse.Namespace) -> Dict[str, Any]:
    """The `mf-time-to-quality` row: paper schedule's HR@10 and time vs the default's time to reach it."""
    paper_cfg = RecConfig.preset("paper", dim=args.dim, batch_size=args.batch_size, seed=args.seed,
                                 devices=args.devices)
    paper = time_to_quality(data, paper_cfg, 2.0, log=None)
    target = paper["final_hit@10"]
    # the former default: Adagrad, L2 0.01, fixed 4 epochs (early stopping spends epochs on validation)
    fixed = RecConfig(model="mf", dim=args.dim, seed=args.seed, devices=args.devices, patience=0,
                      epochs=4, l2=0.01)
    default = time_to_quality(data, fixed, target, log=None)
    reached = default["reached"] or {}
    return {
        "workload": "mf-time-to-quality", "users": data.n_users, "items": data.n_items, "dim": args.dim,
        "paper_batch_size": args.batch_size, "paper_epochs": paper_cfg.epochs, "paper_hit@10": target,
        "paper_train_s": paper["total_train_s"], "default_hit@10": default["final_hit@10"],
        "default_epochs_to_target": reached.get("epoch"), "default_time_to_target_s": reached.get("time_s"),
        "default_train_s": default["total_train_s"],
        "paper_curve": [round(h["hit@10"], 4) for h in paper["history"]],
        "default_curve": [round(h["hit@10"], 4) for h in default["history"]],
        "backend": jax.default_backend(),
    }


def run(args: argparse.Namespace) -> List[Dict[str, Any]]:
    """Rows for `jaxsae bench rec` (models from `--model`, comma-separated; default mf)."""
    models = [m.strip() for m in (args.model or "mf").split(",") if m.strip()]
    data = bench_data(args.users, args.items, args.seed)
    rows: List[Dict[str, Any]] = []
    for model in models:
        if model == "mf":
            configs = {
                "mf-train": RecConfig.preset("paper", dim=args.dim, batch_size=args.batch_size, seed=args.seed,
                                             devices=args.devices),
                "mf-train-default": RecConfig(model="mf", dim=args.dim, seed=args.seed, devices=args.devices,
                                              patience=0, epochs=4, l2=0.01),
            }
        elif model == "ncf":
            configs = {"ncf-train": RecConfig(model="ncf", dim=args.dim, batch_size=args.batch_size, seed=args.seed,
                                              devices=args.devices)}
        elif model == "quality":
            rows.append(quality_row(data, args))
            continue
        else:

            raise ConfigError(f"bench rec: unknown model {model!r}; expected mf, ncf or quality")
        for workload, cfg in configs.items():
            row = {"workload": workload}
            row.update(measure_training(data, cfg, epochs=args.epochs, max_steps=args.steps))
            rows.append(row)
    return rows
