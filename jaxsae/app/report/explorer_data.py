"""The explorer's data: `explorer_data` gathers a run into one compact JSON document.

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
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from jaxsae.app.report.collect import RunData
from jaxsae.app.report.explorer_arrays import _flat_pairs, _histograms, _sig, _sig_array, _spearman, _top_rows
from jaxsae.app.report.explorer_parts import (KS, _benchmark, _concepts_part, _groups, _load_arrays, _per_neuron,
                                              _steering, _user_rows, headline)
from jaxsae.analysis import activations as act
from jaxsae.analysis import purity_at_k
from jaxsae.errors import ConfigError


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
    label_threshold: float = 0.7  # purity@10 from which a latent is labeled with its best concept

    def __post_init__(self) -> None:

        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name != "label_threshold" and v < 1:
                raise ConfigError(f"explorer {f.name} must be >= 1, got {v}")
        if not 0.0 <= self.label_threshold <= 1.0:
            raise ConfigError(f"explorer label_threshold must be in [0, 1], got {self.label_threshold}")


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
        "benchmark": _benchmark(run, d),
    }


def _analysis_min_support(run_dir: Path) -> int:
    """`--min-support` of the run's analysis (0 when unknown)."""
    try:
        cfg = json.loads((run_dir / "analysis" / "config.json").read_text()).get("config") or {}
        return max(0, int(cfg.get("min_support") or 0))
    except (OSError, ValueError, TypeError, AttributeError):
        return 0
