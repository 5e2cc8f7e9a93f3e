"""Run-directory helpers: atomic JSON, resolved configs with seed and library versions."""
from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any, Dict, Mapping

from jaxsae.jsonio import write_json
import jax

STAGES = ("data", "rec", "sae", "analysis", "interventions", "ablation", "report")


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
