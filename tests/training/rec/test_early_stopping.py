"""Recommender early stopping: the validation slice and restoring the best epoch."""
import dataclasses
import re

import jax
import numpy as np
import pytest

from data_prep import synthetic
from data_prep.preprocess import PrepareOptions, prepare
from jaxsae.checkpoint import checkpoint_meta, restore_checkpoint
from jaxsae.metrics import _ranking as ranking
from jaxsae.training import rec as rec_files
from jaxsae.training.rec._files import _state as _checkpoint_state  # white-box: the checkpointed pytree
from jaxsae.training import rec as rec_step
from jaxsae.training.rec import RecConfig, load_recommender_state, train_recommender
from jaxsae.training.rec import carve_validation
from jaxsae.training.rec._epochs import epoch_eta  # white-box: the ETA of the epoch line


@pytest.fixture(scope="module")
def data():
    return prepare(synthetic.generate(synthetic.preset("tiny")), PrepareOptions())


def quiet(_msg):
    pass


def csr_sets(indptr, indices):
    return [set(np.asarray(indices[indptr[u]:indptr[u + 1]]).tolist()) for u in range(len(indptr) - 1)]


def test_validation_slice_is_carved_from_training_positives_only(data):
    before = (data.train_indices.copy(), data.test_pos.copy())
    fit, val, (v_ptr, v_items) = carve_validation(data, per_user=2, min_train=5, seed=3)
    train = csr_sets(data.train_indptr, data.train_indices)
    kept = csr_sets(fit.train_indptr, fit.train_indices)
    held = csr_sets(v_ptr, v_items)
    hidden = {int(u): set(r[r >= 0].tolist()) for u, r in zip(data.test_users, data.test_pos)}
    for u in range(data.n_users):
        assert kept[u] | held[u] == train[u] and not kept[u] & held[u]
        assert not held[u] & hidden.get(u, set())  # never the hidden test split
        assert len(held[u]) == (2 if len(train[u]) >= 5 else 0)
    # the validation view: its hidden positives are the held-out ones, popularity counts the fitted matrix;
    # the data trained on keeps the hidden test split as it was
    assert [set(r.tolist()) for r in val.test_pos] == [held[u] for u in val.test_users]
    np.testing.assert_array_equal(val.train_indices, fit.train_indices)
    np.testing.assert_array_equal(fit.test_pos, data.test_pos)
    np.testing.assert_array_equal(fit.popularity, np.bincount(fit.train_indices, minlength=data.n_items))
    # the data itself is untouched
    np.testing.assert_array_equal(data.train_indices, before[0])
    np.testing.assert_array_equal(data.test_pos, before[1])


def test_validation_slice_is_deterministic_in_its_seed_and_capped(data):
    a, _, (_, ia) = carve_validation(data, seed=0)
    b, _, (_, ib) = carve_validation(data, seed=0)
    c, _, (_, ic) = carve_validation(data, seed=1)
    np.testing.assert_array_equal(ia, ib)
    np.testing.assert_array_equal(a.train_indices, b.train_indices)
    assert not np.array_equal(ia, ic)
    _, small, _ = carve_validation(data, max_users=7, seed=0)
    assert small.test_users.shape == (7,) and len(set(small.test_users.tolist())) == 7
    fit, none, _ = carve_validation(data, min_train=10 ** 6)
    assert none.test_users.shape[0] == 0 and fit.n_train == data.n_train


def test_defaults_stop_early_and_the_paper_preset_does_not():
    cfg = RecConfig()
    assert cfg.patience == 5 and cfg.epochs == 100 and cfg.refit and cfg.val_metric == "ndcg@10"
    assert RecConfig(model="ncf").patience == 5
    assert RecConfig.preset("paper").patience == 0 and RecConfig.preset("paper", model="ncf").patience == 0
    # configs saved before early stopping existed load as the fixed schedule they ran
    old = {k: v for k, v in RecConfig(patience=0, epochs=4).to_dict().items()
           if k not in ("patience", "val_per_user", "val_min_train", "val_max_users", "val_metric", "refit")}
    assert RecConfig.from_dict(old).patience == 0
    with pytest.raises(Exception, match="patience must be an integer >= 0"):
        RecConfig(patience=-1)
    with pytest.raises(Exception, match="val_metric must be one of"):
        RecConfig(val_metric="auc")


# validation ndcg@10 per epoch: peaks at epoch 3, then falls (scripted, so the case is exact)
CURVE = [0.10, 0.30, 0.50, 0.40, 0.45, 0.20, 0.60]


def scripted(monkeypatch, start=0, curve=CURVE):
    """Make every validation evaluation return the next value of `curve` from `start` (the test split is not
    evaluated during training)."""
    calls = []

    def fake(tt, data_, **kw):
        v = curve[start + len(calls)]
        calls.append(v)
        return {"ndcg@10": v, "hit@10": v, "n_eval_users": int(data_.test_users.shape[0])}

    monkeypatch.setattr("jaxsae.training.rec._driver.evaluate_two_tower", fake)  # the name the trainer calls
    return calls


def test_epoch_eta_counts_the_epochs_left_until_patience_runs_out():
    cfg = RecConfig(epochs=20, patience=3)
    # epochs 1..4 took 40 s (10 s each); best at 3: 2 epochs left unless it improves, at most 16
    assert epoch_eta(4, 1, 40.0, cfg, best_epoch=3) == "; ETA 20s if val does not improve again (at most 16 more epochs: ETA 2m40s)"
    assert epoch_eta(4, 1, 40.0, cfg, best_epoch=4) == "; ETA 30s if val does not improve again (at most 16 more epochs: ETA 2m40s)"
    assert epoch_eta(19, 18, 20.0, cfg, best_epoch=19) == "; ETA 10s if val does not improve again (at most 1 more epochs: ETA 10s)"
    assert epoch_eta(4, 3, 7200.0, RecConfig(epochs=10, patience=0), best_epoch=None) == "; ETA 6h00m"  # resumed at 3
    assert epoch_eta(10, 1, 50.0, RecConfig(epochs=10, patience=0), best_epoch=None) == ""


def test_early_stopping_restores_the_best_epoch(data, tmp_path, monkeypatch):
    cfg = RecConfig(epochs=20, patience=3, batch_size=512, refit=False, grid=False)
    scripted(monkeypatch)
    lines = []
    out = train_recommender(data, cfg, out_dir=tmp_path / "a", log=lines.append)
    assert [h["epoch"] for h in out.history] == [1, 2, 3, 4, 5, 6]  # 3 epochs past the best, then stop
    # each epoch line says the time left: until patience runs out (best epoch 3: 3, 3, 3, 2, 1 epochs), and at most
    epoch_lines = [m for m in lines if " epoch " in m and "/20 loss" in m]
    assert len(epoch_lines) == 6 and "ETA" not in epoch_lines[-1]  # the last epoch: stopped, nothing left
    for line, most in zip(epoch_lines[:5], (19, 18, 17, 16, 15)):
        assert re.search(rf"; ETA \S+ if val does not improve again \(at most {most} more epochs: ETA \S+\)$", line), line
    assert [h["val_ndcg@10"] for h in out.history] == CURVE[:6]
    assert out.best_epoch == 3 and out.validation["best_epoch"] == 3 and out.validation["stopped_early"]
    assert out.validation["best"] == 0.5 and out.validation["metric"] == "ndcg@10"
    # the returned params are epoch 3's: those a run killed right after epoch 3 checkpointed
    scripted(monkeypatch)

    class Killed(Exception):
        pass

    def kill_after_epoch_3(msg):
        if "epoch 3/20" in msg:
            raise Killed

    with pytest.raises(Killed):
        train_recommender(data, cfg, out_dir=tmp_path / "b", log=kill_after_epoch_3)
    assert checkpoint_meta(tmp_path / "b")["step"] == 3
    module, params, _, _ = load_recommender_state(tmp_path / "b")
    target = _checkpoint_state(params, rec_step.init_opt_state(cfg, rec_step.make_optimizer(cfg), params), 0,
                        jax.random.PRNGKey(0), params)
    state, step, _ = restore_checkpoint(tmp_path / "b", target, rec_files.CHECKPOINT_KIND)
    assert step == 3
    for a, b in zip(jax.tree_util.tree_leaves(out.params), jax.tree_util.tree_leaves(state["params"])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # the finished run's checkpoint is at epoch 6 but loads as the best epoch's model
    assert checkpoint_meta(tmp_path / "a")["step"] == 6 and checkpoint_meta(tmp_path / "a")["best_epoch"] == 3
    _, loaded, _, _ = load_recommender_state(tmp_path / "a")
    for a, b in zip(jax.tree_util.tree_leaves(out.params), jax.tree_util.tree_leaves(loaded)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # resuming the killed run ends where the uninterrupted one did (evaluations 4..6 still to come)
    scripted(monkeypatch, start=3)
    resumed = train_recommender(data, cfg, out_dir=tmp_path / "b", resume=True, log=quiet)
    assert resumed.best_epoch == 3 and [h["epoch"] for h in resumed.history] == [1, 2, 3, 4, 5, 6]
    for a, b in zip(jax.tree_util.tree_leaves(out.params), jax.tree_util.tree_leaves(resumed.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_cold_refit_trains_on_all_positives_for_the_best_epoch_count(data, tmp_path, monkeypatch):
    scripted(monkeypatch)
    cfg = RecConfig(epochs=20, patience=3, batch_size=512, grid=False, refit_epochs=None)
    out = train_recommender(data, cfg, out_dir=tmp_path, log=quiet)
    assert out.best_epoch == 3 and out.validation["refit"]["epochs"] == 3
    assert len(out.validation["refit"]["history"]) == 3 and len(out.history) == 6
    # the refit is the fixed 3-epoch schedule on every training positive, and it is what later stages load
    fixed = train_recommender(data, RecConfig(epochs=3, patience=0, batch_size=512, refit_epochs=None), log=quiet)
    _, loaded, cfg_loaded, _ = load_recommender_state(tmp_path)
    assert cfg_loaded.patience == 0 and cfg_loaded.epochs == 3
    for a, b, c in zip(jax.tree_util.tree_leaves(out.params), jax.tree_util.tree_leaves(fixed.params),
                       jax.tree_util.tree_leaves(loaded)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        np.testing.assert_array_equal(np.asarray(a), np.asarray(c))


def test_warm_refit_continues_the_best_epoch_on_all_positives(data, tmp_path, monkeypatch):
    """The default refit: `refit_epochs` more epochs from the best epoch's params and the selection's last
    optimizer state, on every training positive (the validation slice included), and it is what later stages
    load."""
    scripted(monkeypatch)
    cfg = RecConfig(epochs=20, patience=3, batch_size=512, grid=False, refit_epochs=2)
    out = train_recommender(data, cfg, out_dir=tmp_path, log=quiet)
    assert out.validation["refit"] == {**out.validation["refit"], "epochs": 2, "warm": True}
    assert out.best_epoch == 3 + 2 and len(out.validation["refit"]["history"]) == 2
    scripted(monkeypatch)
    sel = train_recommender(data, dataclasses.replace(cfg, refit=False), log=quiet)
    assert sel.best_epoch == 3
    full = dataclasses.replace(cfg, patience=0, epochs=2)
    on_all = rec_files.train_phase(data, full, log=quiet, init=(sel.params, sel.opt_state))
    fit, _ = rec_files.validation_split(data, cfg)
    on_fit = rec_files.train_phase(fit, full, log=quiet, init=(sel.params, sel.opt_state))
    _, loaded, _, _ = load_recommender_state(tmp_path)
    for a, b, c in zip(jax.tree_util.tree_leaves(out.params), jax.tree_util.tree_leaves(on_all.params),
                       jax.tree_util.tree_leaves(loaded)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        np.testing.assert_array_equal(np.asarray(a), np.asarray(c))
    # it trained (not the best-epoch model) and on the held-out rows too (not the fitted matrix alone)
    assert not np.array_equal(np.asarray(out.params["user_emb"]), np.asarray(sel.params["user_emb"]))
    assert not np.array_equal(np.asarray(out.params["user_emb"]), np.asarray(on_fit.params["user_emb"]))
    cold = rec_files.train_phase(data, full, log=quiet)  # and it started from the selection, not afresh
    assert not np.array_equal(np.asarray(out.params["user_emb"]), np.asarray(cold.params["user_emb"]))


def test_a_tied_best_score_keeps_the_earliest_epoch(data, monkeypatch):
    """Epochs 2 and 4 tie for the best validation score: epoch 2 wins (the shorter schedule), so patience counts
    from it and the returned params are epoch 2's."""
    tied = [0.10, 0.50, 0.30, 0.50, 0.20, 0.20, 0.20, 0.20]
    assert rec_files.best_of([{"epoch": e, "val_ndcg@10": v} for e, v in enumerate(tied, 1)], "ndcg@10") == (2, 0.5)
    cfg = RecConfig(epochs=20, patience=3, batch_size=512, refit=False, grid=False)
    scripted(monkeypatch, curve=tied)
    out = train_recommender(data, cfg, log=quiet)
    assert out.best_epoch == 2 and [h["epoch"] for h in out.history] == [1, 2, 3, 4, 5]
    scripted(monkeypatch, curve=tied)  # the same slice and keys for two epochs: epoch 2's params
    two = train_recommender(data, RecConfig(epochs=2, patience=3, batch_size=512, refit=False, grid=False), log=quiet)
    assert two.best_epoch == 2
    for a, b in zip(jax.tree_util.tree_leaves(out.params), jax.tree_util.tree_leaves(two.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
