"""`jaxsae prepare DATASET --out RUN`: read a dataset and write `RUN/data/` (SPEC §2, §3, §8).

Loads with `data_prep.registry`, prepares with `data_prep.preprocess.prepare`, writes `data.npz`,
`meta.json`, `summary.json` atomically (`InteractionData.save`) and then `config.json`. Options are
validated before any file is read; bad input fails with one line naming file and line, and nothing
is written under `RUN/data/`.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional

from jaxsae.errors import MissingDataError


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    from data_prep.registry import DATASETS

    names = "\n".join(f"  {n:17s} {s.description}" for n, s in DATASETS.items())
    p = sub.add_parser(
        "prepare", help="read a dataset and write RUN/data/ (binarized, filtered, split, concepts)",
        description="Read a dataset and write RUN/data/ (data.npz, meta.json, summary.json, config.json).\n\n"
                    f"Datasets:\n{names}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dataset", help="dataset name (see above)")
    p.add_argument("--out", required=True, help="run directory; the data goes to OUT/data/")
    src = p.add_argument_group("source")
    src.add_argument("--data-dir", default=None, help="folder holding the extracted official files "
                     "(default: $JAXSAE_DATA_DIR/<dataset> when it exists)")
    src.add_argument("--download", action="store_true", help="fetch the official archive into the cache (sha256-checked)")
    src.add_argument("--cache-dir", default=None, help="download cache (default $JAXSAE_CACHE or ~/.cache/jaxsae)")
    src.add_argument("--interactions", default=None, help="csv/parquet: the interactions file")
    src.add_argument("--items", default=None, help="csv/parquet: the optional item table (item,title,concepts[,year])")
    src.add_argument("--concept-family", default=None, choices=("genre", "tag"), help="csv/parquet: what the item concepts are")
    src.add_argument("--size", default=None, help="synthetic: preset (tiny, small, demo, ml1m, large; default tiny)")
    src.add_argument("--top-tags", type=int, default=None, help="Last.fm: tags kept per artist (default 4)")
    src.add_argument("--min-tag-artists", type=int, default=None, help="Last.fm: drop tags on fewer artists (default 5)")
    src.add_argument("--min-tag-users", type=int, default=None, help="hetrec: drop tags applied by fewer users (default 2)")
    pre = p.add_argument_group("preprocessing")
    pre.add_argument("--min-rating", type=float, default=None, help="a row is a positive when value >= this (default: any row)")
    pre.add_argument("--min-item-users", type=int, default=0, help="iterative filter: items need this many users")
    pre.add_argument("--min-user-items", type=int, default=0, help="iterative filter: users need this many items")
    pre.add_argument("--paper-filters", action="store_true", help="the paper's one-pass filters for this dataset (lastfm-msd)")
    pre.add_argument("--n-test", type=int, default=5, help="hidden positives and negatives per evaluated user")
    pre.add_argument("--seed", type=int, default=0, help="seed of the split (and of the synthetic generator)")
    pre.add_argument("--pop-top", type=float, default=0.1, help="fraction of items labeled 'popular'")
    pre.add_argument("--pop-bottom", type=float, default=0.5, help="fraction of items labeled 'niche'")
    pre.add_argument("--min-concept-items", type=int, default=1, help="drop concepts carried by fewer items")
    p.set_defaults(func=run)


def _loader_options(args: argparse.Namespace, accepted: "tuple[str, ...]") -> Dict[str, Any]:
    """Command-line values for the loader options this dataset accepts; others must be unset."""
    given = {
        "size": args.size, "seed": args.seed, "interactions": args.interactions, "items": args.items,
        "concept_family": args.concept_family, "top_k": args.top_tags, "min_tag_artists": args.min_tag_artists,
        "min_tag_users": args.min_tag_users,
    }
    flags = {"size": "--size", "interactions": "--interactions", "items": "--items", "concept_family": "--concept-family",
             "top_k": "--top-tags", "min_tag_artists": "--min-tag-artists", "min_tag_users": "--min-tag-users"}
    from jaxsae.errors import ConfigError

    out: Dict[str, Any] = {}
    for key, value in given.items():
        if key in accepted:
            if value is not None:
                out[key] = value
        elif value is not None and key in flags:
            raise ConfigError(f"{flags[key]} does not apply to dataset {args.dataset!r}")
    if "size" in accepted and "size" not in out:
        out["size"] = "tiny"
    for key in ("top_k", "min_tag_artists", "min_tag_users"):
        if key in out and out[key] < (1 if key == "top_k" else 0):
            raise ConfigError(f"{flags[key]} must be >= {1 if key == 'top_k' else 0}, got {out[key]}")
    return out


def resolve_data_dir(args: argparse.Namespace, spec: Any, log: Callable[[str], None]) -> Optional[Path]:
    """The folder to read: --data-dir, else `$JAXSAE_DATA_DIR/<dataset>` when it exists, else a download
    (--download) or an earlier one in the cache."""
    import os

    from data_prep import download

    if args.data_dir is not None:
        if args.download:
            log("note: --data-dir given, --download ignored")
        d = Path(args.data_dir)
        if not d.is_dir():
            raise MissingDataError(f"{d}: no such folder (--data-dir should hold the extracted {spec.name} files)")
        return d
    if not spec.needs_data_dir:
        return None
    root = os.environ.get("JAXSAE_DATA_DIR")
    if root and not args.download and (Path(root).expanduser() / spec.name).is_dir():
        found = Path(root).expanduser() / spec.name
        log(f"using {found} ($JAXSAE_DATA_DIR)")
        return found
    if spec.download is None:
        raise MissingDataError(f"{spec.name} has no official archive to download: pass --data-dir DIR holding its files")
    if args.download:
        return download.fetch(spec.download, cache=args.cache_dir, log=log)
    found = download.cached(spec.download, args.cache_dir)
    if found is not None:
        log(f"using {found} (downloaded earlier)")
        return found
    raise MissingDataError(
        f"{spec.name}: pass --data-dir DIR (the extracted folder) or --download to fetch "
        f"{download.ARCHIVES[spec.download].url} into {download.cache_dir(args.cache_dir)}"
    )


def check_writable_run(out: Path) -> None:
    """One-line `ConfigError` unless `out` can hold a run: a directory (or creatable), `out/data` not a file."""
    import os

    from jaxsae.errors import ConfigError

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


def config_from_args(args: argparse.Namespace) -> Any:
    """The validated `PrepareOptions` of the command line (dataset name and loader options checked too)."""
    from data_prep import registry
    from data_prep.preprocess import PrepareOptions
    from jaxsae.errors import ConfigError

    spec = registry.get(args.dataset)  # an unknown dataset: error with close matches
    if args.paper_filters and not spec.paper_filters:
        raise ConfigError(f"--paper-filters: no paper filters are defined for {spec.name!r}")
    if args.n_test < 1:
        raise ConfigError(f"--n-test must be >= 1 (a run needs hidden positives to evaluate), got {args.n_test}")
    options = PrepareOptions(
        min_rating=args.min_rating, min_item_users=args.min_item_users, min_user_items=args.min_user_items,
        filter_sequence=spec.paper_filters if args.paper_filters else (), n_test=args.n_test, seed=args.seed,
        pop_top=args.pop_top, pop_bottom=args.pop_bottom, min_concept_items=args.min_concept_items,
    )
    _loader_options(args, spec.options)
    if spec.name in ("csv", "parquet") and args.interactions is None and args.data_dir is None:
        raise MissingDataError(f"{spec.name}: pass --interactions FILE (and optionally --items FILE)")
    return options


def run(args: argparse.Namespace) -> int:
    from data_prep import registry
    from data_prep.preprocess import PrepareOptions, prepare
    from jaxsae.errors import ConfigError
    from jaxsae.io import save_stage_config

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    spec = registry.get(args.dataset)
    options = config_from_args(args)  # every option checked before any file is read
    loader_options = _loader_options(args, spec.options)
    out = Path(args.out)
    check_writable_run(out)  # before the work: --out a file, OUT/data a file, unwritable (issue 13)
    data_dir = resolve_data_dir(args, spec, log)

    t0 = time.perf_counter()
    log(f"reading {spec.name}" + (f" from {data_dir}" if data_dir else ""))
    raw = registry.load(spec.name, data_dir, **loader_options)
    t1 = time.perf_counter()
    import pandas as pd

    log(f"read {raw.n_rows:,} rows, {len(pd.unique(raw.user)):,} users, "
        f"{len(raw.item_table_ids):,} catalogue items in {t1 - t0:.2f} s")
    data = prepare(raw, options)
    t2 = time.perf_counter()
    log(f"prepared {data.n_users:,} users x {data.n_items:,} items, {data.n_train:,} train positives, "
        f"{data.test_users.shape[0]:,} evaluated users, {data.n_concepts} concepts in {t2 - t1:.2f} s")
    if int(data.test_users.shape[0]) == 0:
        raise ConfigError(f"no user has the {options.n_test + 1} positives and {options.n_test} unseen items that "
                          f"--n-test {options.n_test} needs: nothing could be evaluated; lower --n-test")
    from jaxsae import lineage

    target = out / "data"
    stage_config = {**options.to_dict(), "dataset": spec.name, "loader_options": loader_options}
    with lineage.stage(out, "data", config=stage_config) as work:  # swapped in whole: old data/ kept until done
        data.write_files(work)
        save_stage_config(work, options.to_dict(), seed=args.seed, extra={
            "dataset": spec.name, "data_dir": str(data_dir) if data_dir else None, "loader_options": loader_options,
            "timing_s": {"load": round(t1 - t0, 3), "prepare": round(t2 - t1, 3)},
        })
    log(f"wrote {target} ({time.perf_counter() - t0:.2f} s in all)")
    print(f"{target}/summary.json: dataset={data.dataset} n_users={data.n_users} n_items={data.n_items} "
          f"n_interactions={data.n_interactions} n_train={data.n_train} n_test_users={int(data.test_users.shape[0])} "
          f"concepts={data.n_concepts}", flush=True)
    return 0
