"""Train a recommender and an SAE for a few steps data-parallel over every device of one or several
processes, and write the trained parameters: the several-hosts check (docs/SCALE.md, "Several hosts").

One process per host (here: several processes on one machine, each with its own CPU devices):

    python scripts/multihost_check.py --num-processes 2 --process-id 0 --coordinator 127.0.0.1:PORT \
        --local-devices 2 --out OUT        # and the same with --process-id 1
    python scripts/multihost_check.py --num-processes 1 --local-devices 4 --out REF   # one process, 4 devices

Every process builds the same tiny planted dataset and the same global batches from the same seeds,
keeps its columns of each batch (`jaxsae.training.parallel.host_slice`) and feeds them to its local
devices; `pmap` spans the devices of all processes (`pmap_devices`), so gradients are averaged over
the global batch. Each process writes `OUT/process<i>.npz` (recommender and SAE parameters, flattened);
with the same global batch they equal the one-process run's up to float summation order.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def parse(argv: "list[str] | None" = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--num-processes", type=int, default=1)
    p.add_argument("--process-id", type=int, default=0)
    p.add_argument("--coordinator", default=None, help="host:port of process 0 (several processes)")
    p.add_argument("--local-devices", type=int, default=2, help="CPU devices of this process")
    p.add_argument("--out", required=True, help="folder for process<i>.npz")
    p.add_argument("--timeout", type=int, default=60, help="seconds to wait for the other processes")
    return p.parse_args(argv)


def main(argv: "list[str] | None" = None) -> int:
    args = parse(argv)
    # before jax starts: this process's own fake CPU devices
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + f" --xla_force_host_platform_device_count={args.local_devices}")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import jax

    if args.num_processes > 1:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")  # cross-process collectives on CPU
        jax.distributed.initialize(coordinator_address=args.coordinator, num_processes=args.num_processes,
                                   process_id=args.process_id, initialization_timeout=args.timeout)
    import numpy as np

    from data_prep import synthetic
    from data_prep.preprocess import PrepareOptions, prepare
    from jaxsae.sae import SAETrainConfig
    from jaxsae.training.rec import RecConfig, train_recommender
    from jaxsae.training.sae import train_sae

    n = jax.local_device_count()
    print(f"[multihost] process {jax.process_index()}/{jax.process_count()}: {n} local of "
          f"{jax.device_count()} devices", flush=True)
    data = prepare(synthetic.generate(synthetic.preset("tiny", n_users=64, n_items=48)), PrepareOptions(seed=0))
    quiet = lambda m: None  # noqa: E731
    rec = train_recommender(data, RecConfig(model="mf", dim=8, epochs=2, batch_size=64, patience=0, devices=n),
                            log=quiet)
    sae, _ = train_sae(rec.two_tower, data, SAETrainConfig(latents=8, steps=6, batch_size=16, devices=n,
                                                           log_every=3, checkpoint_every=6), log=quiet)
    flat = {f"rec/{k}": np.asarray(v) for k, v in rec.params.items()}
    for path, leaf in jax.tree_util.tree_leaves_with_path(sae.params):
        flat["sae/" + jax.tree_util.keystr(path)] = np.asarray(leaf)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / f"process{jax.process_index()}.npz", **flat)
    print(f"[multihost] process {jax.process_index()}: wrote {out / f'process{jax.process_index()}.npz'}", flush=True)
    if args.num_processes > 1:
        jax.distributed.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
