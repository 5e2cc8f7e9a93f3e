"""`RUN/report/explorer.html`: a browsable, self-contained neuron explorer (SPEC §15, issue 14).

`explorer_data` gathers what the page shows into one compact JSON document (column arrays, rounded
floats, top-N lists, sparse activations); `render_explorer` embeds it in the HTML/CSS/JS template of
`explorer_assets/` (plain JavaScript, no network). The JSON files of the run are always used; when
`RUN/data` and a loadable SAE (`RUN/sae` with `RUN/rec`) are there, item and user activations are
computed from them (histograms, top users, purity at every K, search by item and user). A stage that
did not run leaves its part of the page empty with a note, never a failure.

Document layout (`v` = 1), arrays indexed by latent `n`, item `i`, concept `c`, or row of `users`:
- `meta`: title, dataset, counts, SAE kind, `ks`, `notes` (what is missing and why);
- `headline`: `rec` (model vs most popular), `fidelity`, `ms`, `purity` counts, `ablation` rows;
- `concepts`: `names`, `families`, `neuron` (best neuron), `purity` / `null` `[c][k]`, `base`;
- `items`: `ids`, `titles`, `pop`, `concepts` (concept indices per item), `acts` (per item flat
  `[latent, activation, ...]` of its strongest latents, or null);
- `latents`: `label`, `best` (concept or -1), `p10`, `null10`, `fire`, `spear`, `ms`, `group`,
  `top` (flat `[item, activation, ...]`), `hist` (`{lo, hi, counts}` per latent over its active items),
  `purest` (`[c, p@K...]` rows), `top_users` (flat `[user row, activation, ...]`);
- `users`: `idx` (dense index), `ids`, `attr_names`, `attr_vocab`, `attrs` (`[attr][row]` codes),
  `acts` (flat per user row);
- `groups`: Matryoshka prefix groups `[{group, start, end, ...}]` or null;
- `steering`: per intervention `{kind, target, neurons, k, level, summary, samples: [{user, before,
  after}]}` with item indices.
"""
from __future__ import annotations

import dataclasses
import html
import json
import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from jaxsae.report.collect import RunData

ASSETS = Path(__file__).with_name("explorer_assets")
KS = (5, 10, 20, 50)
FAMILY_ORDER = ("genre", "tag", "decade", "popularity")


@dataclasses.dataclass(frozen=True)
class ExplorerConfig:
    """How much of a run the explorer embeds (sizes bound the page for large catalogues)."""

    top_items: int = 20  # items listed per latent
    top_users: int = 10  # users listed per latent
    item_latents: int = 8  # strongest latents kept per item (sparse item activations, item search)
    user_latents: int = 8  # strongest latents kept per user (sparse user activations, user search)
    max_users: int = 10000  # users searchable by id (held-out users first, then by index)
    purest: int = 5  # concepts listed per latent (by purity@10)
    bins: int = 24  # activation histogram bins per latent
    digits: int = 3  # significant digits of embedded activations and purities
    label_threshold: float = 0.7  # purity@10 from which a latent is labeled with its best concept (SPEC §6.3)

    def __post_init__(self) -> None:
        from jaxsae.errors import ConfigError

        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name != "label_threshold" and v < 1:
                raise ConfigError(f"explorer {f.name} must be >= 1, got {v}")
        if not 0.0 <= self.label_threshold <= 1.0:
            raise ConfigError(f"explorer label_threshold must be in [0, 1], got {self.label_threshold}")


# ---- compact numbers ------------------------------------------------------------------------------
def _sig(v: Any, digits: int = 3) -> Optional[float]:
    """`v` rounded to `digits` significant digits (None for missing or non-finite values)."""
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(f):
        return None
    if f == 0.0:
        return 0.0
    return round(f, max(0, digits - 1 - int(math.floor(math.log10(abs(f))))))


def _sig_array(a: np.ndarray, digits: int = 3) -> List[Optional[float]]:
    """`_sig` over an array, vectorized (NaN -> None)."""
    a = np.asarray(a, np.float64).ravel()
    out: List[Optional[float]] = []
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.floor(np.log10(np.abs(a)))
    for v, m in zip(a.tolist(), mag.tolist()):
        if not math.isfinite(v):
            out.append(None)
        elif v == 0.0:
            out.append(0.0)
        else:
            out.append(round(v, max(0, digits - 1 - int(m))))
    return out


def _flat_pairs(idx: np.ndarray, val: np.ndarray, keep: np.ndarray, digits: int) -> List[List[Any]]:
    """Rows of `[index, value, index, value, ...]` for the kept slots of `idx`/`val` `[rows, n]`."""
    vals = _sig_array(val, digits)
    n = idx.shape[1] if idx.ndim == 2 else 0
    out = []
    for r in range(idx.shape[0]):
        row: List[Any] = []
        for j in range(n):
            if keep[r, j]:
                row += [int(idx[r, j]), vals[r * n + j]]
        out.append(row)
    return out


def _top_rows(a: np.ndarray, n: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of `a [rows, cols]`, the `n` largest values: `(indices, values, value > 0)`, best first."""
    n = min(int(n), a.shape[1])
    if n == 0:
        z = np.zeros((a.shape[0], 0))
        return z.astype(np.int64), z, z.astype(bool)
    part = np.argpartition(-a, n - 1, axis=1)[:, :n]
    pv = np.take_along_axis(a, part, axis=1)
    order = np.lexsort((part, -pv), axis=1)  # value descending, ties to the lower index
    idx = np.take_along_axis(part, order, axis=1)
    val = np.take_along_axis(pv, order, axis=1)
    return idx, val, val > 0


# ---- the parts of the document --------------------------------------------------------------------
def _num(v: Any) -> Optional[float]:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def headline(run: RunData, digits: int = 3) -> Dict[str, Any]:
    """The run's headline figures: recommender vs most popular, fidelity, MS, purity counts, ablation."""
    from jaxsae.report.sections import ABLATION_KEYS, purity_summary

    out: Dict[str, Any] = {"rec": None, "fidelity": None, "ms": None, "purity": None, "ablation": None}
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


def _histograms(a: np.ndarray, bins: int) -> List[Dict[str, Any]]:
    """Per latent, counts of its positive item activations in `bins` equal bins over `[min, max]` of them
    (TopK latents never fire below a threshold, so the bins start at the smallest activation). Vectorized over
    the nonzero entries only, so it costs O(active entries), not O(items x latents)."""
    h = a.shape[1]
    rows, cols = np.nonzero(a > 0)
    vals = a[rows, cols].astype(np.float64)
    n_pos = np.bincount(cols, minlength=h)
    lo = np.full(h, np.inf)
    hi = np.full(h, -np.inf)
    np.minimum.at(lo, cols, vals)
    np.maximum.at(hi, cols, vals)
    lo = np.where(n_pos > 0, lo, 0.0)
    hi = np.where(n_pos > 0, hi, 0.0)
    flat = hi <= lo  # one value (or none): a single bin from 0
    lo = np.where(flat, 0.0, lo)
    hi = np.where(flat, np.maximum(hi, 1e-12), hi)
    width = (hi - lo) / bins
    b = np.clip(np.floor((vals - lo[cols]) / width[cols]).astype(np.int64), 0, bins - 1)
    counts = np.bincount(cols * bins + b, minlength=h * bins).reshape(h, bins)
    los, his = _sig_array(lo), _sig_array(hi)
    return [{"lo": los[n], "hi": his[n], "counts": counts[n].tolist(), "zeros": int(a.shape[0] - n_pos[n])}
            for n in range(h)]


def _spearman(a: np.ndarray, y: np.ndarray, chunk: int = 512) -> np.ndarray:
    """Spearman correlation of every column of `a [n, h]` with `y [n]` (tie-averaged ranks; 0 for a constant
    column), in column chunks. Only used when the run has no analysis/popularity.json."""
    from scipy.stats import rankdata

    ry = rankdata(y)
    ry = ry - ry.mean()
    out = np.zeros(a.shape[1])
    for s in range(0, a.shape[1], chunk):
        r = rankdata(a[:, s : s + chunk], axis=0)
        r -= r.mean(axis=0)
        den = np.sqrt((r * r).sum(axis=0) * (ry @ ry))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[s : s + chunk] = np.where(den > 0, (ry @ r) / den, 0.0)
    return out


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
                       ["rest RBO", _sig(rec.get("rest_rbo"), digits)]]
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


def _load_arrays(run_dir: Path, notes: List[str]) -> Tuple[Any, Any]:
    """`(InteractionData, TrainedSAE)` when the run has them, else None in their place with a note."""
    data = sae = None
    if (run_dir / "data" / "meta.json").exists():
        try:
            from data_prep.dataset import InteractionData

            data = InteractionData.load(run_dir / "data")
        except Exception as e:  # noqa: BLE001 - any unreadable data only costs the views that need it
            notes.append(f"data/ could not be read ({type(e).__name__}: {e}); titles and concepts from the JSON only")
    else:
        notes.append("no data/ (run `jaxsae prepare`): item titles and concepts from the JSON only")
    if data is not None and (run_dir / "sae").is_dir():
        try:
            from jaxsae.training.sae_files import load_sae

            sae = load_sae(run_dir / "sae")
            if sae.input_two_tower.n_items != data.n_items:
                notes.append("the SAE's recommender does not match data/: activations not shown")
                sae = None
        except Exception as e:  # noqa: BLE001
            notes.append(f"the SAE could not be loaded ({type(e).__name__}: {e}): histograms, top users and search "
                         "by item and user need it")
    elif data is not None:
        notes.append("no sae/ (run `jaxsae train-sae`): histograms, top users and search need it")
    return data, sae


def explorer_data(run: RunData, config: ExplorerConfig = ExplorerConfig(), arrays: Optional[Tuple[Any, Any]] = None
                  ) -> Dict[str, Any]:
    """The explorer's JSON document for a run (module docstring). `arrays` overrides
    `(InteractionData, TrainedSAE)` (either may be None); by default they are loaded from the run."""
    d = config.digits
    notes: List[str] = []
    data, sae = arrays if arrays is not None else _load_arrays(run.run_dir, notes)
    neurons = [n for n in (run.neurons or []) if isinstance(n, dict)]
    summary = run.summary or {}
    # concepts and items
    if data is not None:
        names, families = list(data.concept_names), list(data.concept_families)
    else:  # the summary's concepts, then any other that concepts.json names
        fam_of = {str(r.get("concept")): str(r.get("family")) for r in run.concepts or [] if isinstance(r, dict)}
        names = [str(c) for c in summary.get("concepts") or []]
        names += [c for c in fam_of if c not in names]
        sfam = list(summary.get("concept_families") or [])
        families = [str(sfam[j]) if j < len(sfam) else fam_of.get(n, "genre") for j, n in enumerate(names)]
    cindex = {n: j for j, n in enumerate(names)}
    items: Dict[str, Any]
    item_of_title: Dict[str, int] = {}
    if data is not None:
        conc = np.asarray(data.concepts, bool)
        items = {"ids": [str(v) for v in np.asarray(data.item_ids)], "titles": [str(t) for t in np.asarray(data.item_titles)],
                 "pop": [int(v) for v in np.asarray(data.popularity)],
                 "concepts": [np.flatnonzero(row).tolist() for row in conc], "acts": None}
    else:  # items only as the neuron cards list them
        ids: List[str] = []
        items = {"ids": ids, "titles": [], "pop": [], "concepts": [], "acts": None}
        for n in neurons:
            for it in n.get("top_items") or []:
                key = str(it.get("item"))
                if key not in item_of_title:
                    item_of_title[key] = len(ids)
                    ids.append(key)
                    items["titles"].append(str(it.get("title") or key))
                    items["pop"].append(None)
                    items["concepts"].append([cindex[c] for c in it.get("concepts") or [] if c in cindex])
    # latents
    h = len(neurons)
    a = u = None
    if sae is not None:
        from jaxsae.analysis import activations as act

        a = act.item_activations(sae)
        u = act.user_activations(sae)
        h = a.shape[1]
    elif run.sae is not None and isinstance(run.sae.get("latents"), int) and not neurons:
        h = int(run.sae["latents"])
    by_n = {int(n["neuron"]): n for n in neurons if isinstance(n.get("neuron"), int)}
    cards = [by_n.get(j, {}) for j in range(h)]
    crow = {str(r.get("concept")): r for r in (run.concepts or []) if isinstance(r, dict)}
    lat: Dict[str, Any] = {"label": [], "best": [], "p10": [], "null10": [], "fire": [], "spear": [], "ms": [],
                           "group": [], "top": [], "hist": None, "purest": None, "top_users": None}
    spear = _per_neuron((run.popularity or {}).get("per_neuron"), "spearman", h)
    ms = _per_neuron((run.ms or {}).get("per_neuron"), "ms", h)
    prefixes = None
    if sae is not None:
        from jaxsae.analysis import activations as act

        prefixes = act.prefixes(sae)
    groups, group_of = _groups(run, prefixes, h)
    n_items = a.shape[0] if a is not None else int(summary.get("n_items") or 0)
    for j, card in enumerate(cards):
        best = card.get("best_concept")
        lat["label"].append(card.get("label"))
        lat["best"].append(cindex.get(best, -1) if best is not None else -1)
        lat["p10"].append(_sig(card.get("purity@10"), d))
        lat["null10"].append(_sig((crow.get(best) or {}).get("null_purity@10"), d) if best else None)
        na = card.get("n_active")
        lat["fire"].append(_sig(na / n_items, d) if isinstance(na, int) and n_items else None)
        lat["spear"].append(_sig(spear[j] if spear[j] is not None else card.get("popularity_spearman"), d))
        lat["ms"].append(_sig(ms[j], d))
        lat["group"].append(group_of[j])
    users: Optional[Dict[str, Any]] = None
    if a is not None and data is not None:
        from jaxsae.analysis.concepts import purity_at_k

        # exactly as analyze ranks items (its --min-support restriction, read from analysis/config.json)
        min_support = _analysis_min_support(run.run_dir)
        ranked = np.where((np.asarray(data.popularity) >= min_support)[:, None], a, 0.0) if min_support > 0 else a
        vals_idx, vals, keep = _top_rows(ranked.T, config.top_items)
        lat["top"] = _flat_pairs(vals_idx, vals, keep, d)
        n_active = (a > 0).sum(axis=0)
        lat["fire"] = _sig_array(n_active / max(1, a.shape[0]), d)
        if all(v is None for v in lat["spear"]):
            lat["spear"] = _sig_array(_spearman(a, np.asarray(data.popularity, np.float64)), d)
        lat["hist"] = _histograms(a, config.bins)
        ks = tuple(k for k in KS if k <= a.shape[0]) or (min(KS[0], a.shape[0]),)
        purity = np.asarray(purity_at_k(ranked, conc, ks))  # [len(ks), h, C]
        kk = list(ks).index(10) if 10 in ks else len(ks) - 1
        rarity = 1e-6 * conc.mean(axis=0)
        purest = []
        for j in range(h):
            order = np.argsort(-(purity[kk, j] - rarity), kind="stable")[: config.purest]
            purest.append([[int(c)] + _sig_array(np.concatenate([purity[:, j, c], np.full(len(KS) - len(ks), np.nan)]), d)
                           for c in order if purity[kk, j, c] > 0])
        lat["purest"] = purest
        if not neurons:  # no analysis: label from this purity
            best_c = [int(np.argmax(purity[kk, j] - rarity)) for j in range(h)]
            lat["best"] = [c if purity[kk, j, c] > 0 else -1 for j, c in enumerate(best_c)]
            lat["p10"] = _sig_array(purity[kk, np.arange(h), best_c], d)
            lat["label"] = [names[c] if purity[kk, j, c] >= config.label_threshold else None for j, c in enumerate(best_c)]
            notes.append("no analysis/ (run `jaxsae analyze`): labels from purity without the null")
        # items: strongest latents per item
        ii, iv_, ik = _top_rows(a, config.item_latents)
        items["acts"] = _flat_pairs(ii, iv_, ik, d)
        # users: top users per latent, sparse activations of the embedded users
        ui, uv, uk = _top_rows(u.T, config.top_users)
        samples = [s["user"] for st in run.interventions for s in (st.get("samples") or []) if isinstance(s, dict)
                   and isinstance(s.get("user"), int)]
        rows = _user_rows(u.shape[0], sae.heldout_users, list(ui[uk].ravel()) + samples, config.max_users)
        row_of = {int(v): r for r, v in enumerate(rows.tolist())}
        lat["top_users"] = [[x for j in range(ui.shape[1]) if uk[n, j] for x in (row_of[int(ui[n, j])], _sig(uv[n, j], d))]
                            for n in range(h)]
        si, sv, sk = _top_rows(u[rows], config.user_latents)
        attr_names = sorted(data.user_attributes)
        vocab, codes = [], []
        for name in attr_names:
            col = np.asarray(data.user_attributes[name]).astype(str)[rows]
            uniq, inv = np.unique(col, return_inverse=True)
            vocab.append(uniq.tolist())
            codes.append(inv.astype(int).tolist())
        users = {"idx": rows.tolist(), "ids": [str(v) for v in np.asarray(data.user_ids)[rows]],
                 "attr_names": attr_names, "attr_vocab": vocab, "attrs": codes, "acts": _flat_pairs(si, sv, sk, d),
                 "n_users": int(data.n_users)}
        if len(rows) < data.n_users:
            notes.append(f"user search covers {len(rows):,} of {data.n_users:,} users (held-out users first; "
                         "ExplorerConfig.max_users)")
    else:  # top items from the neuron cards
        for card in cards:
            row: List[Any] = []
            for it in card.get("top_items") or []:
                key = str(it.get("item"))
                j = item_of_title.get(key)
                if j is None and data is not None:
                    j = int(key) if key.isdigit() and int(key) < data.n_items else None
                if j is not None:
                    row += [j, _sig(it.get("activation"), d)]
            lat["top"].append(row)
    if not run.interventions:
        notes.append("no interventions/ (run `jaxsae intervene RUN --filter CONCEPT`): no steering view")
    elif not any(st.get("samples") for st in run.interventions):
        notes.append("the interventions were computed before they kept sample users' lists: rerun "
                     "`jaxsae intervene` for the before/after lists")
    sae_m = run.sae or {}
    title = f"jaxsae explorer: {summary.get('dataset') or run.run_dir.name}"
    return {
        "v": 1,
        "meta": {"title": title, "dataset": summary.get("dataset"), "run": str(run.run_dir), "latents": h,
                 "n_items": len(items["titles"]) if data is not None else summary.get("n_items"),
                 "n_users": summary.get("n_users") or (int(data.n_users) if data is not None else None),
                 "sae": sae_m.get("sae") or (sae.config.sae if sae is not None else None), "k": sae_m.get("k"),
                 "ks": list(KS), "label_threshold": config.label_threshold, "notes": notes,
                 "errors": list(run.errors)},
        "headline": headline(run, d),
        "concepts": _concepts_part(run, names, families, d),
        "items": items,
        "latents": lat,
        "users": users,
        "groups": groups,
        "steering": _steering(run, d),
    }


def _analysis_min_support(run_dir: Path) -> int:
    """`--min-support` of the run's analysis (0 when unknown)."""
    try:
        cfg = json.loads((run_dir / "analysis" / "config.json").read_text()).get("config") or {}
        return max(0, int(cfg.get("min_support") or 0))
    except (OSError, ValueError, TypeError, AttributeError):
        return 0


# ---- the page -------------------------------------------------------------------------------------
def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def embed_json(doc: Any) -> str:
    """Compact JSON safe inside `<script type="application/json">` (no `<`, `>` or `&` left unescaped)."""
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e").replace(
        "\u2028", "\\u2028").replace("\u2029", "\\u2029")


def render_explorer(doc: Dict[str, Any]) -> str:
    """The self-contained page: the template with its CSS, JavaScript and the data embedded."""
    page = (_asset("explorer.html").replace("/*__CSS__*/", _asset("explorer.css"), 1)
            .replace("/*__JS__*/", _asset("explorer.js"), 1)
            .replace("__TITLE__", html.escape(str(doc["meta"]["title"]))))
    return page.replace("__DATA__", embed_json(doc), 1)  # last: the data may contain any of the markers


def write_explorer(run: RunData, out_dir: Path, config: ExplorerConfig = ExplorerConfig(),
                   arrays: Optional[Tuple[Any, Any]] = None) -> Path:
    """Write `out_dir/explorer.html` (atomically) and return its path."""
    path = Path(out_dir) / "explorer.html"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render_explorer(explorer_data(run, config, arrays)), encoding="utf-8")
    tmp.replace(path)
    return path
