"""Stage lineage and atomic stage outputs: `RUN/<dir>/stage.json`.

Every stage of a run writes one directory (`data`, `rec`, `sae`, `analysis`, `interventions`, `ablation`,
`report`, and new ones such as `sweep`) and records in its `stage.json` what it was made from:

    {"stage": "sae", "status": "complete", "config": {...}, "inputs": {"data": "<fp>", "rec": "<fp>"},
     "version": "0.1.0", "versions": {...}, "started": ..., "finished": ..., "seconds": ...}

The *fingerprint* of a finished directory is the sha256 of its `stage.json`, which includes its inputs'
fingerprints: a rerun of any upstream stage changes every downstream one's expectations. A directory is

- missing: absent (a killed first run leaves only `RUN/.<dir>.work/`);
- unfinished / failed: legacy directory without its final file, or a work dir that was killed / raised;
- stale: complete, but an input it recorded has another fingerprint now (or is itself not usable);
- complete: everything matches. A legacy directory (no `stage.json`, written before lineage existed)
  counts as complete when its final files exist (`metrics.json`, ...), with no lineage check of its
  own inputs; its fingerprint is the size and mtime of those files (lenient by design: old runs stay usable).

Atomic outputs: a stage writes into `RUN/.<dir>.work/` and, on success, the work directory is swapped
in whole (`<dir>` -> `.<dir>.old`, work -> `<dir>`, old removed). A failed or killed stage leaves the
previous complete `<dir>` untouched; its work directory stays for `--resume` (training checkpoints)
and is cleared by the next fresh run. An interrupted swap is finished by the next access (`recover`).

Adopting it in a stage is one call (plus `require` in readers that are not stages):

    from jaxsae.app import lineage
    with lineage.stage(run_dir, "sweep", config=cfg.to_dict(), inputs=("data", "rec")) as work:
        ...  # write every output under `work` (a Path); refuses unusable inputs before the body runs

    # a second writer of an existing directory names itself, so readers' errors say what to rerun:
    with lineage.stage(run_dir, "rec", config=..., inputs=("data",), rerun="jaxsae import-rec RUN --tables FILE") as work:
        ...

A new directory name should also get an entry in `DONE_FILES`, `RERUN` and `INPUTS` (used for legacy runs,
hints and the first-missing-stage message); `jaxsae.app.pipeline.STAGE_DIRS` maps pipeline stages to directories.

`lineage.require(run_dir, "rec")` checks one input alone (one-line `StageInputError` naming the
command to rerun); `lineage.status(run_dir, "sae")` reports a directory's `StageStatus` without raising.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Dict, Iterator, Mapping, Optional, Sequence, Tuple

from data_prep.atomic import swap_in
from jaxsae.errors import JaxsaeError
import importlib
from jaxsae.jsonio import write_json
from jaxsae.app.io import library_versions
from jaxsae.jsonio import to_jsonable

STAGE_FILE = "stage.json"
SCHEMA = 1
# directory -> files whose presence marks a legacy (pre-lineage) directory complete
DONE_FILES: Dict[str, Tuple[str, ...]] = {
    "data": ("summary.json", "data.npz", "meta.json"),
    "rec": ("metrics.json",),
    "sae": ("metrics.json",),
    "analysis": ("concepts.json", "neurons.json", "ms.json"),
    "interventions": (),
    "ablation": ("ablation.json",),
    "report": ("index.html",),
    "sweep": ("sweep.json",),
}
# directory -> the command that rebuilds it (RUN is substituted)
RERUN: Dict[str, str] = {
    "data": "jaxsae prepare DATASET --out RUN",
    "rec": "jaxsae train-rec RUN",
    "sae": "jaxsae train-sae RUN",
    "analysis": "jaxsae analyze RUN",
    "interventions": "jaxsae intervene RUN ...",
    "ablation": "jaxsae ablate RUN",
    "report": "jaxsae report RUN",
    "sweep": "jaxsae sweep RUN",
}
# what each directory is made from (used to judge legacy-free staleness of readers; stages pass theirs)
INPUTS: Dict[str, Tuple[str, ...]] = {
    "data": (), "rec": ("data",), "sae": ("data", "rec"), "analysis": ("data", "rec", "sae"),
    "interventions": ("data", "rec", "sae"), "ablation": ("data", "rec"), "sweep": ("data", "rec"),
}


class StageInputError(JaxsaeError):
    """An input directory that is missing, unfinished, failed or stale; the message names what to rerun."""


@dataclasses.dataclass(frozen=True)
class StageStatus:
    """Where one stage directory stands."""

    name: str  # directory name under RUN (data, rec, sae, ...)
    state: str  # "missing", "unfinished", "failed", "stale", "complete"
    reason: str = ""  # one line: why it is not complete (empty when complete)
    fingerprint: Optional[str] = None  # set when complete (or stale: what downstream stages recorded then)
    legacy: bool = False  # complete by its final files only (no stage.json)

    @property
    def ok(self) -> bool:
        return self.state == "complete"


def rerun_hint(run_dir: "str | Path", name: str) -> str:
    """The command that rebuilds `RUN/<name>`."""
    return RERUN.get(name, f"jaxsae {name} RUN").replace("RUN", str(run_dir))


def work_dir(run_dir: "str | Path", name: str) -> Path:
    """`RUN/.<name>.work`: where a stage writes before its output is swapped in."""
    return Path(run_dir) / f".{name}.work"


def _old_dir(run_dir: Path, name: str) -> Path:
    return run_dir / f".{name}.old"


def read_stage(directory: "str | Path") -> Optional[Dict[str, Any]]:
    """`DIR/stage.json` as a dict, None when absent; an unreadable one reads as failed."""
    path = Path(directory) / STAGE_FILE
    if not path.is_file():
        return None
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        return {"status": "failed", "error": f"{path} cannot be read ({e.__class__.__name__})"}
    return rec if isinstance(rec, dict) else {"status": "failed", "error": f"{path} is not a JSON object"}


def _hash_record(rec: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(rec, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _legacy_fingerprint(directory: Path, files: Sequence[str]) -> str:
    h = hashlib.sha256()
    for f in files:
        st = (directory / f).stat()
        h.update(f"{f}:{st.st_size}:{st.st_mtime_ns};".encode())
    return "legacy-" + h.hexdigest()[:16]


def recover(run_dir: "str | Path", name: str) -> None:
    """Finish a swap that was interrupted (kill between its renames); a no-op otherwise."""
    run_dir = Path(run_dir)
    final, work, old = run_dir / name, work_dir(run_dir, name), _old_dir(run_dir, name)
    if not final.exists():
        rec = read_stage(work) if work.is_dir() else None
        if rec is not None and rec.get("status") == "complete":
            os.rename(work, final)
        elif old.is_dir():
            os.rename(old, final)
    if old.exists() and final.exists():
        shutil.rmtree(old, ignore_errors=True)


def status(run_dir: "str | Path", name: str, _seen: Optional[Dict[str, StageStatus]] = None) -> StageStatus:
    """The `StageStatus` of `RUN/<name>`, checking its recorded inputs against their current fingerprints."""
    run_dir = Path(run_dir)
    seen = {} if _seen is None else _seen
    if name in seen:
        return seen[name]
    with contextlib.suppress(OSError):
        recover(run_dir, name)
    d = run_dir / name
    rerun = rerun_hint(run_dir, name)
    if not d.is_dir():
        work = read_stage(work_dir(run_dir, name)) if work_dir(run_dir, name).is_dir() else None
        if work is not None and isinstance(work.get("rerun"), str):
            rerun = work["rerun"].replace("RUN", str(run_dir))
        if work is not None and work.get("status") == "failed":
            st = StageStatus(name, "failed", f"{d} failed ({work.get('error', 'see its log')}); rerun: {rerun}")
        elif work is not None:
            st = StageStatus(name, "unfinished", f"{d} is unfinished (interrupted; {work_dir(run_dir, name)} holds "
                                                 f"its partial work); rerun: {rerun} --resume" if name in ("rec", "sae")
                             else f"{d} is unfinished (interrupted); rerun: {rerun}")
        else:
            st = StageStatus(name, "missing", f"{d} is missing; run: {rerun}")
        seen[name] = st
        return st
    rec = read_stage(d)
    if rec is not None and isinstance(rec.get("rerun"), str):  # the command that made it (import-rec, ...)
        rerun = rec["rerun"].replace("RUN", str(run_dir))
    if rec is None:  # legacy directory: complete by its final files, no lineage check
        files = DONE_FILES.get(name, ())
        absent = [f for f in files if not (d / f).is_file()]
        if absent:
            st = StageStatus(name, "unfinished", f"{d} is unfinished (no {absent[0]}: its run was killed or "
                                                 f"failed); rerun: {rerun}")
        else:
            st = StageStatus(name, "complete", fingerprint=_legacy_fingerprint(d, files), legacy=True)
        seen[name] = st
        return st
    state = rec.get("status")
    if state != "complete":
        why = rec.get("error") or ("interrupted" if state == "running" else state)
        st = StageStatus(name, "failed" if state == "failed" else "unfinished",
                         f"{d} is {'failed' if state == 'failed' else 'unfinished'} ({why}); rerun: {rerun}")
        seen[name] = st
        return st
    fp = _hash_record(rec)
    inputs = dict(rec.get("inputs") or {})
    current = {up: status(run_dir, up, seen) for up in inputs}
    broken = [up for up, want in inputs.items() if want is not None and not current[up].ok]
    for up in broken:  # an input that is itself unusable: what to rerun is *its* first broken stage
        why = current[up].reason
        first = why.split("; rerun: ")[-1] if "; rerun: " in why else why.split("; run: ")[-1]
        st = StageStatus(name, "stale", f"{d} was made from {run_dir / up}, which is now {current[up].state}; "
                                        f"rerun: {first}", fingerprint=fp)
        break
    else:
        st = StageStatus(name, "complete", fingerprint=fp)
    for up, want in inputs.items():
        if st.state != "complete":
            break
        cur = current[up]
        if want is None:  # an optional input that was absent then: stale once it exists
            if cur.ok:
                st = StageStatus(name, "stale", f"{d} was made before {run_dir / up} existed; rerun: {rerun}",
                                 fingerprint=fp)
        elif cur.fingerprint != want:
            st = StageStatus(name, "stale", f"{d} was made from an older {run_dir / up}; rerun: {rerun}",
                             fingerprint=fp)
    seen[name] = st
    return st


def require(run_dir: "str | Path", name: str) -> str:
    """The fingerprint of `RUN/<name>` when usable as an input, else a one-line `StageInputError`."""
    st = status(run_dir, name)
    if not st.ok:
        if st.state == "missing":  # name the first stage to run: `RUN/data is missing; run: jaxsae prepare ...`
            for up in INPUTS.get(name, ()):
                if status(run_dir, up).state == "missing":
                    require(run_dir, up)
        raise StageInputError(st.reason)
    return str(st.fingerprint)


def fingerprints(run_dir: "str | Path", inputs: Sequence[str], optional: Sequence[str] = ()) -> Dict[str, Optional[str]]:
    """`{input: fingerprint}` of required `inputs` (each must be usable) and of usable `optional` ones."""
    out = {name: require(run_dir, name) for name in inputs}
    for name in optional:  # None records "absent or unusable then"
        st = status(run_dir, name)
        out[name] = str(st.fingerprint) if st.ok else None
    return out


def _library_version() -> str:

    return str(getattr(importlib.import_module("jaxsae"), "__version__", "unknown"))


def _write_record(directory: Path, rec: Mapping[str, Any]) -> None:

    write_json(directory / STAGE_FILE, rec)


def resumable_work(run_dir: "str | Path", name: str, inputs: Mapping[str, Optional[str]]) -> bool:
    """True when `RUN/.<name>.work` holds an interrupted or failed run of the same inputs (so `--resume` continues it)."""
    work = work_dir(run_dir, name)
    rec = read_stage(work) if work.is_dir() else None
    return rec is not None and rec.get("status") != "complete" and dict(rec.get("inputs") or {}) == dict(inputs)


@contextlib.contextmanager
def stage(run_dir: "str | Path", name: str, config: Any = None, inputs: Sequence[str] = (),
          optional_inputs: Sequence[str] = (), resume: bool = False, keep: bool = False,
          rerun: Optional[str] = None) -> Iterator[Path]:
    """Run one stage writing into a work directory that replaces `RUN/<name>` whole on success.

    Before the body: every input is checked (`require`), and the work directory is prepared: kept when
    `resume` and it holds a run of the same inputs (training continues from its checkpoint; else a
    `RUN/<name>` of the same inputs with a checkpoint, complete or a legacy one killed in place, is copied
    there first, so `--resume --steps N` extends a finished run aside), seeded with the current
    complete `RUN/<name>` when `keep` (stages that add to their directory, e.g. interventions) and the
    inputs are unchanged, else empty. `rerun` is the command that remakes this directory, shown in the
    errors of readers (default `RERUN[name]`, e.g. "jaxsae import-rec RUN --tables FILE"). On success `stage.json` is marked complete and swapped in; on any
    exception (or kill) `RUN/<name>` is left as it was and the work's `stage.json` says failed.
    """
    run_dir = Path(run_dir)
    final, work = run_dir / name, work_dir(run_dir, name)
    if run_dir.exists() and not run_dir.is_dir():
        raise StageInputError(f"{run_dir} is a file, not a run directory")
    with contextlib.suppress(OSError):
        recover(run_dir, name)
    fps = fingerprints(run_dir, inputs, optional_inputs)
    keep_work = resume and resumable_work(run_dir, name, fps)
    if not keep_work and work.exists():
        shutil.rmtree(work) if work.is_dir() else work.unlink()
    if not keep_work:
        current = status(run_dir, name) if final.is_dir() else None
        recorded = read_stage(final) if final.is_dir() else None
        same_inputs = recorded is None or dict(recorded.get("inputs") or {}) == dict(fps)
        if resume and current is not None and (final / "checkpoint.json").is_file() and same_inputs and (
                current.ok or (current.state == "unfinished" and recorded is None)):
            # continue (or extend) the checkpoint of RUN/<name> aside: a complete run, or a legacy one killed in place
            shutil.copytree(final, work)
        elif keep and current is not None and current.ok and same_inputs:
            shutil.copytree(final, work)
        else:
            work.mkdir(parents=True)

    rec: Dict[str, Any] = {
        "schema": SCHEMA, "stage": name, "status": "running", "config": to_jsonable(config), "inputs": fps,
        "version": _library_version(), "versions": library_versions(), "started": time.time(), "pid": os.getpid(),
    }
    if rerun is not None:
        rec["rerun"] = rerun
    _write_record(work, rec)
    t0 = time.perf_counter()
    try:
        yield work
    except BaseException as e:
        msg = str(e).splitlines()[0] if str(e) else e.__class__.__name__
        if isinstance(e, KeyboardInterrupt):
            msg = "interrupted"
        with contextlib.suppress(OSError):
            _write_record(work, {**rec, "status": "failed", "error": msg[:300], "finished": time.time()})
        raise
    done = {**rec, "status": "complete", "finished": time.time(), "seconds": round(time.perf_counter() - t0, 3)}
    done.pop("pid", None)
    _write_record(work, done)
    swap_in(work, final)
