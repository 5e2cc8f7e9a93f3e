"""Recommender training: paper SGD step, quality, pmap, resume, divergence, loading."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from data_prep import synthetic
from data_prep.preprocess import PrepareOptions, prepare
from jaxsae.checkpoint import checkpoint_meta
from jaxsae.errors import CheckpointError, ConfigError, TrainingDivergedError
from jaxsae.metrics import evaluate_most_popular, evaluate_two_tower
from jaxsae.training import parallel
from jaxsae.training import rec as rec_epochs
from jaxsae.training import rec as rec_step
from jaxsae.training import rec as rec
from jaxsae.training.rec import RecConfig, load_recommender, train_recommender


@pytest.fixture(scope="module")
def data():
    return prepare(synthetic.generate(synthetic.preset("tiny")), PrepareOptions())


def quiet(_msg):
    pass


def leaves_equal(a, b):
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    return len(la) == len(lb) and all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(la, lb))


# ---- config ------------------------------------------------------------------------------------------
def test_config_resolves_model_defaults_and_paper_preset():
    mf, ncf = RecConfig(model="mf"), RecConfig(model="ncf")
    assert (mf.optimizer, mf.reduction, mf.l2, mf.dim, mf.init_std, mf.negatives) == ("adagrad", "sum", 0.03, 64, 1 / 64, 2)
    assert RecConfig.preset("paper").dim == 20 and RecConfig(model="ncf").dim == 20
    assert (ncf.optimizer, ncf.reduction, ncf.init_std, ncf.negatives) == ("adam", "mean", 0.1, 1)
    assert RecConfig(model="mf", optimizer="sgd").lr == 0.05
    paper = RecConfig.preset("paper")
    assert (paper.optimizer, paper.lr, paper.l2, paper.batch_size, paper.epochs, paper.reduction) == (
        "sgd", 0.05, 0.01, 256, 10, "sum")
    assert paper.negatives == 1 and paper.freeze_global_bias
    assert RecConfig.preset("paper", model="ncf").optimizer == "adam"
    assert RecConfig.from_dict(paper.to_dict()) == paper


@pytest.mark.parametrize("kwargs, match", [
    (dict(model="svd"), "model must be one of"),
    (dict(optimizer="rmsprop"), "optimizer must be one of"),
    (dict(lr=-1.0), "lr must be a positive"),
    (dict(batch_size=10, devices=4), "not divisible by 4"),
    (dict(epochs=0), "epochs must be an integer >= 1"),
    (dict(negative_scheme="zipf"), "negative_scheme must be one of"),
    (dict(l2=-0.1), "l2 must be >= 0"),
])
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        RecConfig(**kwargs)


# ---- the paper's SGD step ----------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [20, 64])  # the paper's d; d=64 gathers and scatters its rows as 8-float tiles
def test_sgd_sum_step_is_the_papers_numpy_update(dim):
    """One step with preset("paper") equals the notebook's float64 `np.add.at` update (duplicates summed)."""
    cfg = RecConfig.preset("paper", batch_size=6, dim=dim)
    module = rec_step.build_recommender(cfg, 4, 5)
    params = rec_step.init_params(module, jax.random.PRNGKey(3))
    params = {**params, "user_bias": jnp.asarray([0.1, -0.2, 0.0, 0.3]),
              "item_bias": jnp.asarray([0.05, 0.0, -0.1, 0.2, 0.0]), "global_bias": jnp.asarray(1.0)}
    users = np.array([0, 1, 1, 2, 3, 0], np.int32)
    items = np.array([1, 1, 4, 0, 2, 1], np.int32)
    labels = np.array([1, 0, 1, 0, 1, 0], np.float32)
    tx = rec_step.make_optimizer(cfg)
    devices = jax.local_devices()[:1]
    fn = rec_step.make_rec_epoch(module, cfg, tx, devices)
    batches = tuple(x[None] for x in (users, items, labels, np.ones(6, np.float32)))
    new, _, _, _ = rec_epochs.run_epoch(fn, parallel.replicate(params, devices), parallel.replicate(rec_step.init_opt_state(cfg, tx, params), devices),
                                 batches, 1, 100)
    new = parallel.unreplicate(new)

    P, Q = (np.asarray(params[k], np.float64) for k in ("user_emb", "item_emb"))
    bu, bi = (np.asarray(params[k], np.float64) for k in ("user_bias", "item_bias"))
    lr, beta = 0.05, 0.01
    Pu, Qi, buu, bii = P[users], Q[items], bu[users], bi[items]
    err = labels - 1 / (1 + np.exp(-(1.0 + buu + bii + (Pu * Qi).sum(1))))
    np.add.at(bu, users, lr * (err - beta * buu))
    np.add.at(bi, items, lr * (err - beta * bii))
    np.add.at(P, users, lr * (err[:, None] * Qi - beta * Pu))
    np.add.at(Q, items, lr * (err[:, None] * Pu - beta * Qi))
    np.testing.assert_allclose(new["user_emb"], P, atol=1e-6)
    np.testing.assert_allclose(new["item_emb"], Q, atol=1e-6)
    np.testing.assert_allclose(new["user_bias"], bu, atol=1e-6)
    np.testing.assert_allclose(new["item_bias"], bi, atol=1e-6)
    assert float(new["global_bias"]) == 1.0  # frozen, as in the paper


def test_epoch_batches_cover_every_positive_once_with_fresh_negatives(data):
    cfg = RecConfig(batch_size=256, negatives=2)
    key = jax.random.PRNGKey(0)
    u, i, y, w = rec_epochs.epoch_batches(data, cfg, rec_epochs.epoch_key(key, 1), None)
    assert u.shape == (-(-3 * data.n_train // 256), 256)
    real = w.reshape(-1) > 0
    assert real.sum() == 3 * data.n_train and y.reshape(-1)[real].sum() == data.n_train
    pos = set(zip(*data.train_pairs()))
    got_pos = {(a, b) for a, b, lab in zip(u.reshape(-1)[real], i.reshape(-1)[real], y.reshape(-1)[real]) if lab == 1}
    assert got_pos == {(int(a), int(b)) for a, b in pos}
    negs = [(a, b) for a, b, lab in zip(u.reshape(-1)[real], i.reshape(-1)[real], y.reshape(-1)[real]) if lab == 0]
    assert not any((int(a), int(b)) in pos for a, b in negs[:500])
    u2, i2, _, _ = rec_epochs.epoch_batches(data, cfg, rec_epochs.epoch_key(key, 2), None)
    assert not np.array_equal(i, i2)  # re-sampled and re-shuffled every epoch


# ---- training ----------------------------------------------------------------------------------------
def test_ncf_training_beats_most_popular(data):
    cfg = RecConfig(model="ncf", epochs=12, batch_size=512, patience=0)
    out = train_recommender(data, cfg, log=quiet)
    m = evaluate_two_tower(out.two_tower, data)
    pop = evaluate_most_popular(data)
    assert m["ndcg@10"] > pop["ndcg@10"] + 0.03, (m, pop)
    assert len(out.history) == cfg.epochs and out.history[-1]["loss"] < out.history[0]["loss"]


def test_tiled_row_gather_is_the_plain_gather():
    table = jnp.arange(11 * 64, dtype=jnp.float32).reshape(11, 64)
    ids = jnp.asarray([[3, 0, 10], [3, 7, 1]], jnp.int32)
    for d in (1, 8, 20, 64):
        np.testing.assert_array_equal(np.asarray(rec_step.gather_rows(table[:, :d], ids)), np.asarray(table[:, :d][ids]))
    np.testing.assert_array_equal(np.asarray(rec_step.gather_rows(table[:, 0], ids)), np.asarray(table[:, 0][ids]))


def test_four_devices_match_one_device(data):
    """Same global batches on 4 fake CPU devices: the sparse (Adagrad) and the dense (Adam) step agree with 1."""
    assert jax.local_device_count() >= 4, "tests/conftest.py sets up 4 CPU devices"
    # MF with early stopping (validation each epoch, best epoch kept), NCF on the fixed schedule
    for cfg in (RecConfig(epochs=2, batch_size=512, refit=False), RecConfig(model="ncf", epochs=1, batch_size=512, patience=0)):
        one = train_recommender(data, cfg, log=quiet)
        four = train_recommender(data, dataclasses.replace(cfg, devices=4), log=quiet)
        for a, b in zip(jax.tree_util.tree_leaves(one.params), jax.tree_util.tree_leaves(four.params)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)


def test_kill_and_resume_equals_uninterrupted_run(data, tmp_path):
    cfg = RecConfig(epochs=4, batch_size=512, grid=False)  # one model: the checkpoints of early stopping and the refit
    straight = train_recommender(data, cfg, out_dir=tmp_path / "straight", log=quiet)
    # the default MF clearly beats the most-popular ranking
    m, pop = evaluate_two_tower(straight.two_tower, data), evaluate_most_popular(data)
    assert m["ndcg@10"] > pop["ndcg@10"] + 0.05, (m, pop)
    assert straight.history[-1]["loss"] < straight.history[0]["loss"]

    class Killed(Exception):
        pass

    def kill_after_epoch_2(msg):
        if "epoch 2/4" in msg:
            raise Killed

    with pytest.raises(Killed):
        train_recommender(data, cfg, out_dir=tmp_path / "crash", log=kill_after_epoch_2)
    # the default stops early: the selection run is checkpointed in select/, killed before the refit
    assert checkpoint_meta(tmp_path / "crash" / "select")["step"] == 2
    assert checkpoint_meta(tmp_path / "crash") is None
    resumed = train_recommender(data, cfg, out_dir=tmp_path / "crash", resume=True, log=quiet)
    assert leaves_equal(straight.params, resumed.params)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in straight.history]

    # the checkpoint loads back as the same frozen two-tower scorer
    tt = load_recommender(tmp_path / "straight")
    assert tt.kind == "mf" and tt.n_users == data.n_users and tt.n_items == data.n_items
    users = jnp.arange(5)
    np.testing.assert_array_equal(np.asarray(tt.logits_cross(users)), np.asarray(straight.two_tower.logits_cross(users)))


def test_resume_with_another_config_is_refused(data, tmp_path):
    # one model, not the grid: which candidate a grid keeps depends on the data and the defaults
    train_recommender(data, RecConfig(epochs=1, batch_size=512, grid=False), out_dir=tmp_path, log=quiet)
    with pytest.raises(CheckpointError, match="another config.*l2"):
        train_recommender(data, RecConfig(epochs=2, batch_size=512, l2=0.5, grid=False), out_dir=tmp_path, resume=True,
                          log=quiet)
    # a lower lr is what a divergence advises: resuming with it is allowed
    out = train_recommender(data, RecConfig(epochs=2, batch_size=512, lr=0.01, grid=False), out_dir=tmp_path,
                            resume=True, log=quiet)
    assert [h["epoch"] for h in out.history] == [1, 2]


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(data, tmp_path, monkeypatch):
    real = rec.EpochSampler.batches

    def poisoned(self, key):
        u, i, y, w = real(self, key)
        epoch_key = key[0] if isinstance(key, tuple) else key  # the trainer passes `host_keys`
        if np.array_equal(np.asarray(epoch_key), np.asarray(rec.epoch_key(jax.random.PRNGKey(self.config.seed), 2))):
            w = w.astype(np.float32)  # the step takes any real weights; a NaN needs floats
            w[0, 0] = np.nan
        return u, i, y, w

    monkeypatch.setattr(rec.EpochSampler, "batches", poisoned)  # the class the trainer samples epochs with
    with pytest.raises(TrainingDivergedError, match="diverged at epoch 2.*last good checkpoint \\(epoch 1\\)"):
        train_recommender(data, RecConfig(epochs=3, batch_size=512, patience=0), out_dir=tmp_path, log=quiet)
    assert checkpoint_meta(tmp_path)["step"] == 1
    tt = load_recommender(tmp_path)
    assert np.isfinite(np.asarray(tt.user_emb)).all()


def test_load_ncf_round_trip(data, tmp_path):
    model = "ncf"
    out = train_recommender(data, RecConfig(model=model, epochs=1, batch_size=512, patience=0), out_dir=tmp_path, log=quiet)
    tt = load_recommender(tmp_path)
    assert tt.kind == model and tt.n_users == data.n_users and tt.n_items == data.n_items
    users = jnp.arange(5)
    np.testing.assert_array_equal(np.asarray(tt.logits_cross(users)), np.asarray(out.two_tower.logits_cross(users)))


def test_load_recommender_without_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no recommender checkpoint"):
        load_recommender(tmp_path)


def test_epoch_batches_do_not_depend_on_the_block_size(data, monkeypatch):
    """Negatives are checked and the shuffled epoch gathered in blocks: tiny blocks give the same batches."""
    import jaxsae.training.rec._epochs as epochs_mod
    from data_prep import negatives

    cfg = RecConfig(batch_size=256, negatives=2)
    key = rec_epochs.epoch_key(jax.random.PRNGKey(0), 1)
    whole = rec_epochs.epoch_batches(data, cfg, key, None)
    monkeypatch.setattr(negatives, "LOOKUP_BLOCK", 97)
    monkeypatch.setattr(epochs_mod, "BLOCK", 101)
    for a, b in zip(rec_epochs.epoch_batches(data, cfg, key, None), whole):
        np.testing.assert_array_equal(a, b)


def test_epoch_batches_equal_the_plain_construction(data):
    """The sampler's epoch is, bit for bit, the plain one: all positives then `negatives` sampled negatives
    per positive (same key), shuffled by `rng.permutation`, cut into batches and padded with weight-0 rows
    (labels and weights as bools)."""
    from data_prep.negatives import all_positives_csr, sample_negatives

    cfg = RecConfig(batch_size=256, negatives=2)
    key = rec_epochs.epoch_key(jax.random.PRNGKey(3), 2)
    pos_u, pos_i = data.train_pairs()
    neg_u = np.tile(pos_u, 2)
    neg_i = sample_negatives(key, neg_u, *all_positives_csr(data), data.n_items, None)
    users, items = np.concatenate([pos_u, neg_u]), np.concatenate([pos_i, neg_i])
    labels = np.concatenate([np.ones(pos_u.size, bool), np.zeros(neg_u.size, bool)])
    seed = np.asarray(jax.random.key_data(jax.random.fold_in(key, 1))).ravel().tolist()
    perm = np.random.default_rng(seed).permutation(users.size)
    pad = -users.size % 256
    want = [np.concatenate([x[perm], np.zeros(pad, x.dtype)]).reshape(-1, 256)
            for x in (users, items, labels, np.ones(users.size, bool))]
    for got, w in zip(rec_epochs.epoch_batches(data, cfg, key, None), want):
        assert got.dtype == w.dtype
        np.testing.assert_array_equal(got, w)


def test_host_keys_give_the_same_batches_as_the_jax_key(data):
    """The trainer builds epoch e+1's batches from `host_keys` (host arrays taken before epoch e is
    dispatched, so the host's work overlaps the device's); they must be the batches of the JAX key."""
    cfg = RecConfig(epochs=2, batch_size=512, patience=0)
    sampler = rec.EpochSampler(data, cfg, None)
    key = rec.epoch_key(jax.random.PRNGKey(0), 3)
    keys = rec.host_keys(key)
    assert all(isinstance(k, np.ndarray) for k in keys)
    # the streams of the former in-batches derivation, so earlier runs reproduce bit for bit
    np.testing.assert_array_equal(keys[0], np.asarray(key))
    np.testing.assert_array_equal(keys[1], np.asarray(jax.random.key_data(jax.random.fold_in(key, 1))))
    for a, b in zip(sampler.batches(key), sampler.batches(keys)):
        np.testing.assert_array_equal(a, b)
    other = sampler.batches(rec.host_keys(rec.epoch_key(jax.random.PRNGKey(0), 4)))
    assert not np.array_equal(other[1], sampler.batches(keys)[1])


def test_the_trainer_builds_later_epochs_from_host_keys(data, monkeypatch):
    real, seen = rec.EpochSampler.batches, []

    def spy(self, key):
        seen.append(isinstance(key, tuple))
        return real(self, key)

    monkeypatch.setattr(rec.EpochSampler, "batches", spy)
    train_recommender(data, RecConfig(epochs=3, batch_size=512, patience=0), log=quiet)
    assert seen == [False, True, True]  # epoch 1 before any dispatch; 2 and 3 while the device runs 1 and 2
