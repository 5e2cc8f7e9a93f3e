"""The SAE sweep: honest splits, vmapped grid == separate trainings, the selection rule, sweep.json."""
import json
import re
from pathlib import Path

import jax
import numpy as np
import pytest

from data_prep.preprocess import PrepareOptions, prepare
from data_prep.synthetic import generate, preset
from jaxsae.selection import choose, sweep, sweep_split
from jaxsae.selection import SweepConfig, load_grid
from jaxsae.errors import ConfigError
from jaxsae.recommenders import TwoTower
from jaxsae.sae import SAETrainConfig
from jaxsae.training.sae import program_key, train_grid
from jaxsae.training.sae import heldout_split, train_sae

TINY = {"latents": 8, "k": 2, "steps": 10, "batch_size": 8, "log_every": 10}


@pytest.fixture(scope="module")
def world():
    data = prepare(generate(preset("tiny", n_users=60, n_items=40, seed=3)), PrepareOptions())
    rng = np.random.default_rng(0)
    tt = TwoTower.create(rng.normal(size=(data.n_users, 6)), rng.normal(size=(data.n_items, 6)),
                         user_bias=0.1 * rng.normal(size=data.n_users), item_bias=rng.normal(size=data.n_items))
    return data, tt


def _config(**kw):
    return SweepConfig.from_grid({"axes": {"w_pred": [1.0, 3.0]}}, base_overrides=TINY,
                                 seeds=(0, 1), null_seeds=2, **kw)


def test_split_is_disjoint_and_keeps_train_sae_heldout_users():
    base = SAETrainConfig(seed=5, heldout_fraction=0.25)
    train, val, held = sweep_split(101, base, 0.2)
    assert set(train).isdisjoint(val) and set(train).isdisjoint(held) and set(val).isdisjoint(held)
    assert sorted([*train, *val, *held]) == list(range(101))
    np.testing.assert_array_equal(held, heldout_split(101, 0.25, 5)[1])  # what RUN/sae/metrics.json reports on
    assert len(val) == round(0.2 * (101 - len(held)))


def _perturbed(tt, users, scale):
    rng = np.random.default_rng(1)
    u = np.asarray(tt.user_emb).copy()
    u[users] = scale * rng.normal(size=(len(users), u.shape[1]))
    b = np.asarray(tt.user_bias).copy()
    b[users] = scale * rng.normal(size=len(users))
    return tt.replace(user_emb=u, user_bias=b)


@pytest.mark.slow
def test_choice_and_figures_never_depend_on_heldout_users(world):
    data, tt = world
    config = _config()
    _, val, held = sweep_split(tt.n_users, config.base, config.validation_fraction)
    doc, runs = sweep(tt, data, config, log=lambda s: None)
    adv, runs_adv = sweep(_perturbed(tt, held, 50.0), data, config, log=lambda s: None)  # adversarial held-out rows
    assert adv["chosen"] == doc["chosen"]
    for a, b in zip(doc["settings"], adv["settings"]):
        assert a["per_seed"] == b["per_seed"]  # bit-identical figures
    for key in runs:  # and identical trained parameters
        for x, y in zip(jax.tree_util.tree_leaves(runs[key][0].params), jax.tree_util.tree_leaves(runs_adv[key][0].params)):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    # the check can fail: the same perturbation of the validation users moves the figures...
    moved, runs_moved = sweep(_perturbed(tt, val, 50.0), data, config, log=lambda s: None)
    assert any(a["figures"]["rbo@30"] != b["figures"]["rbo@30"] for a, b in zip(doc["settings"], moved["settings"]))
    # ...but not the trained SAEs: the grid never trains on the validation users it is scored on
    for key in runs:
        for x, y in zip(jax.tree_util.tree_leaves(runs[key][0].params),
                        jax.tree_util.tree_leaves(runs_moved[key][0].params)):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.slow
def test_vmapped_grid_equals_separate_trainings(world):
    data, tt = world
    base = SAETrainConfig(sae="topk", w_emb=0.1, w_kl=0.0, fold_biases=True, **TINY)
    configs = [base.replace(w_pred=0.5, seed=0), base.replace(w_pred=2.0, seed=1), base.replace(w_l1=0.1, seed=2)]
    # weights, seeds and schedule share a program; shapes, the loss kind and the learning rate do not
    key = program_key(base, 10)
    assert all(program_key(c, 10) == key for c in configs) and program_key(base.replace(steps=99), 10) == key
    assert all(program_key(base.replace(**ch), 10) != key for ch in ({"k": 3}, {"latents": 16}, {"lr": 0.01},
                                                                      {"fold_biases": False}, {"batch_size": 4}))
    users = [heldout_split(tt.n_users, c.heldout_fraction, c.seed)[0] for c in configs]
    runs, info = train_grid(tt, configs, users, log=lambda s: None)
    assert len(info["programs"]) == 1 and [r.program for r in runs] == [0, 0, 0]
    for c, run in zip(configs, runs):
        single, _ = train_sae(tt, None, c, log=lambda s: None)
        for a, b in zip(jax.tree_util.tree_leaves(run.state.params), jax.tree_util.tree_leaves(single.params)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)


def test_grid_runs_are_balanced_from_their_own_training_users(world):
    """A run's input space is `train_sae`'s for the same users: its side-balancing c comes from its training users
    only (users it never trains on, a sweep's validation users, cannot reach it), and runs with another c train
    in another program."""
    from jaxsae.sae import sae_input_space

    _, tt = world
    lopsided = tt.replace(user_emb=tt.user_emb * 12.0, item_emb=tt.item_emb * 0.1)
    base = SAETrainConfig(sae="topk", fold_biases=True, **{**TINY, "steps": 2})
    users = np.arange(0, tt.n_users, 2, dtype=np.int32)
    shifted = lopsided.replace(user_emb=lopsided.user_emb.at[1::2].multiply(40.0))  # only rows outside `users`
    runs, info = train_grid(shifted, [base, base.replace(seed=1)], [users, np.arange(tt.n_users, dtype=np.int32)],
                            log=lambda s: None)
    want, c = sae_input_space(shifted, True, True, users)
    assert c < 0.5 and runs[0].balance_factor == pytest.approx(c)
    np.testing.assert_allclose(np.asarray(runs[0].input_two_tower.user_emb), np.asarray(want.user_emb), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(runs[0].input_two_tower.item_emb), np.asarray(want.item_emb), rtol=1e-6)
    assert runs[1].balance_factor != pytest.approx(c) and len(info["programs"]) == 2


def _row(clear, rbo, tau, pop, density=0.05, seeds=None):
    per_seed = [{"clear_concepts": c} for c in (seeds or [clear])]
    return {"figures": {"clear_concepts": clear, "rbo@30": rbo, "kendall_tau@30": tau, "popularity_rho": pop,
                        "density": density}, "per_seed": per_seed}


def test_rule_puts_density_first():
    c = SweepConfig(seeds=(0,))
    # a denser, more faithful setting with more concepts loses to one under max_density (0.10)
    assert choose([_row(9, 0.95, 0.9, 0.9, density=0.5), _row(3, 0.5, 0.2, 0.4, density=0.08)], c) == 1
    assert choose([_row(3, 0.5, 0.2, 0.4, density=0.1), _row(9, 0.95, 0.9, 0.9, density=0.11)], c) == 0
    # max_density is an option; with none under it, the least dense setting
    assert choose([_row(9, 0.95, 0.9, 0.9, density=0.5), _row(3, 0.5, 0.2, 0.4, density=0.08)],
                  SweepConfig(seeds=(0,), max_density=0.6)) == 0
    assert choose([_row(9, 0.95, 0.9, 0.9, density=0.5), _row(1, 0.5, 0.2, 0.4, density=0.3)], c) == 1


def test_rule_prefers_clear_concepts_beyond_the_seeds_noise_then_fidelity():
    c = SweepConfig(seeds=(0, 1))
    # within the density constraint, more clear concepts beat fidelity by more than the tolerance
    assert choose([_row(4, 0.9, 0.8, 0.9), _row(8, 0.5, 0.2, 0.1)], c) == 1
    # within one clear concept of the best: the most faithful (rbo + kendall)
    assert choose([_row(8, 0.5, 0.2, 0.9), _row(7, 0.7, 0.4, 0.1), _row(5, 0.9, 0.8, 0.9)], c) == 1
    # the best setting's seeds spread 8..14 (mean 11): a setting 5 below is within that noise, and more faithful
    assert choose([_row(11, 0.5, 0.2, 0.9, seeds=[8, 14]), _row(6, 0.7, 0.4, 0.1, seeds=[6, 6])], c) == 1
    assert choose([_row(11, 0.5, 0.2, 0.9, seeds=[11, 11]), _row(6, 0.7, 0.4, 0.1, seeds=[6, 6])], c) == 0
    # exact fidelity ties: the stronger popularity neuron, then grid order
    assert choose([_row(3, 0.8, 0.5, 0.5), _row(3, 0.8, 0.5, 0.7)], c) == 1
    assert choose([_row(3, 0.8, 0.5, 0.7), _row(3, 0.8, 0.5, 0.7)], c) == 0


def test_config_validation():
    with pytest.raises(ConfigError, match="seeds"):
        SweepConfig.from_grid({"axes": {"seed": [0, 1]}})
    with pytest.raises(ConfigError, match="not an SAE config field"):
        SweepConfig.from_grid({"axes": {"width": [1]}})
    with pytest.raises(ConfigError, match="TopK needs"):
        SweepConfig.from_grid({"axes": {"k": [8, 80]}})
    c = SweepConfig.from_grid({"axes": [{"k": [2, 4]}, {"sae": ["tied"], "k": [2, 4]}]}, base_overrides=TINY)
    assert [p for p, _ in c.settings()] == [{"k": 2}, {"k": 4}, {"sae": "tied"}]  # k is moot for tied: one setting


@pytest.mark.slow
def test_train_sae_auto_writes_sweep_and_a_loadable_sae(tmp_path, capsys):
    from jaxsae.app.cli import main
    from jaxsae.training.rec import RecConfig, train_recommender
    from jaxsae.app.runs import load_run_sae

    data = prepare(generate(preset("tiny")))
    data.save(tmp_path / "data")
    train_recommender(data, RecConfig(dim=6, epochs=1), out_dir=tmp_path / "rec", log=lambda _: None)
    (tmp_path / "rec" / "metrics.json").write_text("{}")  # a finished recommender stage (jaxsae.app.lineage)
    rc = main(["train-sae", str(tmp_path), "--sae", "auto", "--axis", "w_pred=1,2", "--latents", "8", "--steps", "10",
               "--batch-size", "16", "--sweep-seeds", "0,1", "--null-seeds", "2"])
    assert rc == 0, capsys.readouterr().err
    doc = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    assert {"schema", "rule", "split", "config", "concepts", "settings", "chosen", "chosen_params", "chosen_config",
            "cost", "fingerprint"} <= set(doc)
    assert len(doc["settings"]) == 2 and doc["cost"]["n_runs"] == 4 and doc["cost"]["n_programs"] == 1
    for row in doc["settings"]:
        assert {"id", "params", "config", "program", "figures", "per_seed", "attainment", "feasible"} <= set(row)
        assert [r["seed"] for r in row["per_seed"]] == [0, 1]
        assert {"clear_concepts", "rbo@30", "kendall_tau@30", "popularity_rho", "l0", "fvu", "item_density",
                "user_density", "density"} <= set(row["figures"])
        f = row["figures"]
        assert f["density"] == max(f["item_density"], f["user_density"]) and 0 < f["density"] <= 1
    s = doc["split"]
    assert s["n_train_users"] + s["n_validation_users"] + s["n_heldout_users"] == data.n_users
    assert (tmp_path / "sweep" / "pareto.png").exists()
    metrics = json.loads((tmp_path / "sae" / "metrics.json").read_text())
    assert metrics["selection"]["params"] == doc["chosen_params"] and metrics["n_heldout_users"] == s["n_heldout_users"]
    assert "rbo@30" in metrics
    sae = load_run_sae(tmp_path)
    assert sae.config.w_pred == doc["chosen_params"]["w_pred"] and sae.config.k == 8
    # the reused grid run is saved with the balancing factor of the space it was trained in
    from jaxsae.checkpoint import checkpoint_meta
    from jaxsae.sae import side_factor
    from jaxsae.selection import sweep_split
    from jaxsae.training.rec import load_recommender

    rec = load_recommender(tmp_path / "rec")
    train, _, _ = sweep_split(data.n_users, SAETrainConfig(), doc["split"]["validation_fraction"])
    c = side_factor(rec.user_emb, rec.item_emb, train)
    assert checkpoint_meta(tmp_path / "sae")["balance_factor"] == pytest.approx(c) == sae.balance_factor
    np.testing.assert_array_equal(sae.heldout_users, heldout_split(data.n_users, 0.2, 0)[1])


def test_pipeline_configs_can_ask_for_the_automatic_sae():
    from jaxsae.selection import SweepConfig
    from jaxsae.app.pipeline import check_options, load_config, stage_argv

    cfg = load_config("synthetic-demo")  # the demo's SAE is the automatic choice
    checked = check_options(cfg)
    assert isinstance(checked["train_sae"][0], SweepConfig)
    argv = stage_argv("train_sae", Path("R"), cfg.stages["train_sae"], cfg.dataset)
    assert argv[:3] == ["train-sae", "R", "--sae=auto"]
    assert load_config("ml100k-mf", variant="auto-sae").stages["train_sae"]["sae"] == "auto"


def test_scoring_in_chunks_of_users_equals_scoring_all_at_once(world):
    """The sweep scores validation users in chunks (the [users, n_items] logits stay small at ML-25M size): the
    figures are those of one call over every validation user, for a ragged last chunk too. Its training logs
    the time left."""
    from jaxsae.sae import TrainedSAE
    from jaxsae.selection._sweep import _Scorer  # white-box: the chunk size is the scorer's
    from jaxsae.training.sae import build_sae

    data, tt = world
    config = _config()
    train, val, held = sweep_split(tt.n_users, config.base, config.validation_fraction)
    lines = []
    (run,), _ = train_grid(tt, [config.settings()[0][1].replace(steps=20)], train, log=lines.append)
    assert re.fullmatch(r".* step 10/20; ETA \S+ for this program", lines[0]) and lines[-1].endswith(" step 20/20")
    sae = TrainedSAE(module=build_sae(run.config, run.d), params=run.state.params, config=run.config,
                     input_two_tower=run.input_two_tower, heldout_users=held, balance_factor=run.balance_factor)
    assert len(val) % 3 != 0
    whole = _Scorer(data, val, config, chunk_size=len(val))(sae)
    assert _Scorer(data, val, config, chunk_size=3)(sae) == whole
    assert _Scorer(data, val, config, chunk_size=3, mask_cache_bytes=0)(sae) == whole  # masks rebuilt per SAE
    assert 0 < whole["rbo@30"] < 1


def test_the_original_top_k_lists_are_ranked_once_per_input_two_tower(world):
    """The original model's lists are the same for every SAE of a sweep on one recommender: ranked once, and
    never reused for an SAE on another recommender."""
    from jaxsae.sae import TrainedSAE
    from jaxsae.selection._sweep import _Scorer  # white-box: the scorer's cache
    from jaxsae.training.sae import build_sae

    data, tt = world
    config = _config()
    train, val, held = sweep_split(tt.n_users, config.base, config.validation_fraction)
    (run,), _ = train_grid(tt, [config.settings()[0][1].replace(steps=20)], train)

    def sae_on(two_tower):
        return TrainedSAE(module=build_sae(run.config, run.d), params=run.state.params, config=run.config,
                          input_two_tower=two_tower, heldout_users=held, balance_factor=run.balance_factor)

    scorer = _Scorer(data, val, config, chunk_size=4)
    first = scorer(sae_on(run.input_two_tower))
    assert scorer(sae_on(run.input_two_tower)) == first and len(scorer._original) == 1
    other = run.input_two_tower.replace(user_emb=run.input_two_tower.user_emb[::-1])
    assert scorer(sae_on(other)) == _Scorer(data, val, config)(sae_on(other)) and len(scorer._original) == 2


def test_the_top_k_lists_rank_a_seeded_sample_of_at_most_max_ranked_validation_users(world):
    from jaxsae.metrics import sample_users
    from jaxsae.sae import TrainedSAE
    from jaxsae.selection._sweep import _Scorer  # white-box: the scorer's sample
    from jaxsae.training.sae import build_sae

    data, tt = world
    config = _config()
    train, val, held = sweep_split(tt.n_users, config.base, config.validation_fraction)
    (run,), _ = train_grid(tt, [config.settings()[0][1].replace(steps=20)], train)
    sae = TrainedSAE(module=build_sae(run.config, run.d), params=run.state.params, config=run.config,
                     input_two_tower=run.input_two_tower, heldout_users=held, balance_factor=run.balance_factor)
    capped, whole = _Scorer(data, val, config, max_ranked=7)(sae), _Scorer(data, val, config)(sae)
    on_sample = _Scorer(data, sample_users(val, 7), config)(sae)
    lists = ("rbo@30", "kendall_tau@30")
    assert len(val) > 7 and all(capped[m] == on_sample[m] for m in lists) and capped[lists[0]] != whole[lists[0]]
    assert all(capped[m] == whole[m] for m in ("l0", "fvu", "user_density", "clear_concepts"))


def test_default_grid_is_sparse_by_construction():
    """Every setting of the built-in `default` grid fires at most `max_density` of its latents on a row (k
    sparse latents plus the dense block, over h), so the rule's first step never has to fall back to the least
    dense setting: the code `jaxsae run` gives without options is a sparse one."""
    sweep = SweepConfig.from_grid(load_grid("default"))
    assert len(sweep.settings()) >= 2
    for params, config in sweep.settings():
        assert (config.k + config.dense_latents) / config.latents <= sweep.max_density, params
