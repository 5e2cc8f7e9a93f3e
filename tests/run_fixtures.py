"""Shared runs: a fake run directory with the JSON every stage writes (docs/ARCHITECTURE.md), for report tests,
and the tiny real run (synthetic tiny -> MF -> TopK SAE) behind the session fixture `tiny_run` (tests/conftest.py)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

ALL_STAGES = ("data", "rec", "sae", "analysis", "interventions", "ablation", "pipeline")
GENRES = ("Action", "Comedy", "Horror", "Drama")


def _w(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def write_fake_run(run: Path, stages: Iterable[str] = ALL_STAGES, matryoshka: bool = True, h: int = 8,
                   w_preds: Iterable[float] = (0, 1, 2, 5, 10)) -> Path:
    """Write the JSON outputs of `stages` into `run` with small, recognizable values."""
    stages = set(stages)
    names = list(GENRES) + ["1990s", "popular"]
    fams = ["genre"] * len(GENRES) + ["decade", "popularity"]
    if "data" in stages:
        _w(run / "data/summary.json", {"dataset": "synthetic", "n_users": 200, "n_items": 150, "n_interactions": 4000,
                                       "n_train": 3000, "n_test_users": 180, "n_test": 5, "density": 0.1,
                                       "concepts": names, "concept_families": fams,
                                       "concept_counts": [40, 35, 12, 50, 30, 15], "items_with_year": 150})
    if "rec" in stages:
        ranking = {"hit@10": 0.61, "ndcg@10": 0.33, "mrr@10": 0.25, "recall@10": 0.30, "hit@20": 0.75,
                   "ndcg@20": 0.37, "mrr@20": 0.26, "recall@20": 0.45, "mpr": 0.12}
        _w(run / "rec/metrics.json", {"model": "mf", **ranking, "n_eval_users": 180, "train_s": 1.5, "epochs": 3,
                                      "history": [{"epoch": e, "loss": 0.7 - 0.1 * e} for e in range(3)],
                                      "most_popular": {k: v / 2 for k, v in ranking.items()}})
    if "sae" in stages:
        _w(run / "sae/metrics.json", {"sae": "matryoshka" if matryoshka else "topk", "latents": h, "k": 2,
                                      "fold_biases": True, "steps": 100, "loss": 0.1, "emb": 0.05, "pred": 0.04,
                                      "kl": 0.0, "l1": 0.01, "l0": 2.0, "dead_fraction": 0.125, "fvu": 0.2,
                                      "rbo@30": 0.71, "rbo_trunc@30": 0.55, "kendall_tau@30": 0.42, "overlap@30": 0.8,
                                      "hit@10": 0.58, "ndcg@10": 0.3, "original": {"hit@10": 0.61, "ndcg@10": 0.33},
                                      "train_s": 2.0, "steps_per_s": 50.0})
        _w(run / "sae/history.json", [{"step": s, "epoch": s // 50, "loss": 1.0 / (s + 1), "emb": 0.5 / (s + 1),
                                       "pred": 0.4 / (s + 1), "kl": 0.0, "l1": 0.01, "l0": 2.0,
                                       "dead_fraction": 0.1, "fvu": 0.9 - s / 200} for s in range(0, 101, 20)])
    if "analysis" in stages:
        nulls = {f"null_purity@{k}": 0.4 for k in (5, 10, 20, 50)}
        nulls.update({f"null_mean_purity@{k}": 0.2 for k in (5, 10, 20, 50)})
        nulls.update({f"null_se@{k}": 0.01 for k in (5, 10, 20, 50)})
        concepts = [{"concept": n, "family": f, "neuron": i, "purity@5": 1.0, "purity@10": 0.95 - 0.1 * i,
                     "purity@20": 0.8, "purity@50": 0.6, **nulls, "base_rate": 0.25, "n_items": 30,
                     "sae_clear": i == 0, "probe_purity@10": 1.0, "probe_null@10": 0.5, "probe_clear_fraction": 0.8,
                     "probe_clear": i < 3, "point_biserial": 0.4, "point_biserial_max": 0.5, "point_biserial_neuron": i,
                     "tfidf_neuron_to_concept": 0.7, "tfidf_concept_to_neuron": 0.6, "tfidf_neuron": i}
                    for i, (n, f) in enumerate(zip(names, fams))]
        _w(run / "analysis/concepts.json", concepts)
        _w(run / "analysis/bound.json", {
            "clear_purity": 0.9, "clear_margin": 0.2, "null_seeds": 30, "null_se@10_mean": 0.01, "null_se@10_max": 0.02,
            "families": ["genre"], "probe": {"splits": 5, "seed": 0, "shrinkage": "auto", "k": 10},
            "sae_clear": 1, "probe_clear": 3, "sae_clear_among_probe_clear": 1, "concept_recall": 1 / 3,
            "density": {"latents": h, "item_density": 0.1, "item_active_mean": 0.8, "firing_fraction": [0.1] * h,
                        "dense_fraction": 0.5, "n_dense": 0, "max_firing_fraction": 0.3, "user_density": 0.12,
                        "user_active_mean": 1.0, "user_firing_fraction": [0.12] * h, "n_dead": 1}})
        neurons = [{"neuron": j, "label": GENRES[j] if j < 2 else None, "best_concept": GENRES[j % 4],
                    "purity@10": 0.9 if j < 2 else 0.3, "popularity_spearman": 0.1 * j, "n_active": 0 if j == h - 1 else 20,
                    "top_items": [{"item": t, "title": f"Item {t} (1994)", "activation": 1.0 - 0.1 * t,
                                   "concepts": [GENRES[j % 4]]} for t in range(3)]} for j in range(h)]
        _w(run / "analysis/neurons.json", neurons)
        # the shapes `jaxsae analyze` writes (tests/app/report/test_report.py checks them against analyze_arrays)
        _w(run / "analysis/popularity.json", {
            "neuron": 3, "spearman": 0.83, "top_k_popularity_percentile": 97.5, "k": 10,
            "positive": {"neuron": 3, "spearman": 0.83, "top_k_popularity_percentile": 97.5},
            "per_neuron": [{"neuron": j, "spearman": 0.1 * j - 0.2, "top_k_popularity_percentile": 50.0 + j}
                           for j in range(h)]})
        _w(run / "analysis/temporal.json", {"year_neuron": 2, "spearman": -0.4, "n_items_with_year": 150,
                                            "per_neuron": [{"neuron": j, "spearman": 0.05 * j} for j in range(h)],
                                            "decades": [{"concept": "1990s", "neuron": 2, "purity@10": 0.7,
                                                         "null_purity@10": 0.3, "base_rate": 0.2}]})
        _w(run / "analysis/ms.json", {"ms": 0.612, "per_neuron": [0.6] * h, "top_n": 30})
        if matryoshka:
            _w(run / "analysis/hierarchy.json", [
                {"group": g, "start": s, "end": e, "n_neurons": e - s, "n_dead": 0, "mean_popularity_percentile": p,
                 "concept_breadth": b, "distinct_concepts": b}
                for g, (s, e, p, b) in enumerate([(0, 2, 80.0, 3.0), (2, 4, 60.0, 2.0), (4, 8, 40.0, 1.5)])])
    if "interventions" in stages:
        _w(run / "interventions/filter-horror.json", {
            "concept": "Horror", "neuron": 2, "k": 20, "levels": [0, -0.5, -1.0, -1.5], "concept_share_before": 0.4,
            "concept_share_after": 0.2, "removal": 0.5, "rest_rbo": 0.84, "level": -1.0, "min_rest_rbo": 0.8,
            "removal_auc": 0.42, "headline": "strongest removal at rest-RBO >= 0.8: 50% of the concept",
            "audience_size": 30,
            "per_level": [{"level": lv, "concept_share_after": 0.4 - 0.1 * i, "removal": 0.25 * i,
                           "rest_rbo": 0.9 - 0.03 * i} for i, lv in enumerate([0, -0.5, -1.0, -1.5])]})
        _w(run / "interventions/benchmark.json", {
            "concept": {"concept": "Horror", "neuron": 2, "k": 20, "n_users": 12,
                        "sae": [{"strength": v, "ndcg": 0.3 - 0.02 * v, "segment_recall": 0.2 + 0.1 * v,
                                 "concept_share": 0.3 + 0.1 * v} for v in (0.0, 1.0, 2.0)],
                        "label": [{"strength": v, "ndcg": 0.3 - 0.05 * v, "segment_recall": 0.2 + 0.1 * v,
                                   "concept_share": 0.3 + 0.1 * v} for v in (0.0, 0.5, 1.0)]},
            "popularity": {"neuron": 1, "k": 20, "n_users": 40, "head": 0.2, "n_tail_items": 80,
                           "sae": [{"strength": v, "ndcg": 0.3 + 0.02 * v, "long_tail_coverage": 0.1 - 0.02 * v,
                                    "gini": 0.9 + 0.01 * v, "long_tail_share": 0.05} for v in (0.0, -1.0)],
                           "downweight": [{"strength": v, "ndcg": 0.3 - 0.04 * v, "long_tail_coverage": 0.1 + 0.1 * v,
                                           "gini": 0.9 - 0.1 * v, "long_tail_share": 0.1} for v in (0.0, 1.0)]}})
        _w(run / "interventions/nudge-comedy.json", {
            "concept": "Comedy", "neuron": 1, "k": 30, "concept_share_before": 0.2,
            "per_level": [{"level": lv, "concept_share": 0.2 + 0.1 * lv} for lv in (1, 2, 3, 4)]})
        _w(run / "interventions/promote-i7.json", {
            "item": "i7", "title": "Item 7 (1994)", "neuron": 5, "k": 20, "audience_size": 25,
            "entered_top_k_fraction": 0.9,
            "per_level": [{"level": lv, "entered_top_k_fraction": lv / 8} for lv in range(0, 9, 2)]})
    if "ablation" in stages:
        _w(run / "ablation/ablation.json", [
            {"w_pred": w, "rbo@30": 0.2 + 0.05 * w, "kendall_tau@30": -0.1 + 0.04 * w, "ms": 0.6, "best_purity@10": 1.0,
             "n_concepts_pure@10": 3, "fvu": 0.2, "l0": 2.0} for w in w_preds])
    if "pipeline" in stages:
        _w(run / "pipeline.json", {"config": {"dataset": "synthetic"},
                                   "stages": [{"stage": "prepare", "status": "ran", "seconds": 1.2}]})
    return run


TINY_LATENTS = 32
# The sweep grid of the tests that run `--sae auto` (a whole `jaxsae run`) without testing the sweep itself: two
# small settings, one seed, so their cost never follows the built-in "default" grid (tests/selection tests that).
# The settings differ in a loss weight only, so they train in one vmapped program: one compilation.
SMALL_SWEEP_GRID = {"base": {"latents": 32, "k": 4, "steps": 300}, "axes": {"w_pred": [0.5, 1.0]}, "seeds": [0]}


def write_small_sweep_grid(path: Path) -> Path:
    """`SMALL_SWEEP_GRID` as the JSON file `--grid` (or a pipeline config's `train_sae.grid`) reads."""
    path.write_text(json.dumps(SMALL_SWEEP_GRID))
    return path


def build_tiny_run(run: Path) -> Path:
    """`run` with data/, rec/ and sae/ for the planted tiny synthetic dataset (6 genres), made through the `jaxsae`
    command line itself (in process). The analyze/intervene/ablate/explorer tests share it: each writes its own
    sub-folder (analysis/, interventions/, ablation/) or works on a copy."""
    from jaxsae.app.cli import main

    assert main(["prepare", "synthetic", "--size", "tiny", "--seed", "0", "--out", str(run)]) == 0
    assert main(["train-rec", str(run), "--model", "mf", "--seed", "0"]) == 0
    assert main(["train-sae", str(run), "--sae", "topk", "--latents", str(TINY_LATENTS), "--k", "4", "--fold-biases",
                 "--w-kl", "0", "--steps", "1000", "--log-every", "500", "--seed", "0"]) == 0
    return run
