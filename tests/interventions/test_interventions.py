"""Interventions: edits, the two modes, exactness of unedited entities, and the experiments."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from data_prep.dataset import InteractionData
from jaxsae.errors import ConfigError, UnknownNameError
from jaxsae.interventions import (
    Steerer, apply_edit, concept_neuron, filter_experiment, filter_neurons, filter_separation, filter_weights,
    headline_index, item_filter_neurons, redistribute_away, removal, removal_auc, latent_edit, nudge_experiment, promote_experiment, resolve_item,
)
from jaxsae.recommenders import TwoTower
from jaxsae.sae import TiedSAE


def make_data(n_users: int, n_items: int, concept_items, train_items, titles=None) -> InteractionData:
    """A minimal prepared dataset: one concept ("Horror"), one training positive per user."""
    concepts = np.zeros((n_items, 2), bool)
    concepts[list(concept_items), 0] = True
    concepts[:, 1] = ~concepts[:, 0]
    indptr = np.arange(n_users + 1, dtype=np.int64)
    return InteractionData(
        dataset="toy", n_users=n_users, n_items=n_items,
        user_ids=np.array([f"u{u}" for u in range(n_users)]),
        item_ids=np.array([f"i{i}" for i in range(n_items)]),
        item_titles=np.array(titles or [f"Item {i} (1999)" for i in range(n_items)]),
        train_indptr=indptr, train_indices=np.asarray(train_items, np.int32),
        test_users=np.arange(n_users, dtype=np.int32), test_pos=np.zeros((n_users, 1), np.int32),
        test_neg=np.zeros((n_users, 1), np.int32), popularity=np.ones(n_items, np.int64),
        concepts=concepts, concept_names=["Horror", "Other"], concept_families=["genre", "genre"],
        year=-np.ones(n_items, np.int64),
    )


def identity_sae(d: int):
    """A perfect SAE for non-negative inputs: z = relu(x), x_hat = z (W = I, no normalization)."""
    module = TiedSAE(d=d, h=d, activation="relu", normalize=False)
    params = module.init(jax.random.PRNGKey(0), jnp.zeros((1, d)))["params"]
    params = {"W": jnp.eye(d), "b_pre": jnp.zeros(d), "b_lat": jnp.zeros(d)}
    return module, params


def planted_world():
    """Items 0-3 carry Horror on dimension 0; users 0-2 love dimension 0, users 3-5 ignore it."""
    rng = np.random.default_rng(0)
    items = np.zeros((12, 4), np.float32)
    items[:4, 0] = 2.0 + 0.1 * np.arange(4)
    items[4:, 1:] = rng.uniform(0.1, 1.0, (8, 3))
    users = np.array([[3, 0.5, 0.3, 0.2]] * 3 + [[0, 1, 0.5, 0.2]] * 3, np.float32)
    tt = TwoTower.create(users, items)
    data = make_data(6, 12, range(4), [10] * 6)
    return tt, data


def random_sae(d: int, h: int, activation: str = "topk", k: int = 3, seed: int = 0):
    module = TiedSAE(d=d, h=h, activation=activation, k=k, normalize=True)
    params = module.init(jax.random.PRNGKey(seed), jnp.zeros((1, d)))["params"]
    return module, params


def test_apply_edit_ops():
    z = jnp.array([[1.0, 2.0], [3.0, 4.0]])
    rows = np.array([True, False])
    np.testing.assert_array_equal(apply_edit(z, latent_edit(1, "set", -5.0, rows)), [[1, -5], [3, 4]])
    np.testing.assert_array_equal(apply_edit(z, latent_edit(1, "add", 1.5, rows)), [[1, 3.5], [3, 4]])
    np.testing.assert_array_equal(apply_edit(z, latent_edit(0, "scale", 2.0, [True, True])), [[2, 2], [6, 4]])
    with pytest.raises(ConfigError, match="unknown edit"):
        latent_edit(0, "multiply", 1.0, rows)


@pytest.mark.parametrize("fold", [False, True])
def test_residual_unedited_equals_baseline_exactly(fold):
    rng = np.random.default_rng(1)
    tt = TwoTower.create(rng.normal(size=(20, 5)), rng.normal(size=(30, 5)), user_bias=rng.normal(size=20),
                         item_bias=rng.normal(size=30), global_bias=0.3)
    tt_in = tt.fold_biases() if fold else tt
    module, params = random_sae(tt_in.dim, 16)
    steer = Steerer(module, params, tt_in)
    users = np.arange(0, 20, 2)
    base = np.asarray(steer.baseline(users))
    np.testing.assert_array_equal(np.asarray(steer.scores(users)), base)
    # edit half of the users and one item: the other users' scores of the other items stay exact
    rows = np.arange(10) < 5
    item_rows = np.zeros(30, bool)
    item_rows[7] = True
    s = np.asarray(steer.scores(users, user_edit=latent_edit(3, "add", 2.0, rows),
                                item_edit=latent_edit(4, "set", 1.0, item_rows)))
    others = np.delete(np.arange(30), 7)
    np.testing.assert_array_equal(s[5:][:, others], base[5:][:, others])
    assert not np.allclose(s[:5], base[:5])
    # folding the biases is exact algebra: the baseline is the recommender's logits
    np.testing.assert_allclose(base, np.asarray(tt.logits_cross(jnp.asarray(users))), rtol=1e-5, atol=1e-5)


def test_reconstruct_mode_scores_the_reconstruction():
    rng = np.random.default_rng(2)
    tt = TwoTower.create(rng.normal(size=(8, 6)), rng.normal(size=(10, 6)))
    module, params = random_sae(6, 12, "relu")
    steer = Steerer(module, params, tt, mode="reconstruct")
    users = np.arange(8)
    s = steer.scores(users, user_edit=latent_edit(0, "add", 0.0, np.ones(8, bool)))  # a no-op edit
    recon = module.apply({"params": params}, tt.user_emb).x_hat
    np.testing.assert_allclose(np.asarray(s), np.asarray(recon @ tt.item_emb.T), rtol=1e-5, atol=1e-5)
    residual = Steerer(module, params, tt).scores(users, user_edit=latent_edit(0, "add", 0.0, np.ones(8, bool)))
    np.testing.assert_allclose(np.asarray(residual), np.asarray(steer.baseline(users)), rtol=1e-6, atol=1e-6)
    with pytest.raises(ConfigError, match="mode"):
        Steerer(module, params, tt, mode="replace")


def test_ncf_like_scorer_without_cross_form():
    rng = np.random.default_rng(3)
    head = {"w": jnp.asarray(rng.normal(size=(4,)), jnp.float32)}

    def score(h, u, i):
        return jnp.tanh(u * i) @ h["w"]

    tt = TwoTower.create(rng.normal(size=(5, 4)), rng.normal(size=(7, 4)), score_fn=score, head=head)
    module, params = random_sae(4, 8)
    steer = Steerer(module, params, tt)
    np.testing.assert_array_equal(np.asarray(steer.scores(np.arange(5))), np.asarray(steer.baseline(np.arange(5))))


def test_filter_removes_planted_concept_and_keeps_the_rest():
    tt, data = planted_world()
    module, params = identity_sae(4)
    steer = Steerer(module, params, tt)
    assert concept_neuron(steer.item_latents(), data.concepts, 0) == 0
    out = filter_experiment(steer, data, "horror", np.arange(6), neuron=0, audience_size=3, k=4,
                            levels=(0.0, -1.5))
    assert out["concept"] == "Horror" and out["audience_size"] == 3 and out["scale"] == pytest.approx(3.0)
    assert out["concept_share_before"] == 1.0
    assert out["per_level"][0]["concept_share_after"] == 0.0  # neuron off: dimension 0 gone
    assert out["concept_share_after"] == 0.0 and out["rest_rbo"] == pytest.approx(1.0)
    with pytest.raises(UnknownNameError, match="Horror"):
        filter_experiment(steer, data, "Horor", np.arange(6), neuron=0)


def test_nudge_raises_concept_share():
    tt, data = planted_world()
    module, params = identity_sae(4)
    out = nudge_experiment(Steerer(module, params, tt), data, "Horror", np.arange(6), neuron=0,
                           audience_size=3, k=4, levels=(1.0, 2.0))
    assert out["concept_share_before"] == 0.0
    assert [p["concept_share"] for p in out["per_level"]] == [1.0, 1.0]


def test_nudge_says_why_it_cannot_move_a_most_popular_recommender():
    """On very sparse data the grid keeps most-popular (zero item embeddings): no user edit changes a score,
    and the nudge says so instead of reporting a flat curve silently."""
    tt, data = planted_world()
    flat = TwoTower.create(np.asarray(tt.user_emb), np.zeros_like(np.asarray(tt.item_emb)),
                           item_bias=np.arange(12, dtype=np.float32))
    module, params = identity_sae(4)
    out = nudge_experiment(Steerer(module, params, flat), data, "Horror", np.arange(6), neuron=0,
                           audience_size=3, k=4, levels=(1.0, 2.0))
    assert [p["concept_share"] for p in out["per_level"]] == [out["concept_share_before"]] * 2
    assert "item embeddings are all zero" in out["why_unmoved"]
    moved = nudge_experiment(Steerer(module, params, tt), data, "Horror", np.arange(6), neuron=0,
                             audience_size=3, k=4, levels=(1.0, 2.0))
    assert "why_unmoved" not in moved  # it moved: nothing to explain


def test_promote_item_enters_top_k():
    tt, data = planted_world()
    module, params = identity_sae(4)
    steer = Steerer(module, params, tt)
    out = promote_experiment(steer, data, "Item 11 (1999)", np.arange(6), neuron=1, audience_size=10, k=5,
                             levels=(0.0, 8.0))
    assert out["item"] == "i11" and out["audience_size"] >= 3
    assert out["per_level"][0]["entered_top_k_fraction"] == 0.0
    assert out["entered_top_k_fraction"] == 1.0
    default = promote_experiment(steer, data, "i11", np.arange(6), k=5, levels=(0.0, 8.0))
    assert default["neuron"] in (1, 2, 3) and default["entered_top_k_fraction"] == 1.0


def test_item_gains_hand_computed():
    tt, _ = planted_world()
    module, params = identity_sae(4)
    steer = Steerer(module, params, tt)
    users = np.array([0, 3, 4])
    values = np.array([1.0, 2.0, 0.5, -1.0])
    # identity SAE + MF: raising latent j of an item by v adds v * u_j to each user's logit
    want = values * np.asarray(tt.user_emb)[users].mean(axis=0)
    np.testing.assert_allclose(steer.item_gains(users, 11, values), want, rtol=1e-6)


def test_resolve_item_by_id_title_prefix_and_close_matches():
    data = make_data(1, 3, [0], [0], titles=["Toy Story (1995)", "Toy Soldiers (1991)", "Heat (1995)"])
    assert resolve_item(data, "i2") == 2
    assert resolve_item(data, "heat (1995)") == 2
    assert resolve_item(data, "Toy Story") == 0
    with pytest.raises(UnknownNameError, match="ambiguous"):
        resolve_item(data, "Toy")
    with pytest.raises(UnknownNameError, match="close matches: 'Toy Story \\(1995\\)'"):
        resolve_item(data, "Toy Stroy (1995)")
    # two items with one title: say so and ask for the id, never pick one silently
    twins = make_data(1, 3, [0], [0], titles=["Heat (1995)", "Heat (1995)", "Ronin (1998)"])
    with pytest.raises(UnknownNameError, match="'heat \\(1995\\)' is ambiguous: 2 items carry it \\(ids 'i0', 'i1'\\)"):
        resolve_item(twins, "heat (1995)")
    assert resolve_item(twins, "i1") == 1


def test_multi_neuron_edit_changes_each_listed_latent():
    z = jnp.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    out = apply_edit(z, latent_edit([0, 2], "set", np.array([[-1.0, -2.0], [-3.0, -4.0]]), [True, False]))
    np.testing.assert_array_equal(np.asarray(out), [[-1.0, 2.0, -2.0], [4.0, 5.0, 6.0]])
    out = apply_edit(z, latent_edit([1, 2], "add", 1.0, [True, True]))
    np.testing.assert_array_equal(np.asarray(out), [[1.0, 3.0, 4.0], [4.0, 6.0, 7.0]])


def test_filter_picks_the_neuron_by_its_effect_on_rankings():
    tt, data = planted_world()
    module, params = identity_sae(4)
    steer = Steerer(module, params, tt)
    neurons, info = filter_neurons(steer, data, "Horror", np.arange(3), n_neurons=1)
    assert neurons == [0] and info["candidates"][0] == 0  # lowering dim 0 drops exactly the Horror items
    cmask = np.asarray(data.concepts[:, 0])
    sep = filter_separation(steer, np.arange(3), cmask, np.zeros((3, 12), bool), [0, 1])
    assert sep[0] > 0 and sep[0] > sep[1]
    out = filter_experiment(steer, data, "Horror", np.arange(6), audience_size=3, k=4, levels=(0.0, -1.5),
                            method="neuron")
    assert out["neuron"] == 0 and out["neurons"] == [0] and out["neuron_choice"] == "separation"
    assert out["concept_share_after"] == 0.0 and out["rest_rbo"] == pytest.approx(1.0)
    both = filter_experiment(steer, data, "Horror", np.arange(6), neuron=[0, 1], audience_size=3, k=4,
                             levels=(0.0, -1.5))
    assert both["neurons"] == [0, 1] and len(both["scales"]) == 2 and both["neuron_choice"] == "given"
    # both neurons together remove the concept but reorder the rest below the rest-RBO constraint: the headline
    # says so rather than report the wrecked list
    assert both["max_removal"]["removal"] == 1.0 and both["max_removal"]["rest_rbo"] < 0.8
    assert both["level"] is None and both["removal"] == 0.0 and both["concept_share_after"] == 1.0
    assert not both["target_reached"] and both["headline"].startswith("no level removes")


def test_headline_never_reports_a_level_below_the_rest_rbo_constraint():
    per = [{"level": 0.0, "concept_share_after": 0.6, "rest_rbo": 1.0},
           {"level": -0.5, "concept_share_after": 0.45, "rest_rbo": 0.95},
           {"level": -1.0, "concept_share_after": 0.3, "rest_rbo": 0.85},
           {"level": -2.0, "concept_share_after": 0.05, "rest_rbo": 0.2},  # removes most: wrecks the list
           {"level": -3.0, "concept_share_after": 0.0, "rest_rbo": 0.0}]
    assert headline_index(per, 0.6) == 2  # the strongest removal (50%) among levels with rest-RBO >= 0.8
    assert headline_index(per, 0.6, min_rest_rbo=0.9) == 1
    assert headline_index(per, 0.6, min_rest_rbo=0.0) == 4
    # no level removes anything at the constraint: no headline level at all, never a wrecking one
    assert headline_index([per[0], per[3], per[4]], 0.6) is None
    ties = [{"level": -1.0, "concept_share_after": 0.3, "rest_rbo": 0.85},
            {"level": -0.5, "concept_share_after": 0.3, "rest_rbo": 0.9}]
    assert headline_index(ties, 0.6) == 1  # equal removal: the one keeping more of the rest
    rng = np.random.default_rng(0)
    for _ in range(200):  # whatever the curve, the headline meets the constraint and nothing passing removes more
        n = int(rng.integers(1, 8))
        rows = [{"level": -float(j), "concept_share_after": float(rng.random()), "rest_rbo": float(rng.random())}
                for j in range(n)]
        h = headline_index(rows, 0.7, 0.8)
        ok = [r for r in rows if r["rest_rbo"] >= 0.8 and removal(r["concept_share_after"], 0.7) > 0]
        assert (h is None) == (not ok)
        if h is not None:
            assert rows[h]["rest_rbo"] >= 0.8
            assert removal(rows[h]["concept_share_after"], 0.7) == max(removal(r["concept_share_after"], 0.7) for r in ok)


def test_removal_auc_by_hand():
    per = [{"level": 0.0, "concept_share_after": 1.0, "rest_rbo": 1.0},
           {"level": -1.0, "concept_share_after": 0.5, "rest_rbo": 0.8},
           {"level": -2.0, "concept_share_after": 0.0, "rest_rbo": 0.2}]
    # f(r) = 0.8 on (0, 0.5], 0.2 on (0.5, 1]: area 0.5 * 0.8 + 0.5 * 0.2
    assert removal_auc(per, 1.0) == pytest.approx(0.5)
    assert removal_auc(per[:1], 1.0) == 0.0  # the unedited list removes nothing
    assert removal_auc([{"level": -1.0, "concept_share_after": 0.0, "rest_rbo": 1.0}], 1.0) == pytest.approx(1.0)
    # a dominated level (less removal, lower rest-RBO) changes nothing
    worse = per + [{"level": -0.5, "concept_share_after": 0.8, "rest_rbo": 0.5}]
    assert removal_auc(worse, 1.0) == pytest.approx(0.5)
    assert removal(0.15, 0.6) == pytest.approx(0.75) and removal(0.0, 0.0) == 0.0


def test_weighted_filter_removes_planted_concept_and_keeps_rest_order():
    tt, data = planted_world()
    module, params = identity_sae(4)
    steer = Steerer(module, params, tt)
    cmask = np.asarray(data.concepts[:, 0])
    w = filter_weights(steer, np.arange(3), cmask, np.zeros((3, 12), bool), [0, 1, 2, 3], depth=12)
    # the concept lives on dimension 0 only: the fitted edit lowers latent 0 and leaves the rest alone
    assert np.all(w[:, 0] < 0) and np.all(np.abs(w[:, 1:]) < 0.01 * np.abs(w[:, :1]))
    out = filter_experiment(steer, data, "Horror", np.arange(6), audience_size=3, k=4, levels=(0.0, -1.0, -5.0))
    assert out["method"] == "weighted" and out["side"] == "user" and out["op"] == "add"
    assert out["neuron"] == 0 and out["neuron_choice"] == "weighted"
    assert out["concept_share_before"] == 1.0 and out["per_level"][0]["concept_share_after"] == 1.0
    assert out["concept_share_after"] == 0.0 and out["rest_rbo"] == pytest.approx(1.0)
    assert out["target_reached"] and out["level"] in (-1.0, -5.0) and out["strongest"]["level"] == -5.0
    assert out["removal"] == 1.0 and out["removal_auc"] == pytest.approx(1.0) and out["min_rest_rbo"] == 0.8
    assert [p["level"] for p in out["curve"]] == [0.0, -1.0, -5.0] and out["curve"][0]["removal"] == 0.0


def test_redistribute_moves_mass_off_the_concept_and_keeps_the_l1_norm():
    z = np.array([[2.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    half = redistribute_away(z, [0], 0.5)
    # row 0: |z|_1 = 4, the rest (0, 1, 1, 0) rescaled to mass 4 is (0, 2, 2, 0); halfway: (1, 1.5, 1.5, 0)
    np.testing.assert_allclose(half[0], [1.0, 1.5, 1.5, 0.0])
    np.testing.assert_allclose(np.abs(half[0]).sum(), 4.0)
    full = redistribute_away(z, [0], 1.0)
    np.testing.assert_allclose(full[0], [0.0, 2.0, 2.0, 0.0])
    np.testing.assert_allclose(full[1:], 0.0)  # all mass on the concept (or none): only scaled by 1 - a
    np.testing.assert_allclose(redistribute_away(z, [0], 0.0), z)


def test_redistribute_filter_removes_planted_concept_and_keeps_rest_order():
    tt, data = planted_world()
    module, params = identity_sae(4)
    out = filter_experiment(Steerer(module, params, tt), data, "Horror", np.arange(6), audience_size=3, k=4,
                            levels=(0.0, -1.5, -3.0), method="redistribute")
    assert out["method"] == "redistribute" and out["op"] == "set" and out["neuron_choice"] == "redistribute"
    assert out["neurons"] == [0] and out["concept_share_before"] == 1.0
    assert out["per_level"][0]["concept_share_after"] == 1.0  # a = 0: the unedited list
    # a = 0.5 leaves latent 0 at 1.5, still above the rest; a = 1 moves all of it: Horror gone, the rest's order kept
    assert out["per_level"][1]["concept_share_after"] == 1.0
    assert out["concept_share_after"] == 0.0 and out["rest_rbo"] == pytest.approx(1.0) and out["level"] == -3.0
    with pytest.raises(ConfigError, match="redistribute"):
        filter_experiment(Steerer(module, params, tt), data, "Horror", np.arange(6), side="item",
                          method="redistribute")


def test_weighted_filter_reports_the_purest_candidate_ties_to_the_larger_weight():
    """Three candidates: neuron 0 (pure, small weight), neuron 1 (purity 0.6: fires on 6 of the 10 concept items,
    the largest weight) and neuron 2 (pure, larger weight than 0). Reported: 2, the most specific; neither the
    largest weight (1) nor the first pure candidate (0)."""
    n = 24
    items = np.zeros((n, 6), np.float32)
    items[:10, 0] = 0.5
    items[:6, 1] = 5.0 + 0.01 * np.arange(6)
    items[:10, 2] = 1.0 + 0.01 * np.arange(10)
    items[10:, 3:] = np.random.default_rng(0).uniform(0.1, 1.0, (n - 10, 3))
    users = np.array([[0.2, 3, 1, 0.3, 0.2, 0.1]] * 4 + [[0, 0, 0, 0.5, 0.2, 0.3]] * 4, np.float32)
    data = make_data(8, n, range(10), [n - 1] * 8)
    module, params = identity_sae(6)
    out = filter_experiment(Steerer(module, params, TwoTower.create(users, items)), data, "Horror", np.arange(8),
                            audience_size=4, k=6, levels=(0.0, -1.0, -5.0))
    assert out["selection"]["candidates"] == [0, 1, 2] and out["selection"]["purity"] == [1.0, 0.6, 1.0]
    scales = out["scales"]
    assert scales[1] > scales[2] > scales[0]  # the world discriminates: the largest weight is not the purest
    assert out["neuron"] == 2 and out["scale"] == scales[2]


def test_item_side_filter_removes_planted_concept_and_leaves_other_items_exact():
    tt, data = planted_world()
    module, params = identity_sae(4)
    steer = Steerer(module, params, tt)
    cmask = np.asarray(data.concepts[:, 0])
    top = np.tile(np.arange(4), (3, 1))  # the audience sees the four Horror items
    neurons, info = item_filter_neurons(steer.item_latents(), cmask, top)
    assert neurons == [0] and info["coverage"][0] == 1.0 and info["collateral"][0] == 0.0
    out = filter_experiment(steer, data, "Horror", np.arange(6), audience_size=3, k=4, levels=(0.0, -1.5),
                            side="item")
    assert out["side"] == "item" and out["method"] == "neuron" and out["neuron"] == 0
    assert out["neuron_choice"] == "coverage" and out["scale"] == pytest.approx(2.3)
    assert out["concept_share_before"] == 1.0 and out["concept_share_after"] == 0.0
    assert out["rest_rbo"] == 1.0  # items where neuron 0 is silent keep their exact embedding
    with pytest.raises(ConfigError, match="side"):
        filter_experiment(steer, data, "Horror", np.arange(6), side="both")
    with pytest.raises(ConfigError, match="item"):
        filter_experiment(steer, data, "Horror", np.arange(6), side="item", method="weighted")


def _np_rbo(a, b, p=0.9):
    """Extrapolated RBO (Webber et al. eq. 32), written with Python sets, averaged over rows."""
    vals = []
    for x, y in zip(a, b):
        k = len(x)
        agree = [len(set(x[:d]) & set(y[:d])) / d for d in range(1, k + 1)]
        vals.append((1 - p) * sum(p ** (d - 1) * agree[d - 1] for d in range(1, k + 1)) + agree[-1] * p ** k)
    return float(np.mean(vals))


def test_rest_rbo_of_a_known_partial_reordering():
    """Setting latent 1 (dimension 1) of the Horror fans reorders the non-Horror items: rest_rbo is the RBO
    of their non-concept top-4 before and after, computed here by hand in NumPy."""
    tt, data = planted_world()
    module, params = identity_sae(4)
    out = filter_experiment(Steerer(module, params, tt), data, "Horror", np.arange(6), neuron=1, audience_size=3,
                            k=4, levels=(0.0, -1.0), op="set")
    items, users = np.asarray(tt.item_emb, np.float64), np.asarray(tt.user_emb, np.float64)[:3]  # the audience
    rest = np.array([i for i in range(12) if i not in (0, 1, 2, 3, 10)])  # not Horror, not a training positive

    def rest_top(u):
        s = u @ items[rest].T
        return rest[np.argsort(-s, axis=1, kind="stable")[:, :4]]

    before = rest_top(users)
    for row, level in zip(out["per_level"], (0.0, -1.0)):
        assert row["value"] == pytest.approx(level * 1.0)  # scale: latent 1's largest user activation, 1.0
        edited = users.copy()
        edited[:, 1] = level  # identity SAE, residual mode: the edit lands on dimension 1 exactly
        want = _np_rbo(before, rest_top(edited))
        assert 0.2 < want < 0.98  # a partial reordering, neither untouched nor disjoint
        assert row["rest_rbo"] == pytest.approx(want, abs=1e-6)
