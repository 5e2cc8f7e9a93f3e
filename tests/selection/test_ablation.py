"""The w_pred ablation: vmapped runs equal separate runs; rows carry the documented keys."""
import jax
import numpy as np
import pytest

from data_prep.preprocess import PrepareOptions, prepare
from data_prep.synthetic import generate, preset
from jaxsae.selection import AblationConfig, train_sweep
from jaxsae.errors import ConfigError
from jaxsae.recommenders import TwoTower
from jaxsae.sae import SAETrainConfig
from jaxsae.training.sae import train_sae
from jaxsae.sae import side_params


@pytest.fixture(scope="module")
def world():
    data = prepare(generate(preset("tiny", n_users=60, n_items=40, seed=3)), PrepareOptions())
    rng = np.random.default_rng(0)
    tt = TwoTower.create(rng.normal(size=(data.n_users, 6)), rng.normal(size=(data.n_items, 6)),
                         user_bias=0.1 * rng.normal(size=data.n_users), item_bias=rng.normal(size=data.n_items))
    base = SAETrainConfig(sae="topk", latents=12, k=3, w_emb=0.1, w_kl=0.0, steps=20, batch_size=8, log_every=10,
                          fold_biases=True)
    return data, tt, base


def test_vmapped_sweep_equals_separate_training(world):
    data, tt, base = world
    configs = [base.replace(w_pred=0.0), base.replace(w_pred=2.0)]
    params, info = train_sweep(tt, base, configs, [0, 0], log=lambda s: None)
    single, _ = train_sae(tt, None, base.replace(w_pred=2.0), log=lambda s: None)
    want = side_params(single.params, "item")
    got = side_params(params[1], "item")
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
    other = side_params(params[0], "item")
    assert not np.allclose(np.asarray(other["W"]), np.asarray(want["W"]))  # w_pred=0 trained differently
    np.testing.assert_array_equal(info["heldout"], single.heldout_users)


def test_ablation_config_validation():
    with pytest.raises(ConfigError, match="pred-weights"):
        AblationConfig(pred_weights=(1.0, -1.0))
    with pytest.raises(ConfigError, match="duplicates"):
        AblationConfig(pred_weights=(1, 1))
    with pytest.raises(ConfigError, match="steps"):
        AblationConfig(steps=0)


def test_fidelity_rises_with_w_pred_on_a_planted_recommender():
    """Planted trade-off: items vary most along dimensions 0-2, which users ignore; rankings live in the
    low-variance dimensions 3-5. With 6 ReLU latents, reconstruction alone (w_pred = 0) spends them on the
    loud dimensions (low FVU, poor rankings); the prediction-aware loss buys back the rankings."""
    from jaxsae.selection import ablate

    data = prepare(generate(preset("tiny", n_users=80, n_items=120, seed=3)), PrepareOptions())
    rng = np.random.default_rng(0)
    tt = TwoTower.create(rng.normal(size=(data.n_users, 6)) * np.array([0.05] * 3 + [1.0] * 3),
                         rng.normal(size=(data.n_items, 6)) * np.array([3.0] * 3 + [0.3] * 3))
    base = SAETrainConfig(sae="tied", latents=6, batch_size=16, steps=1000, log_every=1000)
    rows = ablate(tt, data, base, AblationConfig(pred_weights=(0, 5), steps=1000, k=10), log=lambda s: None)
    assert [r["w_pred"] for r in rows] == [0.0, 5.0]
    assert rows[1]["rbo@10"] > rows[0]["rbo@10"] + 0.1  # measured: 0.09 -> 0.30
    assert rows[1]["kendall_tau@10"] > rows[0]["kendall_tau@10"]
    assert rows[0]["fvu"] < rows[1]["fvu"]  # what w_pred = 0 optimizes instead


def test_ablation_can_ablate_a_paper_sae_setting_and_refuses_an_unknown_one():
    from jaxsae.selection import AblationConfig
    from jaxsae.app.cli import build_parser
    from jaxsae.app.cli.ablate import config_from_args
    from jaxsae.errors import ConfigError

    args = build_parser().parse_args(["ablate", "RUN", "--sae-preset", "ml1m-mf"])
    assert config_from_args(args).sae_preset == "ml1m-mf"
    with pytest.raises(ConfigError, match="known presets"):
        AblationConfig(sae_preset="ml1m-nope")


def test_ncf_reference_ablation_trains_on_the_runs_positive_pairs():
    """The ML-1M NCF reference SAE batches observed training positives (`pairs="positives"`), which only the run's
    data knows: the ablation passes the data to every program it compiles, and its w_pred run equals `train_sae`
    of the same config (same positive-pair batches, same held-out users)."""
    from jaxsae.recommenders.ncf import init_head, ncf_score
    from jaxsae.selection import ablate

    data = prepare(generate(preset("tiny", n_users=60, n_items=40, seed=3)), PrepareOptions())
    rng = np.random.default_rng(0)
    tt = TwoTower.create(rng.normal(size=(data.n_users, 6)), rng.normal(size=(data.n_items, 6)), score_fn=ncf_score,
                         head=init_head(jax.random.PRNGKey(0), 12, (8, 4)), kind="ncf")
    base = SAETrainConfig(sae="tied", latents=8, w_emb=2.0, w_pred=10.0, w_kl=0.07, rho=0.05, pred_loss="bce",
                          normalize=False, pre_bias=False, latent_bias_init="torch_linear", kl_log_eps=1e-6,
                          pairs="positives", schedule="drop_last", batch_size=8, epochs=2, log_every=10)
    rows = ablate(tt, data, base, AblationConfig(pred_weights=(0, 10), k=10), log=lambda s: None)
    assert [r["w_pred"] for r in rows] == [0.0, 10.0]
    assert all(np.isfinite(r[m]) for r in rows for m in ("rbo_paper", "kendall_tau_paper", "ms", "fvu"))
    params, info = train_sweep(tt, base, [base], [0], log=lambda s: None, data=data)
    single, _ = train_sae(tt, data, base, log=lambda s: None)
    train = np.setdiff1d(np.arange(data.n_users), info["heldout"])
    n_pairs = int(np.diff(data.train_indptr)[train].sum())  # the training users' positives, batched drop_last
    assert info["steps"] == 2 * (n_pairs // 8) and n_pairs // 8 > len(train) // 8
    for a, b in zip(jax.tree_util.tree_leaves(side_params(params[0], "item")),
                    jax.tree_util.tree_leaves(side_params(single.params, "item"))):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)

