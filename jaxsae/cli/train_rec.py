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
    # issue 10: early stopping
    "patience": "patience", "val_per_user": "val_per_user", "val_metric": "val_metric",
}


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("train-rec", help="train an MF or NCF recommender on RUN/data (writes RUN/rec/)")
    p.add_argument("run", metavar="RUN", help="run directory holding data/ (from `jaxsae prepare`)")
    p.add_argument("--model", choices=MODELS, default="mf", help="recommender (default mf)")
    p.add_argument("--preset", choices=["default", "paper"], default="default",
                   help="default: MF Adagrad, 2 negatives, batch 4096; NCF Adam, batch 4096; both stop early on "
                        "validation ndcg@10 (patience 5, at most 100 epochs) and refit on all positives; "
                        "paper: SGD lr 0.05, L2 0.01, batch 256, 10 epochs, no early stopping")
    p.add_argument("--dim", type=int, default=None, help="embedding dimension (default MF 64, NCF 20)")
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs (with early stopping: the most epochs run; default 100)")
    p.add_argument("--patience", type=int, default=None,
                   help="stop after N epochs without a better validation score (default 5; 0: fixed schedule of "
                        "--epochs on all training positives)")
    p.add_argument("--val-per-user", type=int, default=None,
                   help="training positives held out per validated user for early stopping (default 2)")
    p.add_argument("--val-metric", choices=["ndcg@10", "hit@10", "mrr@10", "recall@10"], default=None,
                   help="validation score for early stopping (default ndcg@10)")
    p.add_argument("--no-refit", action="store_true",
                   help="keep the best-epoch model instead of refitting on all positives for that many epochs")
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
    if getattr(args, "no_refit", False):
        overrides["refit"] = False
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
        schedule = (f"early stopping on validation {config.val_metric}, patience {config.patience}, at most "
                    f"{config.epochs} epochs" if config.patience else f"{config.epochs} epochs")
        print(f"[rec] training {config.model} (d={config.dim}, {config.optimizer} lr={config.lr}, "
              f"batch {config.batch_size}, {schedule}) on {data.n_users} users x {data.n_items} items",
              flush=True)
        trained = train_recommender(data, config, out_dir=out, resume=args.resume,
                                    log=lambda s: print(s, flush=True))
        exclude = not args.include_train
        metrics = evaluate_two_tower(trained.two_tower, data, chunk_size=config.eval_chunk_size, exclude_train=exclude)
        popular = evaluate_most_popular(data, chunk_size=config.eval_chunk_size, exclude_train=exclude)
        popular.pop("n_eval_users", None)
        refit_history = (trained.validation or {}).get("refit", {}).get("history", [])
        result: Dict[str, Any] = {
            "model": config.model,
            **metrics,
            "train_s": float(sum(h.get("time_s", 0.0) for h in trained.history)
                             + sum(h.get("time_s", 0.0) for h in refit_history)),
            "epochs": int(trained.best_epoch if trained.best_epoch is not None else config.epochs),
            "exclude_train": exclude,
            "history": trained.history,
            "most_popular": popular,
            # issue 10: the schedule and the settings behind this model
            "schedule": "early_stopping" if trained.validation is not None else "fixed",
            "max_epochs": config.epochs,
            "best_epoch": trained.best_epoch,
            "validation": trained.validation,
            "settings": {k: getattr(config, k) for k in ("dim", "optimizer", "lr", "l2", "batch_size", "negatives",
                                                         "negative_scheme", "patience", "refit")},
        }
        if trained.validation is not None:
            v = trained.validation
            how = f"refit {v['refit']['epochs']} epochs on all positives" if "refit" in v else "best-epoch model"
            print(f"[rec] best epoch {v['best_epoch']} of {len(trained.history)} (validation {v['metric']} "
                  f"{v['best']:.4f} on {v['n_users']} users); {how}", flush=True)
        write_json(out / "metrics.json", result)
    out = run / "rec"
    print(f"[rec] {config.model}: hit@10 {metrics['hit@10']:.4f} ndcg@10 {metrics['ndcg@10']:.4f} "
          f"(most popular: hit@10 {popular['hit@10']:.4f} ndcg@10 {popular['ndcg@10']:.4f}) "
          f"on {metrics['n_eval_users']} users -> {out / 'metrics.json'}", flush=True)
    return 0
