"""Run-directory helpers: atomic JSON, resolved configs with seed and library versions (SPEC §8)."""
from __future__ import annotations

import dataclasses
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, Mapping

import numpy as np

STAGES = ("data", "rec", "sae", "analysis", "interventions", "ablation", "report")


def _default(o: Any) -> Any:
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return dataclasses.asdict(o)
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "tolist"):  # jax arrays
        return o.tolist()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def to_jsonable(obj: Any) -> Any:
    """Plain JSON types from dataclasses, numpy/jax scalars and arrays; NaN/inf become None."""
    def clean(o: Any) -> Any:
        if isinstance(o, float):
            return o if np.isfinite(o) else None
        if isinstance(o, dict):
            return {str(k): clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        return o

    return clean(json.loads(json.dumps(obj, default=_default)))


def write_json(path: "str | os.PathLike[str]", obj: Any) -> Path:
    """Write JSON atomically (temp file + rename), so a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(to_jsonable(obj), f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_json(path: "str | os.PathLike[str]") -> Any:
    return json.loads(Path(path).read_text())


def library_versions() -> Dict[str, str]:
    """Versions of python and the libraries whose numerics matter."""
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for mod in ("jax", "jaxlib", "flax", "optax", "orbax.checkpoint", "numpy", "pandas", "chex"):
        try:
            m = __import__(mod, fromlist=["__version__"])
            out[mod] = getattr(m, "__version__", "?")
        except ImportError:
            pass
    try:
        import jax

        out["backend"] = jax.default_backend()
        out["devices"] = str(len(jax.devices()))
    except Exception:  # pragma: no cover - jax missing is an install error reported elsewhere
        pass
    return out


def save_stage_config(directory: "str | os.PathLike[str]", config: Any, seed: "int | None" = None,
                      extra: "Mapping[str, Any] | None" = None) -> Path:
    """`DIR/config.json`: the resolved configuration, seed, command line and library versions."""
    payload: Dict[str, Any] = {
        "config": config,
        "seed": seed,
        "argv": sys.argv,
        "versions": library_versions(),
    }
    if extra:
        payload.update(extra)
    return write_json(Path(directory) / "config.json", payload)
