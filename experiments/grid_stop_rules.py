"""Rules for stopping a grid candidate that is behind the best one so far, measured on the hidden split.

    JAXSAE_DATA_DIR=/work/shared/data python -m experiments.grid_stop_rules ml-100k ml-latest-small \
        lastfm-hetrec-2k ml-1m [--json out.jsonl]

Every MF grid candidate (`grid_candidates(RecConfig())`) is trained once with early stopping and no
stop-when-behind rule, and refitted (the default warm refit); its per-epoch validation curve and CPU
seconds (this process's user + system time, validation included) are recorded, and its refitted model is
scored on the hidden split. Training is deterministic in the seed, so a candidate stopped after T epochs
has the first T epochs of that curve: each rule of `RULES` is replayed on the curves in the grid's order
(the leader is the best candidate so far, as in `train_recommender`), giving the candidate the grid would
keep, the hidden-split figures of its model and the grid's CPU seconds (the epochs each candidate runs plus
the kept one's refit). When a rule stops the kept candidate itself before its patience ran out, that
candidate is retrained for exactly those epochs and refitted (`retrained` in the row). Prints one markdown
row per dataset and rule.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from experiments.rec_grid import load_prepared
from jaxsae.metrics import evaluate_two_tower
from jaxsae.training.rec import RecConfig, behind_leader, grid_candidates, train_recommender

Rule = Callable[[Sequence[float], Sequence[float], Sequence[int]], bool]


def _bsf(own: Sequence[float], lead: Sequence[float]):
    """Best-so-far curves of the candidate and of the leader at the same epochs (the leader's best past its end)."""
    o = np.maximum.accumulate(np.asarray(own, float))
    ld = np.maximum.accumulate(np.asarray(lead, float))
    return o, ld[np.minimum(np.arange(o.size), ld.size - 1)]


def behind(epochs: int = 3, margin: float = 0.0) -> Rule:
    """Behind the leader by more than `margin` (relative) for the last `epochs` epochs."""
    def rule(own, lead, lead_epochs):
        if len(own) < epochs:
            return False
        o, ld = _bsf(own, lead)
        return bool(np.all(o[-epochs:] < (1 - margin) * ld[-epochs:]))
    return rule


def library_rule(own, lead, lead_epochs) -> bool:
    """The grid's rule (`jaxsae.training.rec.behind_leader`): behind for 3 epochs and the gap not closing."""
    return behind_leader([{"val_ndcg@10": x} for x in own], lead, "ndcg@10")


def behind_after(fraction: float, epochs: int = 3) -> Rule:
    """Behind for the last `epochs` epochs, judged only from epoch `fraction` x the leader's best epoch on."""
    base = behind(epochs)

    def rule(own, lead, lead_epochs):
        best = int(np.argmax(np.asarray(lead, float))) + 1
        return len(own) >= max(epochs, int(np.ceil(fraction * best))) and base(own, lead, lead_epochs)
    return rule


RULES: Dict[str, Optional[Rule]] = {
    "no stop": None, "behind 3 (old)": behind(3), "behind 3 by >10%": behind(3, 0.10),
    "behind 3 by >25%": behind(3, 0.25), "behind 3, gap not closing (new)": library_rule,
    "behind 3 after 0.5 x leader's best epoch": behind_after(0.5),
}


def _run(data: Any, cand: Any) -> Dict[str, Any]:
    """Train `cand` (selection + refit), recording the CPU seconds at each selection epoch's log line."""
    marks: List[float] = []
    c0 = time.process_time()

    def log(msg: str) -> None:
        if " epoch " in msg and " refit" not in msg and "best epoch" not in msg:
            marks.append(time.process_time())
    tr = train_recommender(data, cand, log=log)
    total = time.process_time() - c0
    sel_cpu = np.diff([c0] + marks).tolist()
    m = evaluate_two_tower(tr.two_tower, data, ks=(10,))
    curve = [h[f"val_{cand.val_metric}"] for h in tr.history]
    return {"curve": curve, "epoch_cpu": sel_cpu, "refit_cpu": total - sum(sel_cpu),
            "hit@10": m["hit@10"], "ndcg@10": m["ndcg@10"]}


def replay(runs: Dict[str, Dict[str, Any]], order: Sequence[str], rule: Optional[Rule]) -> Dict[str, Any]:
    """The grid under `rule`: epochs run per candidate, the kept one (best validation, earliest on ties) and
    its stop epoch, CPU seconds of the epochs run plus the kept one's refit."""
    leader: Optional[List[float]] = None
    epochs, bests = {}, {}
    for name in order:
        curve = runs[name]["curve"]
        t = len(curve)
        if rule is not None and leader is not None:
            for e in range(1, len(curve) + 1):
                if rule(curve[:e], leader, None):
                    t = e
                    break
        epochs[name], bests[name] = t, max(curve[:t])
        if leader is None or bests[name] > max(leader):
            leader = list(curve[:t])
    kept = max(order, key=lambda n: (bests[n], -order.index(n)))
    cpu = sum(sum(runs[n]["epoch_cpu"][:epochs[n]]) for n in order) + runs[kept]["refit_cpu"]
    return {"epochs": epochs, "kept": kept, "kept_epochs": epochs[kept], "cpu_s": cpu,
            "truncated": epochs[kept] < len(runs[kept]["curve"])}


def measure(name: str) -> List[Dict[str, Any]]:
    """Every rule of `RULES` on dataset `name` (see the module docstring)."""
    data = load_prepared(name)
    cands = dict(grid_candidates(RecConfig()))
    order = list(cands)
    runs = {n: _run(data, cands[n]) for n in order}
    rows = []
    for label, rule in RULES.items():
        r = replay(runs, order, rule)
        res = runs[r["kept"]]
        if r["truncated"]:  # the kept candidate itself stopped early: its model is that shorter run's
            res = _run(data, dataclasses.replace(cands[r["kept"]], epochs=r["kept_epochs"]))
            r["cpu_s"] += res["refit_cpu"] - runs[r["kept"]]["refit_cpu"]
        rows.append({"dataset": name, "rule": label, **r, "hit@10": res["hit@10"], "ndcg@10": res["ndcg@10"],
                     "retrained": r["truncated"],
                     "curves": {n: runs[n]["curve"] for n in order} if label == "no stop" else None})
    return rows


def markdown(rows: List[Dict[str, Any]]) -> str:
    """One row per dataset and rule: kept candidate, hidden-split hit@10 / ndcg@10, epochs run, CPU s."""
    lines = ["| data | rule | kept | hit@10 / ndcg@10 | epochs run (default, d32, d128, bias-only) | grid CPU s |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        ep = ", ".join(str(v) for v in r["epochs"].values())
        lines.append(f"| {r['dataset']} | {r['rule']} | {r['kept']}{' (retrained)' if r['retrained'] else ''} | "
                     f"{r['hit@10']:.3f} / {r['ndcg@10']:.3f} | {ep} | {r['cpu_s']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("datasets", nargs="+")
    ap.add_argument("--json", default=None, help="also append one JSON line per dataset and rule here")
    args = ap.parse_args()
    rows = []
    for name in args.datasets:
        new = measure(name)
        rows += new
        if args.json:
            with open(args.json, "a") as f:
                for r in new:
                    f.write(json.dumps(r) + "\n")
        print(markdown(new), flush=True)
    print(markdown(rows))


if __name__ == "__main__":
    main()
