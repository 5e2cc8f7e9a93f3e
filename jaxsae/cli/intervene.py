"""`jaxsae intervene RUN --filter CONCEPT | --nudge CONCEPT | --promote ITEM [options]` (SPEC §7, §8).

Steers the recommender of `RUN/rec` through the SAE of `RUN/sae` and writes
`RUN/interventions/{filter,nudge,promote}-<name>.json` (keys in docs/ARCHITECTURE.md) and
`RUN/interventions/config.json`. Filter levels are in standard deviations of the user's top scores (the default
weighted filter) or in units of the neuron's largest activation (`--method neuron`, nudge, promote); negative
levels need `--levels=-0.5,-1` (with `=`) on the command line.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, Dict

import numpy as np

from jaxsae import interventions as iv
from jaxsae.cli.analyze import float_list
from jaxsae.errors import ConfigError
from jaxsae.io import save_stage_config, write_json

from jaxsae.stages.intervene import AUDIENCES, DEFAULT_K, InterveneOptions  # noqa: F401 (re-exported)

DEFAULT_OP = {"filter": "set", "nudge": "add", "promote": "add"}


def _span(levels: "tuple[float, ...]") -> str:
    """`(0, -0.25, ..., -3)` -> `0..-3`: the default levels as shown in --help (from the library's constants)."""
    return f"{levels[0]:g}..{levels[-1]:g}"


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("intervene", help="filter, nudge or promote through an SAE neuron (RUN/interventions/)")
    p.add_argument("run", metavar="RUN", help="run directory with data/, rec/ and sae/")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--filter", metavar="CONCEPT", help="suppress a concept for the users who see most of it")
    what.add_argument("--nudge", metavar="CONCEPT", help="raise a concept for the users who see least of it")
    what.add_argument("--promote", metavar="ITEM", help="raise an item (original id or title) for users not ranking it")
    p.add_argument("--levels", default=None,
                   help=f"edit levels (default filter {_span(iv.FILTER_LEVELS)} in standard deviations of the user's "
                        f"top scores for the weighted filter, else in units of the neuron's largest activation; "
                        f"nudge {_span(iv.NUDGE_LEVELS)}, promote {_span(iv.PROMOTE_LEVELS)}); "
                        "write negative lists as --levels=-0.5,-1")
    p.add_argument("--neuron", type=int, default=None,
                   help="neuron to edit (default: filter: see --method; nudge: the best by purity@10; promote: "
                        "the item's latent that lifts it most)")
    p.add_argument("--neurons", default=None, metavar="N,M,...",
                   help="filter only: several neurons suppressed together (each at level x its own scale)")
    p.add_argument("--n-neurons", type=int, default=1,
                   help="filter only, without --neuron(s): suppress the this many best neurons together (default 1)")
    p.add_argument("--method", choices=("weighted", "neuron"), default=None,
                   help="filter only: weighted (default without --neuron(s)): a per-user combination of the "
                        "concept's above-chance-purity neurons fitted to lower the concept and keep the rest's "
                        "order (levels in standard deviations of the user's top scores); neuron (the paper; "
                        "default with --neuron(s)): set the chosen neuron(s) to level x their largest activation")
    p.add_argument("--side", choices=("user", "item"), default="user",
                   help="filter only: edit the audience users (default) or, for the audience's requests, the "
                        "items where the chosen neuron fires (with --method neuron)")
    p.add_argument("--op", choices=("set", "add", "scale"), default=None,
                   help="edit operation (default: set for filter, add for the weighted filter, nudge and promote)")
    p.add_argument("--audience", choices=AUDIENCES, default="heldout",
                   help="user pool: the SAE's held-out users (default), the test users, or all users")
    p.add_argument("--audience-size", type=int, default=100, help="users in the audience")
    p.add_argument("--k", type=int, default=None, help="list length (default 20; 30 for nudge)")
    p.add_argument("--mode", choices=("residual", "reconstruct", "double_pass"), default="residual",
                   help="residual: x + decode(z') - decode(z) (unedited users score as the recommender); "
                        "reconstruct: decode(z') replaces the embedding (the paper); double_pass: the reference's "
                        "NCF path (all users and items reconstructed, an edited user's decode(z') passed through "
                        "the SAE again)")
    p.add_argument("--absolute-levels", action="store_true",
                   help="levels are the latent values themselves (the reference), not multiples of the "
                        "neuron's largest activation")
    p.add_argument("--include-train", action="store_true", help="let training positives appear in the lists")
    p.add_argument("--seed", type=int, default=0, help="seed of the promotion audience sample")
    p.set_defaults(func=main)


def _pool(kind: str, sae: Any, data: Any) -> np.ndarray:
    if kind == "heldout":
        pool = np.asarray(sae.heldout_users)
    elif kind == "test":
        pool = np.asarray(data.test_users)
    else:
        pool = np.arange(data.n_users)
    if pool.size == 0:
        raise ConfigError(f"--audience {kind}: no users in that pool")
    return pool.astype(np.int32)


def config_from_args(args: argparse.Namespace) -> InterveneOptions:
    """The validated `InterveneOptions` of the command line (checks that need no file)."""
    kind = "filter" if args.filter is not None else "nudge" if args.nudge is not None else "promote"
    if args.neuron is not None and args.neurons is not None:
        raise ConfigError("give either --neuron or --neurons, not both")
    if kind != "filter" and args.neurons is not None:
        raise ConfigError("--neurons, --n-neurons, --method and --side apply to --filter only")
    neurons = None
    if args.neurons is not None:
        try:
            neurons = tuple(int(v) for v in str(args.neurons).split(",") if v.strip())
        except ValueError:
            raise ConfigError(f"--neurons wants a comma-separated list of neuron ids, got {args.neurons!r}") from None
        if not neurons:
            raise ConfigError("--neurons is empty")
    elif args.neuron is not None:
        neurons = (args.neuron,)
    levels = ()
    if args.levels is not None:
        levels = tuple(float_list(args.levels))
        if not levels:
            raise ConfigError("--levels is empty")
    return InterveneOptions(kind=kind, target=getattr(args, kind), levels=levels, neurons=neurons,
                            n_neurons=args.n_neurons, method=args.method, side=args.side, op=args.op,
                            audience=args.audience, audience_size=args.audience_size, k=args.k, mode=args.mode,
                            include_train=bool(args.include_train), seed=args.seed)


def check_data(args: argparse.Namespace, data: Any) -> None:
    """The checks of `config_from_args` that need `RUN/data` (concept or item names, k <= catalogue)."""
    config_from_args(args).check_data(data)


def main(args: argparse.Namespace) -> int:
    from data_prep.dataset import InteractionData
    from jaxsae import lineage
    from jaxsae.training.sae import load_sae

    opts = config_from_args(args)  # validated before anything is read
    kind, target, k = opts.kind, opts.target, opts.list_k
    default_levels = {"filter": iv.FILTER_LEVELS, "nudge": iv.NUDGE_LEVELS, "promote": iv.PROMOTE_LEVELS}[kind]
    levels = opts.levels or default_levels
    op = args.op or (None if kind == "filter" else DEFAULT_OP[kind])

    run = Path(args.run)
    lineage.require(run, "sae")  # an unfinished, failed or stale SAE is refused with what to rerun
    data = InteractionData.load(run / "data")
    opts.check_data(data)  # unknown or ambiguous concept / item, k above the catalogue: before any work
    c = data.concept_index(target) if kind != "promote" else None
    sae = load_sae(run / "sae")
    steerer = iv.Steerer.from_trained(sae, mode=args.mode)
    neurons = list(opts.neurons) if opts.neurons is not None else None
    for n in neurons or []:
        steerer.check_neuron(n)
    pool = _pool(args.audience, sae, data)
    common: Dict[str, Any] = dict(audience_size=args.audience_size, k=k, levels=levels, op=op,
                                  exclude_train=not args.include_train, absolute=args.absolute_levels)
    t0 = time.perf_counter()
    if kind == "promote":
        result = iv.promote_experiment(steerer, data, target, pool, neuron=args.neuron, seed=args.seed, **common)
        name = result["item"]
    elif kind == "filter":
        result = iv.filter_experiment(steerer, data, target, pool, neurons, n_neurons=args.n_neurons,
                                      method=args.method, side=args.side, **common)
        name = result["concept"]
    else:
        neuron = args.neuron if args.neuron is not None else iv.concept_neuron(steerer.item_latents(), data.concepts, c)
        result = iv.nudge_experiment(steerer, data, target, pool, neuron, **common)
        name = result["concept"]
    result["audience"] = args.audience
    result["seconds"] = time.perf_counter() - t0
    if kind == "filter":
        common.update(op=result["op"], method=result["method"], side=result["side"])
    stage_config = {"kind": kind, "target": target, "mode": args.mode, **common}
    # earlier results of the same SAE are kept (keep=True); those of another SAE are dropped on the swap
    with lineage.stage(run, "interventions", config=stage_config, inputs=("data", "rec", "sae"), keep=True) as out:
        save_stage_config(out, stage_config, seed=args.seed, extra={"sae_config": sae.config.to_dict()})
        write_json(out / f"{kind}-{iv.file_stem(name)}.json", result)
    path = run / "interventions" / f"{kind}-{iv.file_stem(name)}.json"
    _print(kind, result, path)
    return 0


def _print(kind: str, r: Dict[str, Any], path: Path) -> None:
    if kind == "promote":
        steps = ", ".join(f"{p['level']:g}: {p['entered_top_k_fraction']:.2f}" for p in r["per_level"])
        print(f"[intervene] promote {r['title']!r} via neuron {r['neuron']} for {r['audience_size']} users: "
              f"share entering the top-{r['k']} by level {{{steps}}}", flush=True)
    elif kind == "filter":
        steps = ", ".join(f"{p['level']:g}: {p['concept_share_after']:.2f}/{p['rest_rbo']:.2f}" for p in r["per_level"])
        n = r.get("neurons", [r["neuron"]])
        via = f"neuron {n[0]}" if len(n) == 1 else f"neurons {n}" if len(n) <= 6 else f"{len(n)} neurons"
        print(f"[intervene] filter {r['concept']} ({r.get('method', 'neuron')}, {r.get('side', 'user')} side) via "
              f"{via} for {r['audience_size']} users: top-{r['k']} share {r['concept_share_before']:.2f} -> "
              f"{r['concept_share_after']:.2f}, rest-RBO {r['rest_rbo']:.2f} at level {r.get('level', 0):g} "
              f"({r.get('headline', '')}); share/rest-RBO by level {{{steps}}}", flush=True)
    else:
        steps = ", ".join(f"{p['level']:g}: {p['concept_share']:.2f}" for p in r["per_level"])
        print(f"[intervene] nudge {r['concept']} via neuron {r['neuron']} for {r['audience_size']} users: "
              f"top-{r['k']} share {r['concept_share_before']:.2f} before; by level {{{steps}}}", flush=True)
    print(f"[intervene] -> {path}", flush=True)
