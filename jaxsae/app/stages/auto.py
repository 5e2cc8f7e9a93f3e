"""Automatic choices of `jaxsae run`: which concepts to filter and nudge, which item to promote, and which
intervention results already exist. Split from `jaxsae.app.pipeline`, which re-exports them."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from jaxsae.errors import JaxsaeError
import numpy as np
from data_prep.dataset import InteractionData

AUTO = "auto"


class PipelineError(JaxsaeError):
    """A stage of `jaxsae run` failed; rerunning resumes from the first incomplete stage."""


def _norm(x: Any) -> str:
    return str(x).strip().lower()


def intervention_done(run_dir: Path, kind: str, target: str) -> bool:
    """True when `RUN/interventions/<kind>-*.json` (`benchmark.json`) already holds a result for `target`
    (concept or item)."""
    pattern = "benchmark.json" if kind == "benchmark" else f"{kind}-*.json"
    for path in sorted((run_dir / "interventions").glob(pattern)):
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if kind == "benchmark" and isinstance(rec, dict):
            rec = rec.get("concept")
        names = [rec.get("concept"), rec.get("item"), rec.get("title")] if isinstance(rec, dict) else []
        if any(n is not None and _norm(n) == _norm(target) for n in names):
            return True
    return False


def concept_margin(c: Mapping[str, Any], k: int = 10) -> float:
    """How far a concept's best SAE purity@k beats the best purity of a random-neuron null
    (`purity@k - null_purity@k`, analysis/concepts.json); the purity itself when no null was recorded."""
    pur = float(c.get(f"purity@{k}") or 0.0)
    null = c.get(f"null_purity@{k}")
    return pur - float(null) if null is not None else pur


def pick_concepts(concepts: Sequence[Mapping[str, Any]], n: int = 2) -> List[str]:
    """The `n` concepts the SAE captures best beyond chance: largest margin of purity@10 over
    null_purity@10 (a frequent concept such as Drama is pure by chance), genre/tag families first;
    ties: lower base rate, then more items."""
    rows = [c for c in concepts if isinstance(c, Mapping) and c.get("concept") is not None]
    main = [c for c in rows if c.get("family") in ("genre", "tag")] or rows
    if not main:
        raise PipelineError("analysis/concepts.json lists no concept: cannot choose one to intervene on")
    main = sorted(main, key=lambda c: (-round(concept_margin(c), 6), float(c.get("base_rate") or 0.0),
                                       -(c.get("n_items") or 0)))
    return [str(c["concept"]) for c in main[:n]]


def pick_niche_item(popularity: Sequence[int], item_ids: Sequence[str], quantile: float = 0.2) -> str:
    """An item to promote: the one at the `quantile` of popularity among items with any training positive.

    A niche but not unknown item, so promoting it is a real change of the lists.
    """

    pop = np.asarray(popularity)
    candidates = np.flatnonzero(pop > 0)
    if candidates.size == 0:
        raise PipelineError("no item has a training interaction: cannot choose one to promote")
    order = candidates[np.argsort(pop[candidates], kind="stable")]
    return str(item_ids[int(order[int(quantile * (order.size - 1))])])


def resolve_interventions(run_dir: Path, interventions: Sequence[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """Replace "auto" targets: concepts from analysis/concepts.json, the promoted item from the data."""
    out = [dict(o) for o in interventions]
    needs_concept = any(o.get(k) == AUTO for o in out for k in ("filter", "nudge", "benchmark"))
    needs_item = any(o.get("promote") == AUTO for o in out)
    best: List[str] = []
    if needs_concept:
        path = run_dir / "analysis" / "concepts.json"
        if not path.exists():
            raise PipelineError(f"{path} is missing: run the analyze stage before choosing concepts automatically")
        best = pick_concepts(json.loads(path.read_text()), n=2)
    item: Optional[str] = None
    if needs_item:

        data = InteractionData.load(run_dir / "data")
        item = pick_niche_item(data.popularity, data.item_ids)
    for o in out:
        if o.get("filter") == AUTO:
            o["filter"] = best[0]
        if o.get("nudge") == AUTO:
            o["nudge"] = best[1] if len(best) > 1 else best[0]
        if o.get("promote") == AUTO:
            o["promote"] = item
        if o.get("benchmark") == AUTO:  # the steering benchmark of the filtered concept
            o["benchmark"] = best[0]
    return out


