"""`jaxsae run [CONFIG | --dataset NAME] [--out RUN]`: the whole pipeline (`jaxsae.app.pipeline`).

Without CONFIG every stage runs with its defaults on `--dataset` (any `jaxsae prepare` name; `csv` /
`parquet` with `--interactions F [--items F] [--concept-family tag|genre]` for one's own data)."""
from __future__ import annotations

import argparse
from pathlib import Path

from jaxsae.errors import ConfigError
from jaxsae.app.pipeline import prepared_data, check_options, deep_merge, load_config, parse_config, plan, stage_argv, stage_complete, synthetic_config
from jaxsae.app.pipeline import run_pipeline


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("run", help="run every stage in order, skipping complete ones (the demo)",
                       description="Prepare, train the recommender, train the SAE, analyze, intervene and report. "
                                   "Stages whose outputs are complete are skipped; an interrupted one resumes.")
    p.add_argument("config", nargs="?", default=None,
                   help="pipeline config JSON, or the name of one in experiments/configs (e.g. ml100k-mf)")
    p.add_argument("--dataset", default=None,
                   help="without CONFIG: 'synthetic' runs the built-in demo config; any other `jaxsae prepare` "
                        "name (ml-100k, lastfm-hetrec-2k, csv, ...) runs every stage with its defaults")
    p.add_argument("--size", default=None, help="synthetic preset size (tiny, small, demo, ml1m, large, ml25m)")
    p.add_argument("--out", default=None, help="run directory (default runs/<config name>)")
    p.add_argument("--variant", default=None, help="apply one of the config's variants (e.g. 'paper' schedule)")
    p.add_argument("--data-dir", default=None, help="passed to `jaxsae prepare --data-dir`")
    p.add_argument("--download", action="store_true", help="passed to `jaxsae prepare --download`")
    # one's own data end to end without a config
    p.add_argument("--interactions", default=None, help="csv/parquet: the interactions file (user,item[,rating])")
    p.add_argument("--items", default=None, help="csv/parquet: the optional item table (item,title,concepts[,year])")
    p.add_argument("--concept-family", default=None, choices=("genre", "tag"),
                   help="csv/parquet: what the item table's concepts are (default genre)")
    p.add_argument("--min-rating", type=float, default=None,
                   help="passed to `jaxsae prepare --min-rating` (a row is a positive when value >= this)")
    p.add_argument("--devices", type=int, default=None, help="pmap the training stages over N local devices")
    p.add_argument("--force", default="", help="comma-separated stages to rerun even if complete")
    p.add_argument("--dry-run", action="store_true", help="check the config and print the stages, run nothing")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    if args.config is None and args.dataset is None:
        raise ConfigError("give a CONFIG file or --dataset NAME (e.g. synthetic, ml-100k, or csv --interactions F)")
    if args.dataset in ("csv", "parquet") and args.config is None and not args.interactions:
        raise ConfigError(f"--dataset {args.dataset} needs --interactions FILE (user,item[,rating] rows)")
    if args.config is not None:
        cfg = load_config(args.config, args.variant)
        if args.dataset is not None and args.dataset != cfg.dataset:
            cfg = parse_config(deep_merge(cfg.raw, {"dataset": args.dataset, "name": cfg.name}))
    elif args.dataset == "synthetic":
        cfg = synthetic_config(args.size or "demo", args.variant)
    else:
        cfg = parse_config({"dataset": args.dataset, "name": args.dataset}, args.variant)
    overlay: dict = {}
    if args.size and args.config is not None:
        overlay.setdefault("prepare", {})["size"] = args.size
    if args.data_dir:
        overlay.setdefault("prepare", {})["data_dir"] = args.data_dir
    if args.download:
        overlay.setdefault("prepare", {})["download"] = True
    for key in ("interactions", "items", "concept_family", "min_rating"):
        if getattr(args, key, None) is not None:
            overlay.setdefault("prepare", {})[key] = getattr(args, key)
    if args.devices:
        for stage in ("train_rec", "train_sae"):
            if stage in cfg.stages:
                overlay[stage] = {"devices": args.devices}
    if overlay:
        cfg = parse_config(deep_merge(cfg.raw, overlay))
    out = Path(args.out) if args.out else Path("runs") / cfg.name
    force = [s.strip().replace("-", "_") for s in args.force.split(",") if s.strip()]
    if args.dry_run:
        reprepare = "prepare" in cfg.stages and ("prepare" in force or not stage_complete(out, "prepare"))
        validated = check_options(cfg, out, data=None if reprepare else prepared_data(out))
        todo = plan(cfg, out, force, validated)
        for stage, opts in cfg.stages.items():
            for o in (opts if isinstance(opts, list) else [opts]):
                mark = "complete" if todo.get(stage) == "complete" else f"to run ({todo.get(stage)})"
                print(f"{stage:10s} {mark:28s} jaxsae {' '.join(stage_argv(stage, out, o, cfg.dataset))}")
        return 0

    run_pipeline(cfg, out, force=force, log=lambda m: print(m, flush=True))
    return 0
