"""`jaxsae bench scale`: `jaxsae run` end to end on planted synthetic data, every stage timed, with peak RSS.

Runs `jaxsae run --dataset synthetic --size SIZE --out OUT` (the `ml25m` preset is ML-25M size: 162,541
users x 59,047 items, about 25M interactions; the synthetic data is generated inside `prepare`) as a
child process, echoes its log with the elapsed time, samples the resident memory of the child every
`--sample-s` seconds and attributes it to the stage running then (from the `[jaxsae run] STAGE:` lines),
and reads the CPU seconds (user + system, the run and its stage processes) at every stage line.
Rows: one per stage (`stage, seconds, cpu_s, peak_rss_gib`, seconds from the run's `pipeline.json`),
then a `total` row (wall time, CPU seconds, peak RSS of the whole run, the machine's CPU count and its
load average at the end: on a shared machine wall time is inflated by the load, CPU seconds much less). `--max-rss-gib` stops the run when
it exceeds that much memory (a shared machine), `--timeout-s` when it runs too long.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

STAGE_LINE = re.compile(r"^\[jaxsae run\] ([a-z_]+(?: [a-z_]+ \S+)?): jaxsae ")


def rss_bytes(pid: int) -> int:
    """Resident memory of `pid` and its children (Linux /proc; 0 when unreadable)."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid`, of its children it has waited for, and of its live children
    (Linux /proc; 0 for what is unreadable)."""
    tick = os.sysconf("SC_CLK_TCK")

    def stat(p: int) -> float:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return 0.0
        return sum(int(f) for f in fields[11:15]) / tick  # utime, stime, cutime, cstime

    try:
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        children = []
    return stat(pid) + sum(stat(c) for c in children)


def run_pipeline(argv: List[str], max_rss_gib: float, timeout_s: float, sample_s: float = 0.5,
                 log: Any = print) -> Dict[str, Any]:
    """Run `argv` (a `jaxsae run` command), echo its output with elapsed times and track peak RSS per stage.

    Returns `{"rc", "wall_s", "cpu_s", "peak_rss_gib", "stage_peak_gib": {stage: GiB}, "stage_cpu_s":
    {stage: CPU seconds}, "stopped": reason or None}`."""
    t0 = time.perf_counter()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    state: Dict[str, Any] = {"stage": "start", "peak": 0, "stage_peak": {}, "stopped": None}

    def sample() -> None:
        while proc.poll() is None:
            rss = rss_bytes(proc.pid)
            state["peak"] = max(state["peak"], rss)
            st = state["stage"]
            state["stage_peak"][st] = max(state["stage_peak"].get(st, 0), rss)
            elapsed = time.perf_counter() - t0
            reason = (f"peak RSS {rss / 2**30:.1f} GiB > {max_rss_gib} GiB" if rss > max_rss_gib * 2**30 else
                      f"running {elapsed:.0f} s > {timeout_s:.0f} s" if elapsed > timeout_s else None)
            if reason:
                state["stopped"] = reason
                proc.kill()
                return
            time.sleep(sample_s)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    assert proc.stdout is not None
    stage_cpu: Dict[str, float] = {}
    cpu_at = 0.0
    for line in proc.stdout:
        m = STAGE_LINE.match(line)
        if m:
            now = cpu_seconds(proc.pid)
            stage_cpu[state["stage"]] = stage_cpu.get(state["stage"], 0.0) + now - cpu_at
            cpu_at, state["stage"] = now, m.group(1)
        log(f"[bench scale {time.perf_counter() - t0:7.1f}s] {line.rstrip()}")
    rc = proc.wait()
    watcher.join(timeout=5)
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    stage_cpu[state["stage"]] = stage_cpu.get(state["stage"], 0.0) + max(cpu_s - cpu_at, 0.0)
    return {"rc": rc, "wall_s": time.perf_counter() - t0, "cpu_s": cpu_s, "peak_rss_gib": state["peak"] / 2**30,
            "stage_peak_gib": {k: v / 2**30 for k, v in state["stage_peak"].items()}, "stage_cpu_s": stage_cpu,
            "stopped": state["stopped"]}


def stage_rows(out: Path, result: Dict[str, Any], size: str) -> List[Dict[str, Any]]:
    """One row per stage of `out/pipeline.json` (seconds, status) with the stage's peak RSS, then the total."""
    rows: List[Dict[str, Any]] = []
    pipeline = out / "pipeline.json"
    stages = json.loads(pipeline.read_text()).get("stages", []) if pipeline.exists() else []
    for s in stages:
        rows.append({"workload": "scale", "size": size, "stage": s["stage"], "status": s["status"],
                     "seconds": s["seconds"], "cpu_s": result.get("stage_cpu_s", {}).get(s["stage"]),
                     "peak_rss_gib": result["stage_peak_gib"].get(s["stage"])})
    rows.append({"workload": "scale", "size": size, "stage": "total", "rc": result["rc"],
                 "seconds": result["wall_s"], "cpu_s": result.get("cpu_s"), "peak_rss_gib": result["peak_rss_gib"],
                 "stopped": result["stopped"],
                 "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
                 "load_avg_1m": round(os.getloadavg()[0], 2)})
    return rows


def run(args: argparse.Namespace) -> List[Dict[str, Any]]:
    """Rows for `jaxsae bench scale` (`--size`, `--out`, `--max-rss-gib`, `--timeout-s`)."""
    size = getattr(args, "size", None) or "ml25m"
    out = Path(getattr(args, "out", None) or f"runs/bench-scale-{size}")
    argv = [sys.executable, "-m", "jaxsae", "run", "--dataset", "synthetic", "--size", size, "--out", str(out)]
    if getattr(args, "force", True):
        argv += ["--force", "prepare"]  # every stage downstream reruns too: a cold run end to end
    log = (lambda m: print(m, file=sys.stderr, flush=True))
    log(f"[bench scale] {' '.join(argv)}")
    result = run_pipeline(argv, float(getattr(args, "max_rss_gib", 8.0)), float(getattr(args, "timeout_s", 3600)),
                          log=log)
    return stage_rows(out, result, size)

