"""`jaxsae train-sae RUN --sae tied|topk|matryoshka [options]`: train the SAE of a run (SPEC §5, §8).

Reads `RUN/data/` and the recommender in `RUN/rec/`, trains through the frozen recommender and
writes `RUN/sae/` (checkpoint, `config.json`, `history.json`, then `metrics.json`). Without options
the loss weights are the paper's ML-1M MF setting and the step budget converges; `--preset` starts
from a paper setting, and any option given explicitly overrides it.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Dict, List

from jaxsae.errors import ConfigError

# option dest -> SAETrainConfig field (None when the option is absent from the command line)
_FIELDS = ("sae", "latents", "k", "prefixes", "w_emb", "w_pred", "w_kl", "w_l1", "rho", "pred_loss", "pred_levels", "steps",
           "epochs", "batch_size", "lr", "seed", "devices", "heldout_fraction", "log_every", "checkpoint_every",
           "k_user", "listwise_temperature", "listwise_items",
           # issue 11: the reference code's options
           "input_scaling", "latent_bias_init", "std_ddof", "kl_log_eps", "pairs", "schedule")


def _int_list(text: str) -> List[int]:
    try:
        return [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    from jaxsae.sae.config import PRED_LEVELS, PRED_LOSSES, PRESETS
    from jaxsae.sae.registry import SAE_REGISTRY

    p = sub.add_parser("train-sae", help="train the sparse autoencoder through the frozen recommender (RUN/sae/)",
                       description="Train a prediction-aware SAE on RUN/rec's embeddings; writes RUN/sae/.")
    p.add_argument("run", help="run directory (holds data/ and rec/)")
    p.add_argument("--sae", choices=[*SAE_REGISTRY, "auto"], default=None,
                   help="architecture; auto (the default without --sae/--preset): sweep a grid on validation users and "
                        "train the setting it picks "
                        "(`jaxsae sweep`; the other options given set the sweep's base)")
    p.add_argument("--preset", choices=list(PRESETS), default=None, help="start from a paper setting (SPEC §5)")
    p.add_argument("--paper-schedule", action="store_true", help="with --preset: the paper's epoch count")
    a = p.add_argument_group("architecture")
    a.add_argument("--latents", type=int, default=None, help="number of latents h (default 22)")
    a.add_argument("--k", type=int, default=None, help="topk: active latents per row (default 4)")
    a.add_argument("--k-user", type=int, default=None,
                   help="topk: active latents per user row (default: --k); items, where concepts are read, keep --k")
    a.add_argument("--prefixes", type=_int_list, default=None, help="matryoshka: m_1,...,m_L=h (default h/4,h/2,h)")
    a.add_argument("--no-normalize", action="store_true", help="skip the per-row normalization")
    a.add_argument("--untied", action="store_true", help="separate decoder with unit-norm rows")
    a.add_argument("--separate", action="store_true", help="one SAE for users and one for items")
    a.add_argument("--fold-biases", action="store_true", help="MF: encode [p_u, 1, b_u] and [q_i, b_i, 1]")
    a.add_argument("--balance-sides", action=argparse.BooleanOptionalAction, default=None,
                   help="MF: rescale users by c and items by 1/c so both sides have one mean norm; every logit "
                        "unchanged (default on; pipeline key no_balance_sides: true turns it off)")
    w = p.add_argument_group("loss (default: the paper's ML-1M MF weights)")
    w.add_argument("--w-emb", type=float, default=None, help="embedding MSE weight (0.1)")
    w.add_argument("--w-pred", type=float, default=None, help="prediction-aware weight (1)")
    w.add_argument("--w-kl", type=float, default=None, help="KL sparsity weight (0.01)")
    w.add_argument("--w-l1", type=float, default=None, help="L1 weight (0)")
    w.add_argument("--rho", type=float, default=None, help="KL target activation (0.05)")
    w.add_argument("--pred-loss", choices=list(PRED_LOSSES), default=None,
                   help="mse on logits (default; MF: exact Gram form), bce of sigmoids (NCF), or listwise: KL of each "
                        "user's softmax over all items (ranking-aware, SPEC §11)")
    w.add_argument("--listwise-temperature", type=float, default=None,
                   help="listwise loss: softmax temperature in units of each user's score std (1)")
    w.add_argument("--listwise-items", type=int, default=None,
                   help="listwise loss: items scored per step; larger catalogues use a random subset per step (4096)")
    w.add_argument("--pred-levels", choices=list(PRED_LEVELS), default=None,
                   help="matryoshka: prediction loss on the full reconstruction (default, as the paper) or all levels")
    t = p.add_argument_group("schedule")
    t.add_argument("--steps", type=int, default=None, help="optimizer steps (default 5000)")
    t.add_argument("--epochs", type=int, default=None, help="epochs over training users instead of --steps")
    t.add_argument("--batch-size", type=int, default=None, help="users (and items) per step (256)")
    t.add_argument("--lr", type=float, default=None, help="Adam learning rate (1e-3)")
    t.add_argument("--seed", type=int, default=None, help="seed of init, held-out users and batches (0)")
    t.add_argument("--devices", type=int, default=None, help="data-parallel devices, 0 = all (1)")
    t.add_argument("--heldout-fraction", type=float, default=None, help="users never trained on (0.2)")
    t.add_argument("--log-every", type=int, default=None, help="steps per progress line / history row (250)")
    t.add_argument("--checkpoint-every", type=int, default=None, help="steps between checkpoints (1000)")
    t.add_argument("--resume", action="store_true", help="continue from RUN/sae's last checkpoint")
    from jaxsae.cli.sweep import add_sweep_options

    add_sweep_options(p, prefix="sweep-")
    from jaxsae.sae.config import INPUT_SCALINGS, LATENT_BIAS_INITS, PAIRS, SCHEDULES

    r = p.add_argument_group("the paper's reference code (docs/REFERENCE.md); defaults are jaxsae's")
    r.add_argument("--input-scaling", choices=list(INPUT_SCALINGS), default=None,
                   help="batch_minmax: min-max scale each training batch per column (reference MF SAE; eval raw)")
    r.add_argument("--no-pre-bias", action="store_true", help="no b_pre: x_hat = z W^T (reference NCF SAE)")
    r.add_argument("--latent-bias-init", choices=list(LATENT_BIAS_INITS), default=None,
                   help="torch_linear: b_lat ~ U(+-1/sqrt(d)), PyTorch's Linear default (reference NCF SAE)")
    r.add_argument("--std-ddof", type=int, choices=(0, 1), default=None,
                   help="row std over d - ddof (1: torch's std, the reference; default 0)")
    r.add_argument("--kl-log-eps", type=float, default=None, help="epsilon inside both KL logs (reference 1e-6)")
    r.add_argument("--pairs", choices=list(PAIRS), default=None,
                   help="positives: rows are observed training positives of training users (reference ML-1M NCF)")
    r.add_argument("--schedule", choices=list(SCHEDULES), default=None,
                   help="stream (default), drop_last (reference loaders: last partial batch dropped, items cycled), "
                        "zip (reference Matryoshka: loaders zipped without cycling)")
    p.set_defaults(func=run)


def explicit_options(args: argparse.Namespace) -> Dict[str, Any]:
    """The SAE config fields given on the command line (absent options are left out)."""
    overrides: Dict[str, Any] = {f: getattr(args, f) for f in _FIELDS if getattr(args, f, None) is not None}
    if overrides.get("prefixes") is not None:
        overrides["prefixes"] = tuple(overrides["prefixes"])
    for flag, field in (("no_normalize", "normalize"), ("untied", "tied"), ("separate", "shared"),
                        ("no_pre_bias", "pre_bias")):
        if getattr(args, flag, False):
            overrides[field] = False
    if getattr(args, "fold_biases", False):
        overrides["fold_biases"] = True
    if getattr(args, "balance_sides", None) is not None:
        overrides["balance_sides"] = bool(args.balance_sides)
    return overrides


def config_from_args(args: argparse.Namespace) -> Any:
    """The validated config of the command line: the `SAETrainConfig` (preset or defaults overridden by
    the given options), or with `--sae auto` the `SweepConfig` whose grid the automatic choice sweeps."""
    from jaxsae.sae.config import SAETrainConfig, from_preset

    if args.sae is None and args.preset is None:
        args.sae = "auto"  # no architecture asked for: the validation-based choice (issue 10, SPEC §11)
    if args.sae == "auto":
        from jaxsae.cli.sweep import sweep_config

        if args.preset is not None or args.paper_schedule:
            raise ConfigError("--sae auto sweeps its own grid: drop --preset / --paper-schedule")
        return sweep_config(args, {k: v for k, v in explicit_options(args).items() if k != "sae"})
    overrides = explicit_options(args)
    if args.preset is not None:
        config = from_preset(args.preset, paper_schedule=args.paper_schedule, **overrides)
    elif args.paper_schedule:
        raise ConfigError("--paper-schedule needs --preset")
    else:
        config = SAETrainConfig(**overrides)
    # An error, not a warning (issue 13): a silently ignored --k trains another SAE than the one asked for,
    # and a warning scrolls away in a pipeline log; the fix (drop --k or pick --sae topk) is one edit.
    if "k" in overrides and "topk" not in config.sae:
        raise ConfigError(f"--k applies to TopK SAEs only; the {config.sae!r} SAE has no k (drop --k or use --sae topk)")
    return config


def run(args: argparse.Namespace) -> int:
    from data_prep.dataset import InteractionData
    from jaxsae import lineage
    from jaxsae.training.recommender import load_recommender
    from jaxsae.training.sae import train_sae

    run_dir = Path(args.run)
    config = config_from_args(args)  # validated before anything is read
    lineage.require(run_dir, "rec")  # refuses an unfinished, failed or stale recommender (one line)
    if args.sae == "auto":
        from jaxsae.io import to_jsonable
        from jaxsae.stages.auto_sae import train_auto

        sweep = config
        with lineage.stage(run_dir, "sae", config=to_jsonable(sweep), inputs=("data", "rec"),
                           resume=args.resume) as out:
            _, metrics = train_auto(run_dir, sweep, resume=args.resume, log=lambda line: print(line, flush=True),
                                    out_dir=out)
    else:
        data = InteractionData.load(run_dir / "data")
        two_tower = load_recommender(run_dir / "rec")
        # written aside in RUN/.sae.work and swapped in whole: a failed retrain keeps the previous good RUN/sae
        with lineage.stage(run_dir, "sae", config=config.to_dict(), inputs=("data", "rec"), resume=args.resume) as out:
            _, metrics = train_sae(two_tower, data, config, out_dir=out, resume=args.resume,
                                   log=lambda line: print(line, flush=True))
    summary = "  ".join(f"{k} {metrics[k]:.4g}" for k in ("fvu", "l0", "dead_fraction", "rbo@30", "kendall_tau@30",
                                                           "rbo_paper", "kendall_tau_paper")
                        if isinstance(metrics.get(k), float))
    print(f"train-sae: done in {metrics['train_s']:.1f}s: {summary} -> {run_dir / 'sae'}", flush=True)
    return 0

