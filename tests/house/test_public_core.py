"""The public functional core: a custom training loop written only with names imported from `jaxsae` reaches the
parameters of `train_sae`; the core is the same function with and without jit (chex variants); an architecture
registered from outside trains, is analyzed and steers; and the public face exports no private name."""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxsae
from jaxsae import (SAEBatch, SAETrainConfig, TiedSAE, TwoTower, analyze, batch_indices, heldout_split, init_state,
                    register_sae, sae_input_space, sae_loss, train_sae, train_step)


@pytest.fixture(scope="module")
def toy():
    """A toy MF two-tower (30 users, 40 items, d=6) and tiny interaction data with planted genres."""
    from data_prep.preprocess import prepare
    from data_prep.synthetic import generate, preset

    data = prepare(generate(preset("tiny")))
    rng = np.random.default_rng(0)
    tt = TwoTower.create(rng.normal(size=(data.n_users, 6)), rng.normal(size=(data.n_items, 6)),
                         item_bias=rng.normal(size=data.n_items), kind="mf")
    return tt, data


def _custom_loop(tt: TwoTower, config: SAETrainConfig):
    """Training as a researcher would write it, from the public names only."""
    train_users, _ = heldout_split(tt.n_users, config.heldout_fraction, config.seed)
    space, _ = sae_input_space(tt, config.balance_sides, config.fold_biases, train_users)
    users, items = batch_indices(train_users, space.n_items, config.seed, 0, config.steps, config.batch_size)
    state = init_state(jax.random.PRNGKey(config.seed), config, space.dim)
    step = jax.jit(train_step, static_argnames="config")
    for u, i in zip(users, items):
        state, metrics = step(state, SAEBatch.of(space, u, i, config), space, config=config)
    return state, metrics


@pytest.mark.parametrize("kw", [dict(shared=False), dict(pred_loss="bce"), dict(sae="matryoshka", latents=12)])
def test_a_custom_loop_reaches_the_parameters_of_train_sae(toy, kw):
    tt, data = toy
    config = SAETrainConfig(**{**dict(sae="topk", latents=12, k=3, steps=40, batch_size=16, log_every=40,
                                      checkpoint_every=40), **kw})
    state, _ = _custom_loop(tt, config)
    trained, _ = train_sae(tt, None, config, log=lambda s: None)
    mine, theirs = jax.tree_util.tree_leaves(state.params), jax.tree_util.tree_leaves(trained.params)
    assert len(mine) == len(theirs)
    for a, b in zip(mine, theirs):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-5, atol=1e-6)
    moved = init_state(jax.random.PRNGKey(config.seed), config, tt.dim).params
    assert any(not np.allclose(a, b) for a, b in zip(jax.tree_util.tree_leaves(moved), theirs))


class TestCoreVariants(chex.TestCase):
    """`sae_loss` and `train_step` are pure: jitted or not, the same numbers."""

    def _setup(self):
        rng = np.random.default_rng(1)
        tt = TwoTower.create(rng.normal(size=(10, 5)), rng.normal(size=(12, 5)), kind="mf")
        config = SAETrainConfig(sae="topk", latents=8, k=2, w_l1=0.1)
        state = init_state(jax.random.PRNGKey(0), config, 5)
        return tt, config, state, SAEBatch.of(tt, jnp.arange(8), jnp.arange(8))

    @chex.variants(with_jit=True, without_jit=True)
    def test_loss(self):
        tt, config, state, batch = self._setup()
        loss_fn = self.variant(lambda p, b, r: sae_loss(p, b, r, config)[0])
        loss = loss_fn(state.params, batch, tt)
        chex.assert_shape(loss, ())
        np.testing.assert_allclose(float(loss), float(sae_loss(state.params, batch, tt, config)[0]), rtol=1e-6)

    @chex.variants(with_jit=True, without_jit=True)
    def test_step(self):
        tt, config, state, batch = self._setup()
        new, metrics = self.variant(lambda s, b, r: train_step(s, b, r, config))(state, batch, tt)
        chex.assert_trees_all_equal_shapes(new.params, state.params)
        assert int(new.step) == 1 and np.isfinite(float(metrics["loss"]))

    def test_shape_checks_name_the_problem(self):
        tt, config, state, _ = self._setup()
        with self.assertRaises(AssertionError):
            sae_loss(state.params, SAEBatch(user_x=jnp.zeros((4, 3)), item_x=jnp.zeros((4, 3))), tt, config)


class _SignSAE(TiedSAE):
    """A tiny outside architecture: ReLU of the pre-activation, then only the latents above the row's mean kept."""

    def encode(self, x):
        z, stats = super().encode(x)
        keep = z > jnp.mean(z, axis=-1, keepdims=True)
        return z * keep, stats


def _build_sign(d, h, k=0, prefixes=None, normalize=True, tied=True, **reference):
    del k, prefixes
    return _SignSAE(d=d, h=h, activation="relu", normalize=normalize, tied=tied, **reference)


def test_an_outside_architecture_registers_in_one_call_and_trains_analyzes_and_steers(toy):
    from jaxsae.interventions import Steerer, filter_experiment
    from jaxsae.sae import SAE_REGISTRY

    tt, data = toy
    register_sae("toy-sign", _build_sign, replace=True)
    try:
        with pytest.raises(jaxsae.ConfigError, match="already registered"):
            register_sae("toy-sign", _build_sign)
        config = SAETrainConfig(sae="toy-sign", latents=12, steps=60, batch_size=16, log_every=60)
        sae, metrics = train_sae(tt, data, config, log=lambda s: None)
        assert isinstance(sae.module, _SignSAE) and np.isfinite(metrics["fvu"])
        z, _ = sae.encode_items()
        assert np.all(np.asarray(z) >= 0) and np.any(np.asarray(z) == 0)  # its own rule, not plain ReLU
        results = analyze(sae, data)
        assert results["concepts"] and {"concept", "neuron"} <= set(results["concepts"][0])
        concept = results["concepts"][0]["concept"]
        out = filter_experiment(Steerer.from_trained(sae), data, concept, sae.heldout_users, audience_size=5,
                                levels=(0.0, -1.0))
        assert len(out["levels"]) == 2
    finally:
        SAE_REGISTRY.pop("toy-sign", None)
    with pytest.raises(jaxsae.ConfigError, match="unknown SAE"):
        SAETrainConfig(sae="toy-sign")


def test_the_public_face_exports_only_public_names():
    assert all(not n.startswith("_") or n == "__version__" for n in jaxsae.__all__)
    for name in jaxsae.__all__:
        assert getattr(jaxsae, name) is not None, name
