"""Size, build time and browser load time of `explorer.html` at scale (BENCHMARKS.md, "Neuron explorer").

Two modes:
- `python experiments/explorer_scale.py RUN`: time the explorer of an existing run directory (after
  `jaxsae run`), then open each view in headless Chromium and read the page's own timings.
- `python experiments/explorer_scale.py --stress --items 30000 --latents 4096 --users 6040`: a catalogue and a
  dictionary larger than any preset: synthetic data of that size, random two-tower embeddings and an untrained
  TopK SAE (its activations are as sparse as a trained one's: exactly k per row), no analysis or interventions.
  Measures the same things; what it shows is the cost of the page, not its content.
Prints one JSON line per measurement.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Dict

ROUTES = ("grid", "neuron/0", "search/a", "steer")


def browser_timings(page: Path, chromium: str, repeats: int = 3) -> Dict[str, Any]:
    """Per view: the page's own load time (navigation start to first view rendered, `data-load-ms`),
    its render time (JSON parse + view, `data-render-ms`) and the whole `chromium --dump-dom` wall time; best of
    `repeats`."""
    import re

    out: Dict[str, Any] = {}
    for route in ROUTES:
        best: Dict[str, float] = {}
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as prof:
                t0 = time.perf_counter()
                dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                      f"--user-data-dir={prof}", "--dump-dom", page.resolve().as_uri() + "#" + route],
                                     capture_output=True, text=True, timeout=300).stdout
                wall = time.perf_counter() - t0
            body = re.search(r"<body[^>]*>", dom).group(0)
            load = float(re.search(r'data-load-ms="([0-9.]+)"', body).group(1))
            render = float(re.search(r'data-render-ms="([0-9.]+)"', body).group(1))
            errors = re.search(r'id="js-errors"[^>]*data-count="(\d+)"', dom)
            assert errors and errors.group(1) == "0", f"{route}: JavaScript errors"
            for key, v in (("load_ms", load), ("render_ms", render), ("dump_dom_s", wall)):
                best[key] = min(best.get(key, float("inf")), v)
        out[route] = {k: round(v, 3 if k.endswith("_s") else 1) for k, v in best.items()}
    return out


def stress_run(items: int, latents: int, users: int, k: int, seed: int = 0):
    """(RunData of an empty run, (InteractionData, TrainedSAE)) at the requested size."""
    import jax
    import numpy as np

    from data_prep.preprocess import prepare
    from data_prep.synthetic import generate, preset
    from jaxsae.recommenders import TwoTower
    from jaxsae.app.report.collect import RunData
    from jaxsae.sae import SAETrainConfig
    from jaxsae.sae import TrainedSAE
    from jaxsae.training.sae import heldout_split
    from jaxsae.training.sae import build_sae, init_state

    data = prepare(generate(preset("ml1m", n_items=items, n_users=users, seed=seed)))
    rng = np.random.default_rng(seed)
    tt = TwoTower.create(rng.normal(size=(data.n_users, 20)).astype("float32"),
                         rng.normal(size=(data.n_items, 20)).astype("float32"))
    config = SAETrainConfig(sae="topk", latents=latents, k=k)
    state = init_state(jax.random.PRNGKey(seed), config, tt.dim)
    _, held = heldout_split(data.n_users, config.heldout_fraction, config.seed)
    sae = TrainedSAE(module=build_sae(config, tt.dim), params=state.params, config=config, input_two_tower=tt,
                     heldout_users=held)
    return RunData(run_dir=Path(tempfile.mkdtemp(prefix="explorer-stress-"))), (data, sae)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", nargs="?", help="run directory (omit with --stress)")
    p.add_argument("--stress", action="store_true")
    p.add_argument("--items", type=int, default=30000)
    p.add_argument("--latents", type=int, default=4096)
    p.add_argument("--users", type=int, default=6040)
    p.add_argument("--k", type=int, default=16)
    p.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = p.parse_args()
    from jaxsae.app.report import load_run
    from jaxsae.app.report.explorer import write_explorer

    t0 = time.perf_counter()
    if args.stress:
        run, arrays = stress_run(args.items, args.latents, args.users, args.k)
        setup = time.perf_counter() - t0
        out = run.run_dir
    else:
        run, arrays, setup = load_run(args.run), None, 0.0
        out = Path(args.run) / "report"
        out.mkdir(exist_ok=True)
    t1 = time.perf_counter()
    page = write_explorer(run, out, arrays=arrays)
    build = time.perf_counter() - t1
    doc_info = {"mode": "stress" if args.stress else "run", "run": str(args.run or out), "setup_s": round(setup, 1),
                "build_s": round(build, 2), "size_mb": round(page.stat().st_size / 1e6, 2)}
    if args.stress:
        doc_info.update(items=args.items, latents=args.latents, users=args.users, k=args.k)
    print(json.dumps(doc_info), flush=True)
    print(json.dumps({"views": browser_timings(page, args.chromium)}), flush=True)


if __name__ == "__main__":
    main()
