"""Fidelity of a trained SAE against a NumPy computation: both sides reconstructed, training
positives out of the top-K lists, RBO/overlap by an independent implementation."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from data_prep.preprocess import prepare
from data_prep.synthetic import generate, preset
from jaxsae.metrics import fidelity_report, top_k_lists
from jaxsae.recommenders import TwoTower
from jaxsae.sae import SAETrainConfig
from jaxsae.sae import TiedSAE
from jaxsae.sae import TrainedSAE

K = 10
D, H = 4, 3  # fewer latents than dimensions: the reconstruction is lossy on both sides


@pytest.fixture(scope="module")
def world():
    data = prepare(generate(preset("tiny")))
    rng = np.random.default_rng(0)
    tt = TwoTower.create(rng.normal(size=(data.n_users, D)), rng.normal(size=(data.n_items, D)),
                         user_bias=rng.normal(size=data.n_users) * 0.1, item_bias=rng.normal(size=data.n_items) * 0.1)
    w = rng.normal(size=(D, H)).astype(np.float32) * 0.7
    b_pre = rng.normal(size=D).astype(np.float32) * 0.1
    b_lat = np.full(H, 0.3, np.float32)
    module = TiedSAE(d=D, h=H, activation="relu", normalize=False)
    params = {"shared": {"W": jnp.asarray(w), "b_pre": jnp.asarray(b_pre), "b_lat": jnp.asarray(b_lat)}}
    users = np.asarray(data.test_users[:40])
    sae = TrainedSAE(module=module, params=params, config=SAETrainConfig(latents=H), input_two_tower=tt,
                     heldout_users=users)
    return data, tt, sae, users, (w, b_pre, b_lat)


def np_recon(x, w, b_pre, b_lat):
    """The tied ReLU SAE without normalization, in float64: `relu((x - b_pre) W + b_lat) W^T + b_pre`."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    return np.maximum((x - b_pre) @ w + b_lat, 0.0) @ w.T + b_pre


def np_top_k(user_emb, item_emb, tt, data, users, k, exclude_train=True):
    s = np.asarray(user_emb, np.float64)[users] @ np.asarray(item_emb, np.float64).T
    s = s + float(tt.global_bias) + np.asarray(tt.user_bias, np.float64)[users, None] + np.asarray(tt.item_bias)[None]
    if exclude_train:
        for r, u in enumerate(users):
            s[r, data.train_indices[data.train_indptr[u]:data.train_indptr[u + 1]]] = -np.inf
    return np.argsort(-s, axis=1, kind="stable")[:, :k]


def np_rbo(a, b, p=0.9):
    """Extrapolated RBO, written from Webber et al. eq. 32 with Python sets."""
    out = []
    for x, y in zip(a, b):
        k = len(x)
        agree = [len(set(x[:d]) & set(y[:d])) / d for d in range(1, k + 1)]
        out.append((1 - p) * sum(p ** (d - 1) * agree[d - 1] for d in range(1, k + 1)) + agree[-1] * p ** k)
    return float(np.mean(out))


def test_reconstructed_two_tower_reconstructs_users_and_items(world):
    _, tt, sae, _, (w, b_pre, b_lat) = world
    recon = sae.reconstructed_two_tower()
    np.testing.assert_allclose(recon.user_emb, np_recon(tt.user_emb, w, b_pre, b_lat), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(recon.item_emb, np_recon(tt.item_emb, w, b_pre, b_lat), rtol=1e-5, atol=1e-5)
    assert np.abs(np.asarray(recon.user_emb) - np.asarray(tt.user_emb)).mean() > 0.1  # lossy: not the input
    np.testing.assert_array_equal(recon.item_bias, tt.item_bias)


def test_fidelity_equals_numpy_on_both_sides_reconstructed(world):
    data, tt, sae, users, (w, b_pre, b_lat) = world
    u_hat, i_hat = np_recon(tt.user_emb, w, b_pre, b_lat), np_recon(tt.item_emb, w, b_pre, b_lat)
    a = np_top_k(tt.user_emb, tt.item_emb, tt, data, users, K)
    b = np_top_k(u_hat, i_hat, tt, data, users, K)
    want = np_rbo(a, b)
    items_only = np_rbo(a, np_top_k(tt.user_emb, i_hat, tt, data, users, K))
    assert 0.2 < want < 0.95 and abs(want - items_only) > 0.02  # the test can tell the two bugs apart
    rep = fidelity_report(tt, sae.reconstructed_two_tower(), data, users, k=K)
    assert rep[f"rbo@{K}"] == pytest.approx(want, abs=1e-9)
    overlap = np.mean([len(set(x) & set(y)) / K for x, y in zip(a, b)])
    assert rep[f"overlap@{K}"] == pytest.approx(overlap, abs=1e-9)


def test_fidelity_lists_exclude_training_positives(world):
    data, tt, sae, users, _ = world
    lists = top_k_lists(tt, users, K, data)
    np.testing.assert_array_equal(lists, np_top_k(tt.user_emb, tt.item_emb, tt, data, users, K))
    for u, row in zip(users, lists):
        assert not set(row.tolist()) & set(data.train_indices[data.train_indptr[u]:data.train_indptr[u + 1]].tolist())
    unmasked = np_top_k(tt.user_emb, tt.item_emb, tt, data, users, K, exclude_train=False)
    assert not np.array_equal(unmasked, lists)  # training positives would be there without the mask
    np.testing.assert_array_equal(top_k_lists(tt, users, K, data, exclude_train=False), unmasked)
    # the report compares training-positive-free lists: same RBO as the NumPy lists with the mask
    noisy = tt.replace(item_emb=tt.item_emb + 0.5 * jax.random.normal(jax.random.PRNGKey(0), tt.item_emb.shape))
    want = np_rbo(lists, np_top_k(tt.user_emb, noisy.item_emb, tt, data, users, K))
    unmasked_rbo = np_rbo(unmasked, np_top_k(tt.user_emb, noisy.item_emb, tt, data, users, K, exclude_train=False))
    assert abs(want - unmasked_rbo) > 1e-3
    assert fidelity_report(tt, noisy, data, users, k=K)[f"rbo@{K}"] == pytest.approx(want, abs=1e-9)
