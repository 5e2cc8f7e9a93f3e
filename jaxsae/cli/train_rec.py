"""`jaxsae train-rec RUN --model mf|ncf [options]`: train a recommender on `RUN/data` (SPEC §4, §8).

Writes `RUN/rec/` (orbax checkpoint + `checkpoint.json`), `RUN/rec/config.json` (resolved config, seed,
versions) and, last, `RUN/rec/metrics.json`: full-ranking metrics on the hidden test positives
(SPEC §6.1) beside the most-popular baseline's.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Dict

from jaxsae.io import save_stage_config, write_json
from jaxsae.metrics.ranking import evaluate_most_popular, evaluate_two_tower
from jaxsae.training.recommender import MODELS, OPTIMIZERS, RecConfig, train_recommender

# CLI flag -> RecConfig field (flags left unset keep the preset's value)
OVERRIDES = {
    "dim": "dim", "epochs": "epochs", "lr": "lr", "batch_size": "batch_size", "optimizer": "optimizer",
    "l2": "l2", "seed": "seed", "devices": "devices", "negative_scheme": "negative_scheme",
    "eval_every": "eval_every", "chunk_size": "eval_chunk_size",
}


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("train-rec", help="train an MF or NCF recommender on RUN/data (writes RUN/rec/)")
    p.add_argument("run", metavar="RUN", help="run directory holding data/ (from `jaxsae prepare`)")
    p.add_argument("--model", choices=MODELS, default="mf", help="recommender (default mf)")
    p.add_argument("--preset", choices=["default", "paper"], default="default",
                   help="default: MF Adagrad, 2 negatives, batch 4096, 4 epochs; NCF Adam, batch 4096, 20 epochs; "
                        "paper: SGD lr 0.05, L2 0.01, batch 256, 10 epochs")
    p.add_argument("--dim", type=int, default=None, help="embedding dimension (default 20)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--lr", type=float, default=None, help="learning rate (default depends on model and optimizer)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=None)
    p.add_argument("--l2", type=float, default=None, help="L2 weight on the embedding rows of each batch")
    p.add_argument("--negative-scheme", choices=["exp", "power", "uniform"], default=None,
                   help="negative item weights (default uniform; the paper preset uses exp)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--devices", type=int, default=None, help="data-parallel over N local devices")
    p.add_argument("--eval-every", type=int, default=None, help="log hit@10 every N epochs (0: only at the end)")
    p.add_argument("--chunk-size", type=int, default=None, help="users per evaluation chunk")
    p.add_argument("--resume", action="store_true", help="continue from RUN/rec's last checkpoint")
    p.add_argument("--include-train", action="store_true",
                   help="rank training positives too when evaluating (the reference code's protocol)")
    p.set_defaults(func=main)


def config_from_args(args: argparse.Namespace) -> RecConfig:
    """The validated `RecConfig` of the command line: the preset overridden by the options given."""
    overrides: Dict[str, Any] = {field: getattr(args, flag) for flag, field in OVERRIDES.items()
                                 if getattr(args, flag, None) is not None}
    return RecConfig.preset(args.preset, model=args.model, **overrides)


def main(args: argparse.Namespace) -> int:
    from data_prep.dataset import InteractionData

    from jaxsae import lineage

    run = Path(args.run)
    config = config_from_args(args)  # validated before anything is read
    lineage.require(run, "data")
    data = InteractionData.load(run / "data")
    stage_config = {**config.to_dict(), "preset": args.preset, "include_train": bool(args.include_train)}
    # written aside in RUN/.rec.work and swapped in whole: a failed or killed run keeps the previous RUN/rec
    with lineage.stage(run, "rec", config=stage_config, inputs=("data",), resume=args.resume) as out:
        save_stage_config(out, config.to_dict(), seed=config.seed,
                          extra={"preset": args.preset, "include_train": bool(args.include_train)})
        print(f"[rec] training {config.model} (d={config.dim}, {config.optimizer} lr={config.lr}, "
              f"batch {config.batch_size}, {config.epochs} epochs) on {data.n_users} users x {data.n_items} items",
              flush=True)
        trained = train_recommender(data, config, out_dir=out, resume=args.resume,
                                    log=lambda s: print(s, flush=True))
        exclude = not args.include_train
        metrics = evaluate_two_tower(trained.two_tower, data, chunk_size=config.eval_chunk_size, exclude_train=exclude)
        popular = evaluate_most_popular(data, chunk_size=config.eval_chunk_size, exclude_train=exclude)
        popular.pop("n_eval_users", None)
        result: Dict[str, Any] = {
            "model": config.model,
            **metrics,
            "train_s": float(sum(h.get("time_s", 0.0) for h in trained.history)),
            "epochs": config.epochs,
            "exclude_train": exclude,
            "history": trained.history,
            "most_popular": popular,
        }
        write_json(out / "metrics.json", result)
    out = run / "rec"
    print(f"[rec] {config.model}: hit@10 {metrics['hit@10']:.4f} ndcg@10 {metrics['ndcg@10']:.4f} "
          f"(most popular: hit@10 {popular['hit@10']:.4f} ndcg@10 {popular['ndcg@10']:.4f}) "
          f"on {metrics['n_eval_users']} users -> {out / 'metrics.json'}", flush=True)
    return 0
