"""Run the PyTorch peer baseline (`shared/baselines/run.sh`) with the same sizes, in the same run.

The benchmarks compare jaxsae against a PyTorch re-implementation of the paper's training loops side by side
on one machine. `jaxsae bench ... --baseline DIR` calls `DIR/run.sh` for each matching mode and
implementation and adds `torch_<impl>_steps_per_s` and `speedup_vs_<impl>` to the JAX rows.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from jaxsae.errors import JaxsaeError

# jaxsae workload -> baseline mode (and extra args)
MODES: Dict[str, List[str]] = {
    "mf-sae": ["--mode", "mf-sae"],
    "ncf-sae": ["--mode", "ncf-sae"],
    "matryoshka-sae": ["--mode", "matryoshka-sae"],
    "mf-train": ["--mode", "mf-train", "--optim", "sgd"],
    "mf-train-adam": ["--mode", "mf-train", "--optim", "adam"],
}
IMPLS: Dict[str, List[str]] = {
    "reference": ["--impl", "reference"],
    "idiomatic": ["--impl", "idiomatic"],
    "compiled": ["--impl", "idiomatic", "--compile"],
}


def run_baseline(baseline_dir: "str | Path", workload: str, impl: str, users: int, items: int, dim: int,
                 latents: int, batch_size: int, epochs: int = 1, max_steps: Optional[int] = None,
                 timeout_s: float = 1800.0) -> Dict[str, Any]:
    """One baseline run; returns its JSON line as a dict."""
    script = Path(baseline_dir) / "run.sh"
    if not script.exists():
        raise JaxsaeError(f"{script}: baseline script not found (pass --baseline DIR holding run.sh)")
    if workload not in MODES or impl not in IMPLS:
        raise JaxsaeError(f"no baseline for workload {workload!r} / impl {impl!r}")
    cmd = ["bash", str(script), *MODES[workload], *IMPLS[impl], "--synthetic", str(users), str(items), str(dim),
           "--latent", str(latents), "--batch", str(batch_size), "--epochs", str(epochs)]
    if max_steps:
        cmd += ["--max-steps", str(max_steps)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise JaxsaeError(f"baseline {' '.join(cmd[2:])} failed (exit {proc.returncode}): {tail[0]}")
    out = json.loads(lines[-1])
    out["command"] = " ".join(cmd[1:])
    return out


def attach_baselines(rows: List[Dict[str, Any]], baseline_dir: "str | Path", impls: Sequence[str],
                     log: Any = print) -> List[Dict[str, Any]]:
    """For each JAX row with a known workload, run the baselines and add speed-up ratios."""
    for row in rows:
        workload = row.get("baseline_workload", row.get("workload"))
        if workload not in MODES:
            continue
        for impl in impls:
            log(f"[bench] torch baseline {workload} --impl {impl} ...")
            b = run_baseline(baseline_dir, workload, impl, row.get("users", 6040), row.get("items", 3706),
                             row.get("dim", 20), row.get("latents", 22), row.get("batch_size", 256))
            row[f"torch_{impl}_steps_per_s"] = b["steps_per_s"]
            if row.get("steps_per_s"):
                row[f"speedup_vs_{impl}"] = row["steps_per_s"] / b["steps_per_s"]
            row[f"torch_{impl}_command"] = b["command"]
    return rows
