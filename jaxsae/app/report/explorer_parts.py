"""The parts of the explorer's document read from a run's JSON files: headline, concepts, groups, users, steering."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from jaxsae.app.report.collect import RunData
from jaxsae.app.report.explorer_arrays import _num, _sig
from jaxsae.app.report.sections import ABLATION_KEYS, benchmark_tables, purity_summary
from data_prep.dataset import InteractionData
from jaxsae.app.runs import load_run_sae

KS = (5, 10, 20, 50)
FAMILY_ORDER = ("genre", "tag", "decade", "popularity")


def headline(run: RunData, digits: int = 3) -> Dict[str, Any]:
    """The run's headline figures: recommender vs most popular, fidelity, MS, purity counts, concept
    recall against the probe bound with the code's density, ablation."""

    out: Dict[str, Any] = {"rec": None, "fidelity": None, "ms": None, "purity": None, "ablation": None, "bound": None}
    if run.rec is not None:
        pop = run.rec.get("most_popular") or {}
        keys = [k for k in ("hit@10", "ndcg@10", "recall@20", "mpr") if k in run.rec]
        out["rec"] = {"model": str(run.rec.get("model", "model")),
                      "rows": [[k, _sig(run.rec.get(k), digits), _sig(pop.get(k), digits)] for k in keys]}
    if run.sae is not None:
        keys = [k for k in ("rbo@30", "kendall_tau@30", "overlap@30", "fvu", "l0", "dead_fraction") if k in run.sae]
        out["fidelity"] = {"sae": str(run.sae.get("sae", "?")), "latents": run.sae.get("latents"),
                           "k": run.sae.get("k"), "rows": [[k, _sig(run.sae.get(k), digits)] for k in keys]}
    if run.ms is not None:
        out["ms"] = _sig(run.ms.get("ms"), digits)
    if run.concepts is not None:
        out["purity"] = purity_summary(run.concepts)
    if isinstance(run.bound, dict):
        dn = run.bound.get("density") or {}
        out["bound"] = {k: run.bound.get(k) for k in ("sae_clear", "probe_clear", "sae_clear_among_probe_clear",
                                                          "concept_recall", "null_seeds")}
        out["bound"].update({k: dn.get(k) for k in ("item_density", "user_density", "n_dead", "n_dense")})
    if run.ablation is not None:
        rows = sorted([r for r in run.ablation if isinstance(r, dict)], key=lambda r: _num(r.get("w_pred")) or 0.0)
        out["ablation"] = {"keys": list(ABLATION_KEYS),
                           "rows": [[_sig(r.get(k), digits) for k in ABLATION_KEYS] for r in rows]}
    return out


def _concepts_part(run: RunData, names: Sequence[str], families: Sequence[str], digits: int) -> Dict[str, Any]:
    rows = {str(r.get("concept")): r for r in (run.concepts or []) if isinstance(r, dict)}
    part: Dict[str, Any] = {"names": list(names), "families": list(families), "neuron": [], "purity": [],
                            "null": [], "base": []}
    for name in names:
        r = rows.get(name, {})
        nv = r.get("neuron")
        part["neuron"].append(int(nv) if isinstance(nv, int) else -1)
        part["purity"].append([_sig(r.get(f"purity@{k}"), digits) for k in KS])
        part["null"].append([_sig(r.get(f"null_purity@{k}"), digits) for k in KS])
        part["base"].append(_sig(r.get("base_rate"), digits))
    return part


def _per_neuron(values: Any, key: str, h: int) -> List[Optional[float]]:
    vals = values if isinstance(values, list) else []
    out = [_num(v.get(key) if isinstance(v, dict) else v) for v in vals][:h]
    return out + [None] * (h - len(out))


def _groups(run: RunData, prefixes: Optional[Sequence[int]], h: int) -> Tuple[Optional[List[Dict[str, Any]]], List[int]]:
    """Matryoshka groups (from hierarchy.json, else from the SAE's prefixes) and each latent's group (-1: none)."""
    groups: Optional[List[Dict[str, Any]]] = None
    if run.hierarchy:
        groups = [{k: (_sig(v) if isinstance(v, float) else v) for k, v in g.items() if not isinstance(v, (list, dict))}
                  for g in run.hierarchy if isinstance(g, dict)]
    elif prefixes:
        starts = [0] + list(prefixes[:-1])
        groups = [{"group": j, "start": int(s), "end": int(e)} for j, (s, e) in enumerate(zip(starts, prefixes))]
    of = [-1] * h
    for g in groups or []:
        s, e = g.get("start"), g.get("end")
        if isinstance(s, int) and isinstance(e, int):
            for n in range(max(0, s), min(h, e)):
                of[n] = int(g.get("group", 0))
    return groups, of


def _user_rows(n_users: int, heldout: np.ndarray, extra: Sequence[int], max_users: int) -> np.ndarray:
    """Dense indices of the users the page embeds: held-out users, then the rest by index, up to
    `max_users`, plus every user in `extra` (top users, steering samples)."""
    held = [int(u) for u in np.asarray(heldout).tolist() if 0 <= int(u) < n_users]
    seen = set(held)
    order = held + [u for u in range(n_users) if u not in seen] if len(held) < max_users else held
    chosen = order[:max_users]
    return np.asarray(sorted(set(chosen) | {int(u) for u in extra if 0 <= int(u) < n_users}), np.int64)


def _steering(run: RunData, digits: int) -> List[Dict[str, Any]]:
    out = []
    for rec in run.interventions:
        kind = str(rec.get("_kind"))
        if kind not in ("filter", "nudge", "promote"):
            continue
        neurons = rec.get("neurons") or ([rec.get("neuron")] if rec.get("neuron") is not None else [])
        if kind == "filter":
            summary = [["share before", _sig(rec.get("concept_share_before"), digits)],
                       ["share after", _sig(rec.get("concept_share_after"), digits)],
                       ["removed", _sig(rec.get("removal"), digits)],
                       ["rest RBO", _sig(rec.get("rest_rbo"), digits)],
                       ["min rest RBO", _sig(rec.get("min_rest_rbo"), digits)],
                       ["area removal vs rest RBO", _sig(rec.get("removal_auc"), digits)]]
            if rec.get("headline"):
                summary.append(["headline", str(rec.get("headline"))])
            if rec.get("curve"):
                summary.append(["removal/rest RBO by level", ", ".join(
                    f"{_sig(c.get('level'), digits)}: {_sig(c.get('removal'), 2)}/{_sig(c.get('rest_rbo'), 2)}"
                    for c in rec["curve"] if isinstance(c, dict))])
        elif kind == "nudge":
            last = (rec.get("per_level") or [{}])[-1] if rec.get("per_level") else {}
            summary = [["share before", _sig(rec.get("concept_share_before"), digits)],
                       ["share at strongest level", _sig(last.get("concept_share"), digits)]]
        else:
            summary = [["entered top-k", _sig(rec.get("entered_top_k_fraction"), digits)]]
        summary.append(["audience", rec.get("audience_size")])
        samples = [s for s in (rec.get("samples") or []) if isinstance(s, dict)]
        out.append({
            "kind": kind, "target": str(rec.get("concept") if kind != "promote" else (rec.get("title") or rec.get("item"))),
            "concept": rec.get("concept"), "item": rec.get("item_index"), "neurons": [n for n in neurons if isinstance(n, int)][:12],
            "n_neurons": len(neurons), "k": rec.get("k"), "method": rec.get("method"), "file": rec.get("_file"),
            "level": _sig(samples[0].get("level") if samples else rec.get("level"), digits),
            "summary": summary,
            "samples": [{"user": int(s.get("user", -1)), "user_id": str(s.get("user_id", s.get("user"))),
                         "before": [int(v) for v in s.get("before") or []],
                         "after": [int(v) for v in s.get("after") or []]} for s in samples],
        })
    return out


def _benchmark(run: RunData, digits: int) -> List[Dict[str, Any]]:
    """The steering benchmark's tables (`benchmark_tables` of each `interventions/benchmark*.json`): per
    table a title, its header and rows of significant-digit numbers; the steering view shows them."""
    out = []
    for rec in run.interventions:
        if str(rec.get("_kind")) != "benchmark":
            continue
        c, p = rec.get("concept") or {}, rec.get("popularity") or {}
        titles = (f"Steering towards {c.get('concept')} (SAE neuron {c.get('neuron')}) against the label baseline, "
                  f"{c.get('n_users')} held-out users", f"Lowering popularity: SAE neuron {p.get('neuron')} against "
                  "popularity down-weighting")
        for title, (header, rows) in zip(titles, benchmark_tables(rec)):
            if rows:
                out.append({"title": title, "file": rec.get("_file"), "header": list(header),
                            "rows": [[r[0]] + [_sig(v, digits) for v in r[1:]] for r in rows]})
    return out


def _load_arrays(run_dir: Path, notes: List[str]) -> Tuple[Any, Any]:
    """`(InteractionData, TrainedSAE)` when the run has them, else None in their place with a note."""
    data = sae = None
    if (run_dir / "data" / "meta.json").exists():
        try:

            data = InteractionData.load(run_dir / "data")
        except Exception as e:  # noqa: BLE001 - any unreadable data only costs the views that need it
            notes.append(f"data/ could not be read ({type(e).__name__}: {e}); titles and concepts from the JSON only")
    else:
        notes.append("no data/ (run `jaxsae prepare`): item titles and concepts from the JSON only")
    if data is not None and (run_dir / "sae").is_dir():
        try:

            sae = load_run_sae(run_dir)
            if sae.input_two_tower.n_items != data.n_items:
                notes.append("the SAE's recommender does not match data/: activations not shown")
                sae = None
        except Exception as e:  # noqa: BLE001
            notes.append(f"the SAE could not be loaded ({type(e).__name__}: {e}): histograms, top users and search "
                         "by item and user need it")
    elif data is not None:
        notes.append("no sae/ (run `jaxsae train-sae`): histograms, top users and search need it")
    return data, sae
