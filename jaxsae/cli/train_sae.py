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
           "epochs", "batch_size", "lr", "seed", "devices", "heldout_fraction", "log_every", "checkpoint_every")


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
    p.add_argument("--sae", choices=list(SAE_REGISTRY), default=None, help="architecture (default tied ReLU)")
    p.add_argument("--preset", choices=list(PRESETS), default=None, help="start from a paper setting (SPEC §5)")
    p.add_argument("--paper-schedule", action="store_true", help="with --preset: the paper's epoch count")
    a = p.add_argument_group("architecture")
    a.add_argument("--latents", type=int, default=None, help="number of latents h (default 22)")
    a.add_argument("--k", type=int, default=None, help="topk: active latents per row (default 4)")
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
                   help="paired scorers (NCF): mse on logits (default) or bce of sigmoids")
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
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> Any:
    """The `SAETrainConfig` of the command line: preset (or defaults) overridden by the given options."""
    from jaxsae.sae.config import SAETrainConfig, from_preset

    overrides: Dict[str, Any] = {f: getattr(args, f) for f in _FIELDS if getattr(args, f, None) is not None}
    if overrides.get("prefixes") is not None:
        overrides["prefixes"] = tuple(overrides["prefixes"])
    for flag, field in (("no_normalize", "normalize"), ("untied", "tied"), ("separate", "shared")):
        if getattr(args, flag, False):
            overrides[field] = False
    if getattr(args, "fold_biases", False):
        overrides["fold_biases"] = True
    if getattr(args, "balance_sides", None) is not None:
        overrides["balance_sides"] = bool(args.balance_sides)
    if args.preset is not None:
        return from_preset(args.preset, paper_schedule=args.paper_schedule, **overrides)
    if args.paper_schedule:
        raise ConfigError("--paper-schedule needs --preset")
    return SAETrainConfig(**overrides)


def run(args: argparse.Namespace) -> int:
    from data_prep.dataset import InteractionData
    from jaxsae.training.recommender import load_recommender
    from jaxsae.training.sae import train_sae

    config = config_from_args(args)  # validated before anything is read
    run_dir = Path(args.run)
    data = InteractionData.load(run_dir / "data")
    two_tower = load_recommender(run_dir / "rec")
    _, metrics = train_sae(two_tower, data, config, out_dir=run_dir / "sae", resume=args.resume,
                           log=lambda line: print(line, flush=True))
    summary = "  ".join(f"{k} {metrics[k]:.4g}" for k in ("fvu", "l0", "dead_fraction", "rbo@30", "kendall_tau@30")
                        if isinstance(metrics.get(k), float))
    print(f"train-sae: done in {metrics['train_s']:.1f}s: {summary} -> {run_dir / 'sae'}", flush=True)
    return 0

