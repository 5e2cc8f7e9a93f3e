"""Read a run directory's JSON outputs (docs/ARCHITECTURE.md, "JSON written to the run directory").

Every file is optional: a stage that did not run leaves its entry `None`, and a file that cannot be
parsed is recorded in `errors` instead of stopping the report.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Dict, List, Optional
from jaxsae.app import lineage


@dataclasses.dataclass
class RunData:
    """Everything the report shows, as parsed JSON (None where the file is absent)."""

    run_dir: Path
    summary: Optional[Dict[str, Any]] = None  # data/summary.json
    rec: Optional[Dict[str, Any]] = None  # rec/metrics.json
    sae: Optional[Dict[str, Any]] = None  # sae/metrics.json
    sae_history: Optional[List[Dict[str, Any]]] = None  # sae/history.json
    concepts: Optional[List[Dict[str, Any]]] = None  # analysis/concepts.json
    neurons: Optional[List[Dict[str, Any]]] = None  # analysis/neurons.json
    popularity: Optional[Dict[str, Any]] = None  # analysis/popularity.json
    temporal: Optional[Dict[str, Any]] = None  # analysis/temporal.json
    ms: Optional[Dict[str, Any]] = None  # analysis/ms.json
    hierarchy: Optional[List[Dict[str, Any]]] = None  # analysis/hierarchy.json
    bound: Optional[Dict[str, Any]] = None  # analysis/bound.json (probe bound, concept recall, density)
    interventions: List[Dict[str, Any]] = dataclasses.field(default_factory=list)  # interventions/*.json
    ablation: Optional[List[Dict[str, Any]]] = None  # ablation/ablation.json
    pipeline: Optional[Dict[str, Any]] = None  # pipeline.json
    errors: List[str] = dataclasses.field(default_factory=list)  # files that could not be read


FILES = {
    "summary": "data/summary.json",
    "rec": "rec/metrics.json",
    "sae": "sae/metrics.json",
    "sae_history": "sae/history.json",
    "concepts": "analysis/concepts.json",
    "neurons": "analysis/neurons.json",
    "popularity": "analysis/popularity.json",
    "temporal": "analysis/temporal.json",
    "ms": "analysis/ms.json",
    "hierarchy": "analysis/hierarchy.json",
    "bound": "analysis/bound.json",
    "ablation": "ablation/ablation.json",
    "pipeline": "pipeline.json",
}

# the JSON type each file must hold, so a malformed file is reported rather than crashing a section
_EXPECTED = {"sae_history": list, "concepts": list, "neurons": list, "hierarchy": list, "ablation": list}


def _read(path: Path, errors: List[str], expected: type = dict) -> Any:
    if not path.exists():
        return None
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        errors.append(f"{path}: cannot read JSON ({e})")
        return None
    if not isinstance(value, expected):
        errors.append(f"{path}: expected a JSON {expected.__name__}, got {type(value).__name__}")
        return None
    return value


def inconsistent_stages(run_dir: Path, notes: List[str]) -> List[str]:
    """Stage directories the report must not show (stale, unfinished or failed; `jaxsae.app.lineage`), each with
    a note in `notes`: the report shows one consistent chain, never a new SAE beside an older analysis."""
    hidden: List[str] = []
    for name in ("data", "rec", "sae", "analysis", "interventions", "ablation"):
        if lineage.read_stage(run_dir / name) is None:  # absent, or a legacy directory: shown as it is
            continue
        st = lineage.status(run_dir, name)
        if not st.ok:
            hidden.append(name)
            notes.append(f"not shown: {st.reason}")
    return hidden


def load_run(run_dir: "str | Path") -> RunData:
    """Parse every known JSON file of `run_dir`; interventions are sorted by file name."""
    run_dir = Path(run_dir)
    data = RunData(run_dir=run_dir)
    hidden = inconsistent_stages(run_dir, data.errors)
    for attr, rel in FILES.items():
        if rel.split("/")[0] in hidden:
            continue
        setattr(data, attr, _read(run_dir / rel, data.errors, _EXPECTED.get(attr, dict)))
    inter_dir = run_dir / "interventions"
    if inter_dir.is_dir() and "interventions" not in hidden:
        for path in sorted(inter_dir.glob("*.json")):
            if path.name == "config.json" or path.name.startswith("."):
                continue
            value = _read(path, data.errors)
            if value is not None:
                value = dict(value)
                value.setdefault("_file", path.name)
                value.setdefault("_kind", path.stem.split("-", 1)[0])
                data.interventions.append(value)
    return data
