"""Side balancing on outside factors: implicit ALS and BPR on ML-100k's training split, a TopK SAE
(h=64, k=8, no row normalization, biases folded only where the model has them: none here) trained with and
without `balance_sides`, over seeds. Prints one JSON row per run and a summary table.

    python -m experiments.byo_balance RUN --tables als=als.npz bpr=bpr.npz [--seeds 0,1,2] [--steps 5000]

RUN holds `jaxsae prepare ml-100k` data; the tables come from `experiments.byo_implicit` on `export-split`.
Per run: genres at purity@10 >= 0.9 (SAE / 5-seed null / beating the null by >= 0.2), RBO@30, Kendall@30,
per-side FVU, MS and the weighted filter of the concept `jaxsae run` would pick.
"""
from __future__ import annotations

import argparse
import json
from typing import List, Optional

import numpy as np


def main(argv: Optional[List[str]] = None) -> int:
    from data_prep.dataset import InteractionData
    from jaxsae.app import steering
    from jaxsae.analysis import AnalysisConfig, analyze
    from jaxsae.app.stages.import_rec import import_recommender
    from jaxsae.app.pipeline import pick_concepts
    from jaxsae.recommenders import load_imported
    from jaxsae.sae import SAETrainConfig
    from jaxsae.training.sae import train_sae
    import shutil
    import tempfile
    from pathlib import Path

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run")
    p.add_argument("--tables", nargs="+", required=True, help="name=path.npz")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--out", default=None, help="JSON lines file")
    a = p.parse_args(argv)
    data = InteractionData.load(Path(a.run) / "data")
    rows = []
    for spec in a.tables:
        name, path = spec.split("=", 1)
        tmp = Path(tempfile.mkdtemp())
        shutil.copytree(Path(a.run) / "data", tmp / "data")
        rec = import_recommender(tmp, [path], log=lambda s: print(s, flush=True))
        tt = load_imported(tmp / "rec")
        for balance in (False, True):
            for seed in [int(s) for s in a.seeds.split(",")]:
                cfg = SAETrainConfig(sae="topk", latents=64, k=8, normalize=False, fold_biases=True, w_emb=0.1,
                                     w_pred=1.0, w_kl=0.0, w_l1=0.0, steps=a.steps, seed=seed, balance_sides=balance,
                                     log_every=a.steps)
                sae, m = train_sae(tt, data, cfg, log=lambda s: None)
                res = analyze(sae, data, AnalysisConfig())
                genres = [r for r in res["concepts"] if r["family"] == "genre"]
                pure = sum(r["purity@10"] >= 0.9 for r in genres)
                null = sum(r["null_purity@10"] >= 0.9 for r in genres)
                clear = sum(r["purity@10"] >= 0.9 and r["purity@10"] - r["null_purity@10"] >= 0.2 - 1e-9 for r in genres)
                concept = pick_concepts(res["concepts"], 1)[0]
                f = steering.filter(steering.open_arrays(sae, data), concept, audience="heldout")
                row = {"model": name, "rec_hit@10": rec["hit@10"], "balance": balance, "c": m["balance_factor"],
                       "seed": seed, "genres_pure": pure, "genres_null": null, "genres_clear": clear,
                       "rbo@30": m["rbo@30"], "kendall_tau@30": m["kendall_tau@30"], "fvu_users": m["fvu_users"],
                       "fvu_items": m["fvu_items"], "error_share_items": m["error_share_items"],
                       "ms": res["ms"]["ms"], "filter": concept, "filter_neuron": f["neuron"],
                       "popularity_neuron": res["popularity"]["neuron"],
                       "share_before": f["concept_share_before"], "share_after": f["concept_share_after"],
                       "rest_rbo": f["rest_rbo"]}
                rows.append(row)
                print(json.dumps(row), flush=True)
                if a.out:
                    with open(a.out, "a") as fh:
                        fh.write(json.dumps(row) + "\n")
    print("| model | balance | c | genres >= .9 (SAE / null / clear) per seed | RBO@30 | Kendall | FVU users / items | MS | filter share, rest-RBO |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in dict.fromkeys(r["model"] for r in rows):
        for balance in (False, True):
            rs = [r for r in rows if r["model"] == name and r["balance"] == balance]
            if not rs:
                continue
            counts = " ".join(f"{r['genres_pure']}/{r['genres_null']}/{r['genres_clear']}" for r in rs)
            mean = lambda k: float(np.mean([r[k] for r in rs]))  # noqa: E731
            filt = "; ".join(f"{r['filter']} {r['share_before']:.2f}->{r['share_after']:.2f} {r['rest_rbo']:.2f}" for r in rs)
            print(f"| {name} | {'on' if balance else 'off'} | {rs[0]['c']:.3g} | {counts} | {mean('rbo@30'):.3f} | "
                  f"{mean('kendall_tau@30'):.3f} | {mean('fvu_users'):.3f} / {mean('fvu_items'):.3f} | {mean('ms'):.3f} | {filt} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
