"""Orbax checkpoints with a schema version and the run's config.

`RUN/<stage>/checkpoints/<step>/` holds the state pytree (orbax); `RUN/<stage>/checkpoint.json` records
the schema version, the kind of state ("recommender", "sae", ...) and the config it was trained with.
Restoring checks all three and says why a mismatched checkpoint cannot be used.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Mapping, Optional, Tuple

import jax
import numpy as np
import orbax.checkpoint as ocp

from jaxsae.errors import CheckpointError
from jaxsae.jsonio import to_jsonable, write_json

SCHEMA_VERSION = 1
META_FILE = "checkpoint.json"


def _manager(directory: Path, max_to_keep: int = 2) -> ocp.CheckpointManager:
    options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True, enable_async_checkpointing=False)
    return ocp.CheckpointManager((directory / "checkpoints").absolute(), options=options)


def save_checkpoint(directory: "str | Path", step: int, state: Any, kind: str, config: Mapping[str, Any],
                    extra: Optional[Mapping[str, Any]] = None) -> None:
    """Save `state` (a pytree of arrays) as step `step`; keeps the two newest steps."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    host_state = jax.tree_util.tree_map(np.asarray, jax.device_get(state))
    with _manager(directory) as mngr:
        mngr.save(step, args=ocp.args.StandardSave(host_state), force=True)
        mngr.wait_until_finished()
    meta = {"schema_version": SCHEMA_VERSION, "kind": kind, "step": int(step), "config": to_jsonable(dict(config))}
    if extra:
        meta.update(to_jsonable(dict(extra)))
    write_json(directory / META_FILE, meta)


def checkpoint_meta(directory: "str | Path") -> Optional[dict]:
    """The checkpoint's metadata, or None when the directory holds no checkpoint."""
    path = Path(directory) / META_FILE
    if not path.exists():
        return None
    try:
        meta = json.loads(path.read_text())
    except ValueError as e:
        raise CheckpointError(f"{path}: corrupt checkpoint metadata ({e.__class__.__name__}); retrain this stage") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: corrupt checkpoint metadata (not a JSON object); retrain this stage")
    return meta


def _diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    keys = sorted(set(a) | set(b))
    return ", ".join(f"{k}: {a.get(k)!r} vs {b.get(k)!r}" for k in keys if a.get(k) != b.get(k))


def restore_checkpoint(directory: "str | Path", target: Any, kind: str,
                       config: Optional[Mapping[str, Any]] = None,
                       ignore_keys: Tuple[str, ...] = ()) -> Tuple[Any, int, dict]:
    """Restore the newest step into the structure of `target`: `(state, step, meta)`.

    Raises `CheckpointError` naming the reason when the directory has no checkpoint, another schema
    version, another kind of state, or (when `config` is given) a config differing in keys other than
    `ignore_keys` (such as the number of steps, which a resumed run may extend).
    """
    directory = Path(directory)
    meta = checkpoint_meta(directory)
    if meta is None:
        raise CheckpointError(f"{directory}: no checkpoint ({META_FILE} missing)")
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise CheckpointError(
            f"{directory}: checkpoint schema version {meta.get('schema_version')} but this jaxsae reads "
            f"version {SCHEMA_VERSION}; retrain or use the jaxsae version that wrote it"
        )
    if meta.get("kind") != kind:
        raise CheckpointError(f"{directory}: checkpoint holds a {meta.get('kind')!r} state, expected {kind!r}")
    if config is not None:
        want = {k: v for k, v in to_jsonable(dict(config)).items() if k not in ignore_keys}
        have = {k: v for k, v in meta.get("config", {}).items() if k not in ignore_keys}
        if want != have:
            raise CheckpointError(f"{directory}: checkpoint was made with another config ({_diff(have, want)})")
    host_target = jax.tree_util.tree_map(np.asarray, jax.device_get(target))
    with _manager(directory) as mngr:
        step = mngr.latest_step()
        if step is None:
            raise CheckpointError(f"{directory}: {META_FILE} present but no checkpoint step was written")
        try:
            state = mngr.restore(step, args=ocp.args.StandardRestore(host_target))
        except Exception as e:  # orbax raises various errors on structure/shape mismatches
            raise CheckpointError(f"{directory}: checkpoint does not match the model's structure: {e}") from e
    return state, int(step), meta


def clear_outputs(out_dir: "str | Path") -> None:
    """Remove a previous run's checkpoints and results from `out_dir`, so a fresh run cannot be mixed with them
    (nothing stale looks complete)."""
    out_dir = Path(out_dir)
    shutil.rmtree(out_dir / "checkpoints", ignore_errors=True)
    for name in ("checkpoint.json", "metrics.json", "history.json"):
        (out_dir / name).unlink(missing_ok=True)
