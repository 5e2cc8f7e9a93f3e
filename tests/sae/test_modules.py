"""SAE modules: the tied formulas against NumPy, TopK, Matryoshka levels, untied decoder, registry."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsae.errors import ConfigError
from jaxsae.sae import SAE_REGISTRY, MatryoshkaSAE, TiedSAE, make_sae, normalize_rows, denormalize_rows, topk


_JITTED = {}


def _apply(module, *args, method=None):
    """`module.apply` compiled (faster than op-by-op dispatch), one jitted function per module."""
    if module not in _JITTED:
        _JITTED[module] = jax.jit(module.apply, static_argnames="method")
    return _JITTED[module](*args, method=method)


def _init(module, d, seed=0):
    params = jax.jit(module.init)(jax.random.PRNGKey(seed), jnp.zeros((1, d)))["params"]
    # non-zero biases so that the test sees where each one enters
    params = dict(params)
    params["b_pre"] = jnp.linspace(-0.3, 0.4, d)
    params["b_lat"] = jnp.linspace(-0.2, 0.1, module.h)
    return params


def test_tied_sae_matches_numpy_formula_with_normalization():
    d, h = 5, 7
    module = TiedSAE(d=d, h=h)
    p = _init(module, d)
    x = np.random.default_rng(0).normal(size=(4, d)).astype(np.float32) * 3 + 1
    out = _apply(module, {"params": p}, jnp.asarray(x))

    W, b_pre, b_lat = (np.asarray(p[k], np.float64) for k in ("W", "b_pre", "b_lat"))
    mean = x.mean(1, keepdims=True)
    scale = x.std(1, keepdims=True) + 1e-5
    xn = (x - mean) / scale
    z = np.maximum((xn - b_pre) @ W + b_lat, 0)
    x_hat = (z @ W.T + b_pre) * scale + mean
    np.testing.assert_allclose(out.z, z, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.x_hat, x_hat, rtol=1e-5, atol=1e-5)
    assert out.x_hat_levels.shape == (1, 4, d)
    np.testing.assert_array_equal(out.x_hat_levels[0], out.x_hat)
    # encode / decode are the two halves of the call
    z2, stats = _apply(module, {"params": p}, jnp.asarray(x), method="encode")
    np.testing.assert_allclose(_apply(module, {"params": p}, z2, stats, method="decode"), out.x_hat, rtol=1e-6)


def test_no_normalization_is_plain_affine():
    d, h = 3, 4
    module = TiedSAE(d=d, h=h, normalize=False)
    p = _init(module, d)
    x = np.array([[1.0, -2.0, 0.5], [0.0, 0.0, 0.0]], np.float32)
    out = _apply(module, {"params": p}, jnp.asarray(x))
    W, b_pre, b_lat = (np.asarray(p[k]) for k in ("W", "b_pre", "b_lat"))
    z = np.maximum((x - b_pre) @ W + b_lat, 0)
    np.testing.assert_allclose(out.x_hat, z @ W.T + b_pre, rtol=1e-5, atol=1e-6)


def test_normalization_round_trip_and_stats():
    x = jnp.asarray([[1.0, 2.0, 3.0, 6.0], [-1.0, -1.0, 1.0, 1.0]])
    xn, stats = normalize_rows(x)
    np.testing.assert_allclose(stats.mean[:, 0], [3.0, 0.0])
    np.testing.assert_allclose(stats.scale[:, 0], [np.sqrt(3.5) + 1e-5, 1.0 + 1e-5], rtol=1e-6)
    np.testing.assert_allclose(jnp.mean(xn, axis=1), 0.0, atol=1e-6)
    np.testing.assert_allclose(denormalize_rows(xn, stats), x, rtol=1e-6, atol=1e-6)


def test_topk_keeps_exactly_k_largest():
    pre = jnp.asarray([[0.5, 3.0, 1.0, 2.0, 0.1], [5.0, 4.0, 3.0, 2.0, 1.0], [-1.0, -2.0, 0.3, -0.5, -3.0]])
    z = np.asarray(topk(pre, 2))
    np.testing.assert_array_equal(z[0], [0, 3.0, 0, 2.0, 0])
    np.testing.assert_array_equal(z[1], [5.0, 4.0, 0, 0, 0])
    # kept negatives become 0 (ReLU): at most k active
    np.testing.assert_allclose(z[2], [0, 0, 0.3, 0, 0], rtol=1e-6)
    ties = np.asarray(topk(jnp.ones((1, 6)), 3))
    assert (ties > 0).sum() == 3


def test_topk_sae_has_at_most_k_active_and_exactly_k_when_positive():
    d, h, k = 6, 16, 3
    module = make_sae("topk", d, h, k=k)
    p = dict(_init(module, d))
    p["b_lat"] = jnp.full((h,), 10.0)  # every pre-activation positive
    x = jax.random.normal(jax.random.PRNGKey(1), (32, d))
    z = _apply(module, {"params": p}, x).z
    np.testing.assert_array_equal(np.sum(np.asarray(z) > 0, axis=1), k)


def test_matryoshka_level_l_ignores_latents_past_its_prefix():
    d, h, prefixes = 4, 8, (2, 5, 8)
    module = make_sae("matryoshka", d, h, prefixes=prefixes)
    p = _init(module, d)
    x = jax.random.normal(jax.random.PRNGKey(2), (6, d))
    out = _apply(module, {"params": p}, x)
    assert out.x_hat_levels.shape == (3, 6, d)
    np.testing.assert_allclose(out.x_hat_levels[-1], out.x_hat)
    z, stats = out.z, out.stats
    for level, m in enumerate(prefixes):
        # decoding z with the tail replaced by anything gives the same level-l reconstruction
        z_masked = z.at[:, m:].set(0.0)
        expected = _apply(module, {"params": p}, z_masked, stats, method="decode")
        np.testing.assert_allclose(out.x_hat_levels[level], expected, rtol=1e-5, atol=1e-6)
        z_noise = z.at[:, m:].set(123.0)
        levels_noise = _apply(module, {"params": p}, z_noise, stats, method="decode_levels")
        np.testing.assert_allclose(levels_noise[level], out.x_hat_levels[level], rtol=1e-5, atol=1e-6)
    assert not np.allclose(out.x_hat_levels[0], out.x_hat_levels[-1])


def test_untied_decoder_rows_are_unit_norm():
    module = make_sae("tied", 5, 9, tied=False)
    p = jax.jit(module.init)(jax.random.PRNGKey(0), jnp.zeros((1, 5)))["params"]
    assert set(p) == {"W", "b_pre", "b_lat", "V"}
    dec = _apply(module, {"params": p}, method="decoder_matrix")
    np.testing.assert_allclose(jnp.linalg.norm(dec, axis=1), 1.0, rtol=1e-6)


def test_registry_names_and_errors():
    assert set(SAE_REGISTRY) == {"tied", "topk", "matryoshka", "batchtopk", "matryoshka_batchtopk"}
    assert make_sae("matryoshka_batchtopk", 4, 8, k=2).prefixes == (2, 4, 8)
    assert isinstance(make_sae("matryoshka", 4, 8), MatryoshkaSAE)
    assert make_sae("matryoshka", 4, 8).prefixes == (2, 4, 8)
    assert make_sae("topk", 4, 8, k=3).k == 3
    with pytest.raises(ConfigError, match="unknown SAE 'relu2'"):
        make_sae("relu2", 4, 8)
    with pytest.raises(ConfigError, match="latents must be >= 1"):
        make_sae("tied", 4, 0)
    with pytest.raises(ConfigError, match="k <= latents"):
        make_sae("topk", 4, 8, k=9)
    with pytest.raises(ConfigError, match="strictly increasing"):
        make_sae("matryoshka", 4, 8, prefixes=(4, 2, 8))
    with pytest.raises(ConfigError, match="end at the number of latents 8"):
        make_sae("matryoshka", 4, 8, prefixes=(2, 4))
    with pytest.raises(ConfigError, match="need latents >= 4"):
        make_sae("matryoshka", 4, 3)
