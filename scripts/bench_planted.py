"""Time the planted generator and `prepare` separately at a synthetic preset's size (wall, CPU, peak RSS).

    python scripts/bench_planted.py --size ml25m

Prints one JSON line per phase: `generate` (`data_prep.synthetic.generate`) and `prepare`
(`data_prep.preprocess.prepare` with the default options); `peak_rss_gib` is the process's peak so far
(`ru_maxrss`), so the prepare row includes the raw data that generate left in memory.
"""
from __future__ import annotations

import argparse
import json
import resource
import time

from data_prep import synthetic
from data_prep.preprocess import PrepareOptions, prepare


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="ml25m", help="synthetic preset (ml25m, ml1m, demo, ...)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    def row(phase: str, t0: float, c0: float, **extra: object) -> None:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        print(json.dumps({"phase": phase, "size": args.size, "wall_s": round(time.perf_counter() - t0, 1),
                          "cpu_s": round(time.process_time() - c0, 1), "peak_rss_gib": round(peak, 2), **extra}),
              flush=True)

    t0, c0 = time.perf_counter(), time.process_time()
    raw = synthetic.generate(synthetic.preset(args.size, seed=args.seed))
    row("generate", t0, c0, rows=raw.n_rows)
    t0, c0 = time.perf_counter(), time.process_time()
    data = prepare(raw, PrepareOptions(seed=args.seed))
    row("prepare", t0, c0, users=data.n_users, items=data.n_items, train=data.n_train)


if __name__ == "__main__":
    main()
