"""Where the recommender's device step spends its time: the jitted MF epoch alone, on pre-sampled batches.

    python scripts/profile_rec_step.py [--users 162541] [--items 59047] [--dim 64] [--batch-size 4096] [--steps 128]

Builds MF with the defaults (d=64, row-wise Adagrad, lr 0.15, L2 0.03) at the given size, runs one warm-up
call of `--steps` steps on uniformly random batches (the host sampler is not involved), times a second call
(wall and process CPU seconds, rows/s), and with `--trace` adds XLA:CPU's per-operation totals from a
profiler trace (the fusions of the compiled scan body; names as in an `--xla_dump_to` dump).
"""
import argparse
import collections
import glob
import gzip
import json
import resource
import tempfile
import time

import jax
import numpy as np

from jaxsae.training.parallel import replicate, shard_steps
from jaxsae.training.rec import (RecConfig, build_recommender, init_opt_state, init_params, make_optimizer,
                                 make_rec_epoch)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=162541)
    ap.add_argument("--items", type=int, default=59047)
    ap.add_argument("--dim", type=int, default=64, help="embedding width d (the grid's candidates: 32, 64, 128)")
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=128)
    ap.add_argument("--trace", action="store_true", help="also print the per-operation totals of one call")
    args = ap.parse_args()
    cfg = RecConfig(model="mf", dim=args.dim, batch_size=args.batch_size, grid=False)
    module = build_recommender(cfg, args.users, args.items)
    params = init_params(module, jax.random.PRNGKey(0))
    tx = make_optimizer(cfg)
    devices = jax.local_devices()[:1]
    epoch = make_rec_epoch(module, cfg, tx, devices)
    p, s = replicate(params, devices), replicate(init_opt_state(cfg, tx, params), devices)
    rng = np.random.default_rng(0)
    shape = (args.steps, args.batch_size)

    def batches():
        return shard_steps((rng.integers(0, args.users, shape).astype(np.int32),
                            rng.integers(0, args.items, shape).astype(np.int32),
                            (rng.random(shape) < 1 / 3).astype(np.float32), np.ones(shape, np.float32)), 1)

    p, s, bce, _ = epoch(p, s, batches())
    jax.block_until_ready(bce)
    b = batches()
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    p, s, bce, _ = epoch(p, s, b)
    jax.block_until_ready(bce)
    wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    cpu = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
    rows = args.steps * args.batch_size
    print(f"MF d={cfg.dim} {cfg.optimizer} batch {args.batch_size}, {args.users} users x {args.items} items: "
          f"{wall / args.steps * 1e3:.2f} ms/step, {rows / wall / 1e6:.2f}M rows/s, {cpu:.2f} CPU s for {wall:.2f} s")
    if args.trace:
        with tempfile.TemporaryDirectory() as d:
            b = batches()
            with jax.profiler.trace(d, create_perfetto_trace=True):
                p, s, bce, _ = epoch(p, s, b)
                jax.block_until_ready(bce)
            events = json.load(gzip.open(sorted(glob.glob(f"{d}/**/*.trace.json.gz", recursive=True))[-1]))
        events = events["traceEvents"] if isinstance(events, dict) else events
        total = collections.Counter()
        for e in events:
            if e.get("ph") == "X" and not e["name"].startswith(("$", "Thunk", "Pjit", "Common")):
                total[e["name"]] += e.get("dur", 0)
        for name, us in total.most_common(15):
            print(f"  {us / 1e3 / args.steps:7.3f} ms/step  {name}")


if __name__ == "__main__":
    main()
