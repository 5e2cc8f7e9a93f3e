"""`jaxsae bench eval`: full-ranking evaluation throughput and memory.

One row per model (`--model mf|ncf`, default mf): `workload, users, items, chunk_size, compile_s,
users_per_s, peak_rss_mb`, on the ML-1M-size synthetic data of `jaxsae.app.bench.rec` with a recommender of
random embeddings (ranking cost does not depend on what the scores mean). `compile_s` is the first chunk
(compile + one chunk of work); `users_per_s` is measured on a second full pass.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from typing import Any, Dict, List

import jax

from jaxsae.app.bench.rec import bench_data
from jaxsae.errors import ConfigError
from jaxsae.metrics import evaluate_two_tower
from jaxsae.training.rec import RecConfig
from jaxsae.training.rec import build_recommender, init_params, to_two_tower


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def run(args: argparse.Namespace) -> List[Dict[str, Any]]:
    """Rows for `jaxsae bench eval`."""
    models = [m.strip() for m in (args.model or "mf").split(",") if m.strip()]
    data = bench_data(args.users, args.items, args.seed)
    rows: List[Dict[str, Any]] = []
    for model in models:
        if model not in ("mf", "ncf"):
            raise ConfigError(f"bench eval: unknown model {model!r}; expected mf or ncf")
        cfg = RecConfig(model=model, dim=args.dim, seed=args.seed)
        params = init_params(build_recommender(cfg, data.n_users, data.n_items), jax.random.PRNGKey(args.seed))
        tt = to_two_tower(cfg, params)
        first_users = data.test_users[: args.chunk_size]
        t0 = time.perf_counter()
        evaluate_two_tower(tt, data, users=first_users, chunk_size=args.chunk_size)
        compile_s = time.perf_counter() - t0
        evaluate_two_tower(tt, data, chunk_size=args.chunk_size)  # compiles the last (padded) chunk shape too
        t0 = time.perf_counter()
        out = evaluate_two_tower(tt, data, chunk_size=args.chunk_size)
        wall = time.perf_counter() - t0
        rows.append({
            "workload": f"eval-{model}", "users": out["n_eval_users"], "items": data.n_items,
            "chunk_size": args.chunk_size, "compile_s": compile_s, "eval_s": wall,
            "users_per_s": out["n_eval_users"] / wall, "peak_rss_mb": peak_rss_mb(),
            "backend": jax.default_backend(),
        })
    return rows
