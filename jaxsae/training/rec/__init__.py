"""Training the recommender on implicit feedback: the public face of the recommender trainer.

    config = RecConfig(model="mf")                   # frozen, validated
    trained = train_recommender(data, config)        # early stopping on a validation slice, then a refit
    two_tower = load_recommender(rec_dir)            # the frozen two-tower of a checkpoint folder

Private modules: `_config` (RecConfig and its defaults), `_step` (modules, optimizers, the jitted steps and
epoch scan), `_epochs` (host-side epochs: negatives, batches, dispatch), `_validation` (the seeded validation
slice), `_files` (checkpoints and loading), `_driver` (train_recommender, early stopping), `_grid` (the validation
grid of capacities and regularizations plus a bias-only model, the best kept), `_pooled` (the grid's closed-form
candidate: users pooled from their items' SVD factors).
"""
from jaxsae.training.rec._config import (BOOKKEEPING, DEFAULT_LR, MODEL_DEFAULTS, MODELS, OPTIMIZERS, REDUCTIONS, RESUME_IGNORED,
                                         VAL_METRICS, RecConfig)
from jaxsae.training.rec._driver import TrainedRecommender, train_phase, train_recommender
from jaxsae.training.rec._epochs import (EpochSampler, dispatch_epoch, epoch_batches, epoch_key, epoch_loss,
                                         host_keys, negative_probs,
                                         run_epoch)
from jaxsae.training.rec._grid import (BEHIND_EPOCHS, FLOOR_MARGIN, FLOOR_Z, GRID, POOLED, behind_leader, choose,
                                       grid_candidates, paired_gain)
from jaxsae.training.rec._files import CHECKPOINT_KIND, load_recommender, load_recommender_state
from jaxsae.training.rec._step import (ROW_TABLES, build_recommender, gather_rows, init_opt_state, init_params, make_loss_fn,
                                       make_optimizer, make_rec_epoch, row_logits, sparse_rows, split_params,
                                       to_two_tower)
from jaxsae.training.rec._pooled import fit_pooled, pooled_params
from jaxsae.training.rec._validation import (SPARSE_SLICE, best_of, carve_validation, early_stopping, should_stop,
                                             slice_options, validation_split)

__all__ = [
    "BOOKKEEPING", "DEFAULT_LR", "MODEL_DEFAULTS", "MODELS", "OPTIMIZERS", "REDUCTIONS", "RESUME_IGNORED", "VAL_METRICS",
    "RecConfig", "TrainedRecommender", "best_of", "early_stopping", "should_stop", "train_phase",
    "train_recommender", "validation_split", "SPARSE_SLICE", "slice_options", "EpochSampler", "dispatch_epoch",
    "epoch_batches", "epoch_key", "epoch_loss", "host_keys",
    "negative_probs", "run_epoch", "CHECKPOINT_KIND", "load_recommender", "load_recommender_state", "ROW_TABLES",
    "build_recommender", "gather_rows", "init_opt_state", "init_params", "make_loss_fn", "make_optimizer", "make_rec_epoch",
    "row_logits", "sparse_rows", "split_params", "to_two_tower", "carve_validation", "GRID", "choose",
    "grid_candidates", "BEHIND_EPOCHS", "behind_leader", "FLOOR_MARGIN", "FLOOR_Z", "paired_gain", "POOLED",
    "fit_pooled", "pooled_params",
]
