"""`jaxsae bench eval`: full-ranking evaluation throughput and memory.

One row per model (`--model mf|ncf`, default mf): `workload, users, items, chunk_size, compile_s,
users_per_s, peak_rss_mb`, on the ML-1M-size synthetic data of `jaxsae.app.bench.rec` with a recommender of
random embeddings (ranking cost does not depend on what the scores mean). `compile_s` is the first chunk
(compile + one chunk of work); `users_per_s` is measured on a second full pass.

With `--run RUN` it instead evaluates that run's trained recommender (`RUN/rec`) and the most-popular baseline
on `RUN/data` once each, every test user, as `jaxsae train-rec` does at its end (rows `eval-run-model`,
`eval-run-popular`, with wall and process CPU seconds).
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import jax

from data_prep.dataset import InteractionData

from jaxsae.app.bench.rec import bench_data
from jaxsae.errors import ConfigError
from jaxsae.metrics import evaluate_most_popular, evaluate_two_tower
from jaxsae.training.rec import RecConfig
from jaxsae.training.rec import build_recommender, init_params, load_recommender, to_two_tower


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def _cpu_s() -> Dict[str, float]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return {"user_s": r.ru_utime, "sys_s": r.ru_stime}


def run_dir_rows(run_dir: Path, chunk_size: int) -> List[Dict[str, Any]]:
    """`eval-run-model` and `eval-run-popular`: one full evaluation each of a run's recommender and baseline."""
    data = InteractionData.load(run_dir / "data")
    tt = load_recommender(run_dir / "rec")
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    rows: List[Dict[str, Any]] = []
    for name, fn in (("model", lambda: evaluate_two_tower(tt, data, chunk_size=chunk_size, log=log)),
                     ("popular", lambda: evaluate_most_popular(data, chunk_size=chunk_size, log=log))):
        c0, t0 = _cpu_s(), time.perf_counter()
        out = fn()
        wall, c1 = time.perf_counter() - t0, _cpu_s()
        rows.append({"workload": f"eval-run-{name}", "users": out["n_eval_users"], "items": data.n_items,
                     "chunk_size": chunk_size, "eval_s": wall, "user_s": c1["user_s"] - c0["user_s"],
                     "sys_s": c1["sys_s"] - c0["sys_s"], "ndcg@10": out["ndcg@10"], "peak_rss_mb": peak_rss_mb(),
                     "backend": jax.default_backend()})
    return rows


def run(args: argparse.Namespace) -> List[Dict[str, Any]]:
    """Rows for `jaxsae bench eval`."""
    if getattr(args, "run", None):
        return run_dir_rows(Path(args.run), args.chunk_size)
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
