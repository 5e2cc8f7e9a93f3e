"""MF and NCF modules and their two-tower views."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsae.recommenders import MF, NCF, ncf_cross, ncf_score
from jaxsae.recommenders import mf as mf_lib
from jaxsae.recommenders import ncf as ncf_lib


def test_mf_logit_is_bias_plus_dot_by_hand():
    m = MF(n_users=2, n_items=3, dim=2)
    params = {
        "user_emb": jnp.asarray([[1.0, 2.0], [0.5, -1.0]]),
        "item_emb": jnp.asarray([[3.0, 0.0], [1.0, 1.0], [-2.0, 4.0]]),
        "user_bias": jnp.asarray([0.1, -0.3]),
        "item_bias": jnp.asarray([0.0, 0.2, 0.5]),
        "global_bias": jnp.asarray(1.0),
    }
    out = m.apply({"params": params}, jnp.asarray([0, 1, 1]), jnp.asarray([2, 0, 1]))
    # (0,2): 1 + .1 + .5 + (-2 + 8) = 7.6; (1,0): 1 - .3 + 0 + 1.5 = 2.2; (1,1): 1 - .3 + .2 - .5 = 0.4
    np.testing.assert_allclose(out, [7.6, 2.2, 0.4], rtol=1e-6)
    tt = mf_lib.to_two_tower(params)
    assert tt.kind == "mf" and tt.cross_fn is not None
    np.testing.assert_allclose(tt.logits(jnp.asarray([0, 1, 1]), jnp.asarray([2, 0, 1])), out, rtol=1e-6)
    np.testing.assert_allclose(tt.logits_cross(jnp.asarray([1]))[0], [2.2, 0.4, 1.0 - 0.3 + 0.5 - 5.0], rtol=1e-6)


def test_mf_init_scale():
    params = MF(n_users=500, n_items=400, dim=16, init_std=0.1).init(jax.random.PRNGKey(0), jnp.zeros(1, int), jnp.zeros(1, int))
    std = float(jnp.std(params["params"]["user_emb"]))
    assert 0.09 < std < 0.11 and float(jnp.abs(params["params"]["item_bias"]).max()) == 0.0


def test_ncf_module_head_and_two_tower_agree():
    m = NCF(n_users=7, n_items=9, dim=4)
    params = m.init(jax.random.PRNGKey(1), jnp.zeros(1, int), jnp.zeros(1, int))["params"]
    head = params["head"]
    assert [head[f"dense_{k}"]["kernel"].shape for k in range(4)] == [(8, 64), (64, 32), (32, 16), (16, 1)]
    big = NCF(n_users=400, n_items=300, dim=8).init(jax.random.PRNGKey(3), jnp.zeros(1, int), jnp.zeros(1, int))
    big = big["params"]
    assert 0.09 < float(jnp.std(big["user_emb"])) < 0.11 and 0.09 < float(jnp.std(big["item_emb"])) < 0.11
    # LeCun-normal kernels (std 1 / sqrt(fan_in)), zero biases
    assert float(jnp.std(big["head"]["dense_0"]["kernel"])) == pytest.approx(1 / np.sqrt(16), rel=0.15)
    assert float(jnp.abs(big["head"]["dense_1"]["bias"]).max()) == 0.0
    users, items = jnp.asarray([0, 3, 6, 6]), jnp.asarray([8, 0, 2, 5])
    logits = m.apply({"params": params}, users, items)
    # by hand: concat -> relu MLP -> linear output
    x = jnp.concatenate([params["user_emb"][users], params["item_emb"][items]], axis=1)
    for k in range(4):
        x = x @ head[f"dense_{k}"]["kernel"] + head[f"dense_{k}"]["bias"]
        x = jax.nn.relu(x) if k < 3 else x
    np.testing.assert_allclose(logits, x[:, 0], rtol=1e-5, atol=1e-6)
    tt = ncf_lib.to_two_tower(params)
    assert tt.kind == "ncf" and float(jnp.abs(tt.user_bias).sum()) == 0.0
    np.testing.assert_allclose(tt.logits(users, items), logits, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ncf_score(head, params["user_emb"][users], params["item_emb"][items]), logits,
                               rtol=1e-5, atol=1e-6)


def test_ncf_cross_equals_pairwise_scores():
    m = NCF(n_users=40, n_items=11, dim=3, hidden=(8, 4))
    params = m.init(jax.random.PRNGKey(2), jnp.zeros(1, int), jnp.zeros(1, int))["params"]
    U, I = params["user_emb"], params["item_emb"]
    cross = ncf_cross(params["head"], U, I)  # 40 users: more than one lax.map block
    assert cross.shape == (40, 11)
    uu, ii = jnp.meshgrid(jnp.arange(40), jnp.arange(11), indexing="ij")
    paired = ncf_score(params["head"], U[uu.ravel()], I[ii.ravel()]).reshape(40, 11)
    np.testing.assert_allclose(cross, paired, rtol=1e-5, atol=1e-6)


def test_ncf_head_layers_sorted_numerically():
    widths = tuple(range(5, 16))  # 11 hidden layers: dense_0 ... dense_11, where string order puts dense_10 third
    head = ncf_lib.init_head(jax.random.PRNGKey(0), 4, widths)
    assert sorted(head)[2] == "dense_10"  # the trap is really there
    shapes = [layer["kernel"].shape for layer in ncf_lib._layers(head)]
    assert shapes == list(zip((4, *widths), (*widths, 1)))
    u, i = jnp.asarray([[0.5, -1.0], [2.0, 0.3]]), jnp.asarray([[1.0, 1.0], [-0.2, 0.7]])
    x = jnp.concatenate([u, i], axis=1)
    for n in range(12):  # by hand, layer by layer in numeric order
        x = x @ head[f"dense_{n}"]["kernel"] + head[f"dense_{n}"]["bias"]
        x = jax.nn.relu(x) if n < 11 else x
    np.testing.assert_allclose(ncf_score(head, u, i), x[:, 0], rtol=1e-5, atol=1e-6)


def test_two_tower_score_is_differentiable_in_embeddings():
    """The SAE's prediction loss differentiates through score(head, u, i) with respect to u and i."""
    params = NCF(n_users=3, n_items=3, dim=2).init(jax.random.PRNGKey(0), jnp.zeros(1, int), jnp.zeros(1, int))["params"]
    tt = ncf_lib.to_two_tower(params)
    f = lambda u: jnp.sum(tt.score(u, tt.item_emb))  # noqa: E731
    g = np.asarray(jax.grad(f)(tt.user_emb))
    # central finite differences, entry by entry
    eps, u0 = 1e-4, np.asarray(tt.user_emb, np.float32)
    fd = np.zeros_like(u0)
    for idx in np.ndindex(*u0.shape):
        e = np.zeros_like(u0)
        e[idx] = eps
        fd[idx] = (float(f(jnp.asarray(u0 + e))) - float(f(jnp.asarray(u0 - e)))) / (2 * eps)
    assert np.abs(g).max() > 1e-3
    np.testing.assert_allclose(g, fd, rtol=2e-2, atol=1e-3)
    with pytest.raises(Exception):
        tt.fold_biases()  # only MF folds biases
