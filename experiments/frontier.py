"""The sparsity / fidelity / concept-recall frontier of SAE variants on trained recommenders.

    jaxsae prepare lastfm-hetrec-2k --data-dir DATA/lastfm-hetrec-2k --out runs/hetrec && jaxsae train-rec runs/hetrec
    python -m experiments.frontier runs/hetrec runs/ml100k --seeds 0 --steps 3000 [--variants a,b] [--json out.jsonl]
    python -m experiments.frontier runs/sparse --write-sparse ml-1m && jaxsae train-rec runs/sparse  # the sparse proxy
    python -m experiments.frontier RUN... --from-sweep   # rows (setting x seed) of each RUN/sweep/sweep.json
    python -m experiments.frontier RUN... --targets      # the targets row of each finished run

For every run directory (its `data/` and `rec/`, the recommender's defaults) and every variant x seed:
train the SAE (the sweep's base: bias-folded MF inputs without row normalization, embedding + MSE
prediction loss), then measure on the items and the held-out users what `jaxsae analyze` reports:
density (active latents per item and per user / h), held-out rbo@30 / kendall_tau@30, clear concepts
(purity@10 >= 0.9 and >= 0.2 above the 30-seed null), the probe bound and concept recall (genre/tag
concepts), and the best |Spearman| of a neuron with item popularity. Prints one markdown row per run.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np

BASE: Dict[str, Any] = {"fold_biases": True, "normalize": False, "w_emb": 0.1, "w_pred": 1.0, "w_kl": 0.0,
                        "w_l1": 0.0}
VARIANTS: Dict[str, Dict[str, Any]] = {
    "topk h64 k32": dict(sae="topk", latents=64, k=32),
    "topk h64 k8": dict(sae="topk", latents=64, k=8),
    "topk h256 k8": dict(sae="topk", latents=256, k=8),
    "topk h256 k16": dict(sae="topk", latents=256, k=16),
    "batchtopk h256 k8": dict(sae="batchtopk", latents=256, k=8),
    "batchtopk h256 k8 auxk": dict(sae="batchtopk", latents=256, k=8, aux_k=32),
    "batchtopk h256 k8 auxk w1": dict(sae="batchtopk", latents=256, k=8, aux_k=32, w_aux=1.0),
    "batchtopk h256 k8 dense4": dict(sae="batchtopk", latents=256, k=8, dense_latents=4),
    "batchtopk h256 k8 auxk dense4": dict(sae="batchtopk", latents=256, k=8, aux_k=32, dense_latents=4),
    "mbatchtopk h256 k8": dict(sae="matryoshka_batchtopk", latents=256, k=8, prefixes=(16, 64, 256)),
    "batchtopk h512 k16": dict(sae="batchtopk", latents=512, k=16),
}
NULL_SEEDS = 30


def _probe(x: np.ndarray, conc: np.ndarray, h: int, cache: Dict[Tuple[int, int], Any]) -> Any:
    from jaxsae.analysis import probe_bound

    key = (id(x), h)
    if key not in cache:
        cache[key] = probe_bound(x, conc, h, splits=5, null_seeds=NULL_SEEDS)
    return cache[key]


def measure(run: Path, name: str, overrides: Dict[str, Any], seed: int, steps: int,
            cache: Dict[Any, Any]) -> Dict[str, Any]:
    """One variant x seed on one run: the frontier row."""
    from data_prep.dataset import InteractionData
    from jaxsae.analysis import activations as act
    from jaxsae.analysis import popularity_analysis, purity_at_k, random_direction_null
    from jaxsae.analysis import density
    from jaxsae.analysis import CONTENT_FAMILIES
    from jaxsae.analysis import is_clear, recall
    from jaxsae.app.runs import load_run_recommender
    from jaxsae.sae import SAETrainConfig
    from jaxsae.training.sae import train_sae

    data = cache.setdefault(("data", run), InteractionData.load(run / "data"))
    tt = cache.setdefault(("rec", run), load_run_recommender(run))
    cfg = SAETrainConfig(**{**BASE, **overrides, "steps": steps, "seed": seed, "log_every": max(1, steps // 4),
                            "checkpoint_every": steps})
    t0 = time.perf_counter()
    sae, metrics = train_sae(tt, data, cfg, log=lambda _: None)
    train_s = time.perf_counter() - t0
    print(f"[frontier] {run.name} {name} seed {seed}: trained in {train_s:.0f} s", file=sys.stderr, flush=True)
    a = act.item_activations(sae)
    users = act.user_activations(sae)[np.asarray(sae.heldout_users)]
    x = cache.setdefault(("x", run), act.encoder_inputs(sae, sae.input_two_tower.item_emb))
    fam = np.array(data.concept_families)
    keep = np.isin(fam, CONTENT_FAMILIES)
    conc = cache.setdefault(("conc", run), np.asarray(data.concepts, bool)[:, keep])
    p10 = np.asarray(purity_at_k(a, conc, (10,)))[0].max(axis=0)
    null = random_direction_null(x, conc, cfg.latents, (10,), tuple(range(NULL_SEEDS))).best[0]
    sae_clear = is_clear(p10, null)
    probe = _probe(x, conc, cfg.latents, cache)
    rec = recall(sae_clear, probe.probe_clear)
    dn = density(a, users)
    pop = popularity_analysis(a, data.popularity)
    return {"run": run.name, "variant": name, "seed": seed, "steps": steps, "train_s": round(train_s, 1),
            "item_density": dn["item_density"], "user_density": dn["user_density"], "n_dead": dn["n_dead"],
            "n_dense": dn["n_dense"], "rbo@30": metrics.get("rbo@30"), "kendall_tau@30": metrics.get("kendall_tau@30"),
            "fvu": metrics.get("fvu"), **rec, "popularity_spearman": pop["spearman"], "n_concepts": int(conc.shape[1])}


def row_md(r: Dict[str, Any]) -> str:
    f = lambda v, d=2: "-" if v is None else f"{v:.{d}f}"  # noqa: E731
    rec = "-" if r["concept_recall"] is None else f"{r['sae_clear_among_probe_clear']}/{r['probe_clear']}"
    return (f"| {r['run']} | {r['variant']} | {r['seed']} | {f(r['item_density'], 3)} / {f(r['user_density'], 3)} | "
            f"{r['n_dead']} / {r['n_dense']} | {f(r['rbo@30'])} / {f(r['kendall_tau@30'])} | {r['sae_clear']} | {rec} | "
            f"{f(r['popularity_spearman'])} | {r['train_s']:.0f} |")


HEADER = ("| run | variant | seed | density items / users | dead / dense | rbo@30 / tau@30 | SAE-clear | recall | "
          "popularity rho | train s |\n|---|---|---|---|---|---|---|---|---|---|")


def _label(params: Dict[str, Any], config: Dict[str, Any]) -> str:
    """`topk h512 k32 dense4 (3000 steps)`: a sweep setting as the frontier names it."""
    out = f"{config['sae']} h{config['latents']}" + (f" k{config['k']}" if config.get("k") else "")
    if config.get("dense_latents"):
        out += f" dense{config['dense_latents']}"
    if config.get("aux_k"):
        out += " auxk"
    return out + ("" if config.get("steps") == 3000 else f" ({config.get('steps')} steps)")


def sweep_rows(run: Path) -> List[str]:
    """Markdown rows, one per setting x seed, of `RUN/sweep/sweep.json` (validation users and items):
    `| run | variant | seed | density items / users | rbo@30 / tau@30 | clear | popularity \\|rho\\| | chosen |`."""
    doc = json.loads((run / "sweep" / "sweep.json").read_text())
    rows = []
    for s in doc["settings"]:
        mark = "chosen" if s["id"] == doc["chosen"] else ("shortlist" if s["id"] in doc["rule"].get("shortlist", ())
                                                          else "")
        for r in s["per_seed"]:
            rows.append(f"| {run.name} | {_label(s['params'], s['config'])} | {r['seed']} | "
                        f"{r['item_density']:.3f} / {r['user_density']:.3f} | {r['rbo@30']:.2f} / "
                        f"{r['kendall_tau@30']:.2f} | {r['clear_concepts']} | {r['popularity_rho']:.2f} | {mark} |")
    return rows


SWEEP_HEADER = ("| run | variant | seed | density items / users | rbo@30 / tau@30 (validation) | clear | "
                "popularity \\|rho\\| "
                "| rule |\n|---|---|---|---|---|---|---|---|")


def target_row(run: Path) -> str:
    """The targets table's row for a finished `jaxsae run` (or train-sae + analyze) directory: density per
    item / user (held-out users), held-out rbo@30 / tau@30, clear concepts, recall, popularity |rho|, and
    which targets are met (density <= .10 both; rbo >= .8 and tau >= .5; recall >= .5 and >= 3 clear where
    >= 6 are probe-clear, n/a without probe-clear concepts; |rho| >= .7)."""
    m = json.loads((run / "sae" / "metrics.json").read_text())
    b = json.loads((run / "analysis" / "bound.json").read_text())
    pop = json.loads((run / "analysis" / "popularity.json").read_text())
    d = b["density"]
    rho = abs(pop["spearman"] or 0.0)
    rec = b["concept_recall"]
    ok = {"density": d["item_density"] <= 0.10 and (d["user_density"] or 0.0) <= 0.10,
          "fidelity": m["rbo@30"] >= 0.8 and m["kendall_tau@30"] >= 0.5,
          "recall": None if rec is None else rec >= 0.5 and (b["probe_clear"] < 6 or b["sae_clear"] >= 3),
          "popularity": rho >= 0.7}
    setting = _label({}, json.loads((run / "sae" / "config.json").read_text())["config"])
    met = ", ".join(f"{k} {'n/a' if v is None else 'yes' if v else 'NO'}" for k, v in ok.items())
    recall = "-" if rec is None else f"{b['sae_clear_among_probe_clear']}/{b['probe_clear']}"
    return (f"| {run.name} | {setting} | {d['item_density']:.3f} / {d['user_density']:.3f} | {m['rbo@30']:.2f} / "
            f"{m['kendall_tau@30']:.2f} | {b['sae_clear']} | {recall} | {rho:.2f} | {met} |")


TARGET_HEADER = ("| data | chosen SAE | density items / users | rbo@30 / tau@30 (held-out) | clear | recall | "
                 "popularity \\|rho\\| | targets |\n|---|---|---|---|---|---|---|---|")


def main(argv: "List[str] | None" = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names of VARIANTS")
    p.add_argument("--seeds", default="0")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--json", type=Path, default=None, help="append one JSON row per measurement")
    p.add_argument("--write-sparse", default=None, metavar="NAME",
                   help="only write RUN/data of the sparse proxy of dataset NAME (experiments.rec_grid) for the "
                        "one RUN given, for `jaxsae train-rec RUN`")
    p.add_argument("--from-sweep", action="store_true", help="only print the rows of each RUN/sweep/sweep.json")
    p.add_argument("--targets", action="store_true", help="only print each finished run's targets row")
    args = p.parse_args(argv)
    if args.from_sweep or args.targets:
        print(SWEEP_HEADER if args.from_sweep else TARGET_HEADER)
        for run in args.runs:
            print("\n".join(sweep_rows(run)) if args.from_sweep else target_row(run))
        return
    if args.write_sparse:
        from experiments.rec_grid import SPARSE_PREFIX, load_prepared

        data = load_prepared(SPARSE_PREFIX + args.write_sparse)
        data.save(args.runs[0] / "data")
        counts = np.diff(np.asarray(data.train_indptr))
        print(f"wrote {args.runs[0] / 'data'}: {data.n_users} users x {data.n_items} items, median "
              f"{np.median(counts):g} training positives per user")
        return
    cache: Dict[Any, Any] = {}
    print(HEADER, flush=True)
    for run in args.runs:
        for name in args.variants.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                r = measure(run, name, VARIANTS[name], seed, args.steps, cache)
                print(row_md(r), flush=True)
                if args.json is not None:
                    with open(args.json, "a") as fh:
                        fh.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
