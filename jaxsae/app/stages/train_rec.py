"""The `train_rec` stage: train an MF or NCF recommender on `RUN/data` and write `RUN/rec/`.

Options: `TrainRecOptions` (the preset and the evaluation protocol) and every `RecConfig` field, given
explicitly over the preset. `run` writes the checkpoint, `config.json` and, last, `metrics.json`
(full-ranking metrics on the hidden test positives beside the most-popular baseline's),
aside in `RUN/.rec.work` and swapped in whole: a failed or killed run keeps the previous `RUN/rec`.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, ClassVar, Dict, Mapping, Sequence

from jaxsae.app.options import split_options
from jaxsae.training.rec import RecConfig
from data_prep.dataset import InteractionData
from jaxsae.app import lineage
from jaxsae.app.io import save_stage_config
from jaxsae.jsonio import write_json
from jaxsae.metrics import evaluate_most_popular, evaluate_two_tower
from jaxsae.training.rec import train_recommender

DIRECTORY = "rec"
PRESETS = ("default", "paper")


@dataclasses.dataclass(frozen=True)
class TrainRecOptions:
    """What the stage adds to `RecConfig`: where the config starts from and how the result is evaluated."""

    OPTION_CHOICES: ClassVar[Mapping[str, Sequence[str]]] = {"preset": PRESETS}

    preset: str = "default"
    """default: MF Adagrad, 2 negatives, batch 4096; NCF Adam, batch 4096; both stop early on validation
    ndcg@10 (patience 5, at most 100 epochs) and refit on all positives; paper: SGD lr 0.05, L2 0.01, batch
    256, 10 epochs, no early stopping. Options given explicitly override the preset."""
    include_train: bool = False
    """Rank training positives too when evaluating (the reference code's protocol)."""


OPTIONS = (TrainRecOptions, RecConfig)
TITLES = (None, "recommender (RecConfig)")


@dataclasses.dataclass(frozen=True)
class TrainRecConfig:
    """The whole `train_rec` stage."""

    rec: RecConfig
    """The resolved recommender config (preset, then the options given)."""
    preset: str = "default"
    """The preset it started from."""
    include_train: bool = False
    """Evaluation ranks training positives too."""

    def record(self) -> Dict[str, Any]:
        """What `RUN/rec/stage.json` records."""
        return {**self.rec.to_dict(), "preset": self.preset, "include_train": self.include_train}


def build(options: Mapping[str, Any]) -> TrainRecConfig:
    """The validated stage config from option names (`model`, `dim`, `preset`, `no_refit`, ...)."""
    stage_fields, rec_fields = split_options(options, *OPTIONS)
    opts = TrainRecOptions(**stage_fields)
    return TrainRecConfig(rec=RecConfig.preset(opts.preset, **rec_fields), preset=opts.preset,
                          include_train=opts.include_train)



def record(config: TrainRecConfig) -> Dict[str, Any]:
    """What `RUN/rec/stage.json` records (`jaxsae run` compares it to see a changed config)."""
    return config.record()


def run(run_dir: "str | Path", config: TrainRecConfig, *, resume: bool = False,
        log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Train, evaluate and write `RUN/rec/`; returns its metrics.json payload."""

    run_dir = Path(run_dir)
    rec = config.rec
    lineage.require(run_dir, "data")
    data = InteractionData.load(run_dir / "data")
    extra = {"preset": config.preset, "include_train": config.include_train}
    with lineage.stage(run_dir, DIRECTORY, config=config.record(), inputs=("data",), resume=resume) as out:
        save_stage_config(out, rec.to_dict(), seed=rec.seed, extra=extra)
        schedule = (f"early stopping on validation {rec.val_metric}, patience {rec.patience}, at most "
                    f"{rec.epochs} epochs" if rec.patience else f"{rec.epochs} epochs")
        log(f"[rec] training {rec.model} (d={rec.dim}, {rec.optimizer} lr={rec.lr}, batch {rec.batch_size}, "
            f"{schedule}) on {data.n_users} users x {data.n_items} items")
        trained = train_recommender(data, rec, out_dir=out, resume=resume, log=log)
        exclude = not config.include_train
        log(f"[rec] evaluating {rec.model} and most-popular by full ranking on {data.test_users.shape[0]} test users")
        metrics = evaluate_two_tower(trained.two_tower, data, chunk_size=rec.eval_chunk_size, exclude_train=exclude,
                                     log=log)
        popular = evaluate_most_popular(data, chunk_size=rec.eval_chunk_size, exclude_train=exclude, log=log)
        popular.pop("n_eval_users", None)
        refit_history = (trained.validation or {}).get("refit", {}).get("history", [])
        chosen = trained.config  # with the validation grid: the candidate kept
        result: Dict[str, Any] = {
            "model": chosen.model,
            **metrics,
            "train_s": float(sum(h.get("time_s", 0.0) for h in trained.history)
                             + sum(h.get("time_s", 0.0) for h in refit_history)),
            "epochs": int(trained.best_epoch if trained.best_epoch is not None else rec.epochs),
            "exclude_train": exclude,
            "history": trained.history,
            "most_popular": popular,
            # the schedule and the settings behind this model
            "schedule": "early_stopping" if trained.validation is not None else "fixed",
            "max_epochs": rec.epochs,
            "best_epoch": trained.best_epoch,
            "validation": trained.validation,
            "settings": {k: getattr(chosen, k) for k in ("dim", "optimizer", "lr", "l2", "batch_size", "negatives",
                                                         "negative_scheme", "patience", "refit", "bias_only")},
            # the validation grid: every candidate's validation figures and most-popular's on the same slice
            "grid": (trained.validation or {}).get("grid"),
        }
        if trained.validation is not None:
            v = trained.validation
            how = f"refit {v['refit']['epochs']} epochs on all positives" if "refit" in v else "best-epoch model"
            if v.get("grid"):
                log(f"[rec] validation grid kept {v['grid']['chosen']} ({chosen.model} d={chosen.dim} l2={chosen.l2})")
            if chosen.bias_only:
                log("[rec] warning: the bias-only model (most popular with learned offsets) ranked best on validation: "
                    "no embedding model beats popularity on this data, so an SAE of its embeddings has nothing to find")
            log(f"[rec] best epoch {v['best_epoch']} of {len(trained.history)} (validation {v['metric']} "
                f"{v['best']:.4f} on {v['n_users']} users); {how}")
        write_json(out / "metrics.json", result)
    log(f"[rec] {chosen.model}: hit@10 {metrics['hit@10']:.4f} ndcg@10 {metrics['ndcg@10']:.4f} "
        f"(most popular: hit@10 {popular['hit@10']:.4f} ndcg@10 {popular['ndcg@10']:.4f}) "
        f"on {metrics['n_eval_users']} users -> {run_dir / DIRECTORY / 'metrics.json'}")
    return result
