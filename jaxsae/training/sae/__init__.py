"""Training sparse autoencoders through a frozen recommender: the public face of the SAE trainer.

The functional pieces a researcher composes into their own loop, and the driver that composes them:

    state = init_state(key, config, d)                             # SAEState: step, params, opt_state, weights, key
    loss, aux = sae_loss(params, batch, recommender, config)       # the prediction-aware objective
    state, metrics = train_step(state, batch, recommender, config) # one Adam step: jit / vmap / pmap it
    epoch = make_sae_epoch(config, d, score_fn, gram)              # a lax.scan of steps over index batches
    trained, metrics = train_sae(two_tower, data, config)  # seeded splits, checkpoints, fidelity report

Private modules: `_step` (state, batch, objective, Adam step), `_tied_mf_grad` (the hand-derived gradient of the
tied SAE under the MF Gram loss), `_epoch` (the scanned epoch and its compiled runner), `_batches` and `_schedules`
(deterministic batch streams), `_grid` (many runs in one vmapped program), `_files` (`load_sae`), `_driver`.
"""
from jaxsae.training.sae._batches import batch_indices, heldout_split
from jaxsae.training.sae._driver import (balanced_training_setup, batch_setup, final_metrics, train_sae,
                                         training_setup)
from jaxsae.training.sae._epoch import METRIC_KEYS, EpochRunner, make_sae_epoch
from jaxsae.training.sae._files import BOOKKEEPING, CHECKPOINT_KIND, RESUMABLE_KEYS, load_sae
from jaxsae.training.sae._grid import GridRun, program_key, train_grid
from jaxsae.training.sae._schedules import BatchPlan, batch_plan, positive_pairs
from jaxsae.training.sae._step import (TERMS, SAEBatch, SAEInputs, SAEState, build_sae, init_state, loss_weights,
                                       make_hand_row_step, pred_spec, prepare_inputs, sae_loss, train_step)
from jaxsae.training.sae._tied_mf_grad import (input_table, supports_hand_gradient, tied_mf_rows_value_and_grad,
                                               tied_mf_value_and_grad)

__all__ = [
    "batch_indices", "heldout_split", "balanced_training_setup", "batch_setup", "final_metrics", "train_sae",
    "training_setup", "METRIC_KEYS", "EpochRunner", "make_sae_epoch", "BOOKKEEPING", "CHECKPOINT_KIND",
    "RESUMABLE_KEYS", "load_sae", "GridRun", "program_key", "train_grid", "BatchPlan", "batch_plan",
    "positive_pairs", "TERMS", "SAEBatch", "SAEInputs", "SAEState", "build_sae", "init_state", "loss_weights",
    "make_hand_row_step", "pred_spec", "prepare_inputs", "sae_loss", "train_step",
    "input_table", "supports_hand_gradient", "tied_mf_rows_value_and_grad", "tied_mf_value_and_grad",
]
