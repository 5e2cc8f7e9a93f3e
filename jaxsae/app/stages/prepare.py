"""The `prepare` stage: read a dataset and write `RUN/data/`.

`build(options)` makes the validated `PrepareConfig` (the source, `data_prep.source.SourceOptions`, and
how rows become training data, `data_prep.preprocess.PrepareOptions`) from one mapping of option names,
the same for `jaxsae prepare` flags and a pipeline config's `prepare` dict; `run(run_dir, config)` loads
with `data_prep.registry`, prepares, and writes `data.npz`, `meta.json`, `summary.json` and `config.json`
aside, swapped in whole (`jaxsae.app.lineage`). Bad input fails with one line naming file and line, and
nothing under `RUN/data/` changes.
"""
from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional

from data_prep.preprocess import PrepareOptions
from data_prep.source import SourceOptions
from jaxsae.errors import ConfigError, MissingDataError
from jaxsae.app.options import build as build_dataclass
from jaxsae.app.options import split_options
from data_prep import download, registry
from data_prep import registry
from data_prep.preprocess import prepare
from jaxsae.app import lineage
from jaxsae.app.io import save_stage_config

OPTIONS = (SourceOptions, PrepareOptions)
TITLES = ("source", "preprocessing")
DIRECTORY = "data"


@dataclasses.dataclass(frozen=True)
class PrepareConfig:
    """The whole `prepare` stage: what to read and how to prepare it."""

    source: SourceOptions
    """The dataset, its files and its loader's options."""
    options: PrepareOptions
    """Binarization, filters, split, popularity buckets and concepts."""

    def record(self) -> Dict[str, Any]:
        """What `RUN/data/stage.json` records (and `jaxsae run` compares to see the config changed)."""
        return {**self.options.to_dict(), "dataset": self.source.dataset,
                "loader_options": self.source.loader_options(self.options.seed),
                "paper_filters": self.source.paper_filters}


def build(options: Mapping[str, Any]) -> PrepareConfig:
    """The validated stage config from option names (`dataset`, `data_dir`, `min_rating`, `n_test`, ...)."""
    source, prep = split_options(options, *OPTIONS)
    if "dataset" not in source:
        raise ConfigError("prepare needs a dataset (e.g. synthetic, ml-100k, csv)")
    n_test = prep.get("n_test", PrepareOptions.n_test)
    if n_test < 1:
        raise ConfigError(f"--n-test must be >= 1 (a run needs hidden positives to evaluate), got {n_test}")
    src = build_dataclass(SourceOptions, source)
    prep["filter_sequence"] = src.filter_sequence()
    return PrepareConfig(source=src, options=build_dataclass(PrepareOptions, prep))


def resolve_data_dir(source: SourceOptions, log: Callable[[str], None]) -> Optional[Path]:
    """The folder to read: `data_dir`, else `$JAXSAE_DATA_DIR/<dataset>` when it exists, else a download
    (`download`) or an earlier one in the cache."""

    spec = registry.get(source.dataset)
    if source.data_dir is not None:
        if source.download:
            log("note: --data-dir given, --download ignored")
        d = Path(source.data_dir)
        if not d.is_dir():
            raise MissingDataError(f"{d}: no such folder (--data-dir should hold the extracted {spec.name} files)")
        return d
    if not spec.needs_data_dir:
        return None
    root = os.environ.get("JAXSAE_DATA_DIR")
    if root and not source.download and (Path(root).expanduser() / spec.name).is_dir():
        found = Path(root).expanduser() / spec.name
        log(f"using {found} ($JAXSAE_DATA_DIR)")
        return found
    if spec.download is None:
        raise MissingDataError(f"{spec.name} has no official archive to download: pass --data-dir DIR holding its files")
    if source.download:
        return download.fetch(spec.download, cache=source.cache_dir, log=log)
    found = download.cached(spec.download, source.cache_dir)
    if found is not None:
        log(f"using {found} (downloaded earlier)")
        return found
    raise MissingDataError(
        f"{spec.name}: pass --data-dir DIR (the extracted folder) or --download to fetch "
        f"{download.ARCHIVES[spec.download].url} into {download.cache_dir(source.cache_dir)}"
    )


def check_writable_run(out: Path) -> None:
    """One-line `ConfigError` unless `out` can hold a run: a directory (or creatable), `out/data` not a file."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a run directory")
    if (out / "data").exists() and not (out / "data").is_dir():
        raise ConfigError(f"{out / 'data'} is a file; remove it or choose another --out")
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"--out {out}: {probe} is a file, not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {out}: {probe} is not writable")



def record(config: PrepareConfig) -> Dict[str, Any]:
    """What `RUN/data/stage.json` records (`jaxsae run` compares it to see a changed config)."""
    return config.record()


def run(run_dir: "str | Path", config: PrepareConfig, *, resume: bool = False,
        log: Callable[[str], None] = print) -> Any:
    """Read, prepare and write `RUN/data/`; returns the `InteractionData` (`resume` is accepted for a
    uniform stage signature: preparing is fast and always starts afresh)."""

    out = Path(run_dir)
    source, options = config.source, config.options
    loader_options = source.loader_options(options.seed)
    check_writable_run(out)  # before the work: --out a file, OUT/data a file, unwritable
    data_dir = resolve_data_dir(source, log)
    t0 = time.perf_counter()
    log(f"reading {source.dataset}" + (f" from {data_dir}" if data_dir else ""))
    raw = registry.load(source.dataset, data_dir, **loader_options)
    t1 = time.perf_counter()
    import pandas as pd  # lazy: pandas is slow to import; only this path needs it

    log(f"read {raw.n_rows:,} rows, {len(pd.unique(raw.user)):,} users, "
        f"{len(raw.item_table_ids):,} catalogue items in {t1 - t0:.2f} s")
    data = prepare(raw, options)
    t2 = time.perf_counter()
    log(f"prepared {data.n_users:,} users x {data.n_items:,} items, {data.n_train:,} train positives, "
        f"{data.test_users.shape[0]:,} evaluated users, {data.n_concepts} concepts in {t2 - t1:.2f} s")
    if int(data.test_users.shape[0]) == 0:
        raise ConfigError(f"no user has the {options.n_test + 1} positives and {options.n_test} unseen items that "
                          f"--n-test {options.n_test} needs: nothing could be evaluated; lower --n-test")
    with lineage.stage(out, DIRECTORY, config=config.record()) as work:  # swapped in whole: old data/ kept until done
        data.write_files(work)
        save_stage_config(work, options.to_dict(), seed=options.seed, extra={
            "dataset": source.dataset, "data_dir": str(data_dir) if data_dir else None,
            "loader_options": loader_options, "timing_s": {"load": round(t1 - t0, 3), "prepare": round(t2 - t1, 3)},
        })
    log(f"wrote {out / DIRECTORY} ({time.perf_counter() - t0:.2f} s in all)")
    return data
