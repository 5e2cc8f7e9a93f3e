"""The mask-free evaluation (ranks by subtraction, flat excluded pairs, blocked counts, the shared-scores path)
equals the candidate-mask definition to the last digit: ties, NaN, hidden items also trained on, duplicated
training pairs, padded chunks, item counts off the block size, ML-100k."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsae.metrics import (all_positives_mask, evaluate_most_popular, evaluate_ranking, evaluate_shared_scores, hidden_ranks,
                            metrics_from_ranks, most_popular_scores, train_mask)
from tests.metrics.test_ranking import make_data

KS = (1, 5, 10)  # and 20, for the ML-100k case


@jax.jit
def _mask_metrics(scores, hidden, cand):
    ranks = hidden_ranks(scores, hidden, cand)
    return metrics_from_ranks(ranks, hidden >= 0, jnp.sum(cand, axis=1), KS + (20,))


def reference(scores_fn, data, exclude_train=True, chunk=1024):
    """Per-user metrics the direct way, as evaluation computed them before: a `[chunk, n_items]` candidate mask
    and `hidden_ranks` on full rows, in chunks padded to one shape (the same float operations per user)."""
    test_pos = np.asarray(data.test_pos)
    rows = np.flatnonzero((test_pos >= 0).any(axis=1))
    users = np.asarray(data.test_users)[rows].astype(np.int32)
    hidden = test_pos[rows].astype(np.int32)
    c = min(chunk, len(users))
    parts = {}
    for start in range(0, len(users), c):
        u, h = users[start:start + c], hidden[start:start + c]
        m = len(u)
        u = np.concatenate([u, np.full(c - m, u[0], np.int32)])
        h = np.concatenate([h, np.full((c - m, h.shape[1]), -1, np.int32)])
        excl = train_mask(data, u) if exclude_train else np.zeros((c, data.n_items), bool)
        is_hidden = np.zeros_like(excl)
        for r, hr in enumerate(h):
            is_hidden[r, hr[hr >= 0]] = True
        out = _mask_metrics(jnp.asarray(scores_fn(jnp.asarray(u)), jnp.float32), jnp.asarray(h),
                            jnp.asarray(~excl | is_hidden))
        for k, v in jax.device_get(out).items():
            parts.setdefault(k, []).append(np.asarray(v, np.float64)[:m])
    return {k: np.concatenate(v) for k, v in parts.items()}


def tricky_data(n_users=23, n_items=70, seed=0):
    """Random small data with the awkward cases: users with no training items, hidden items that are also
    training items, a duplicated training pair, a duplicated hidden item, rows of padding."""
    rng = np.random.default_rng(seed)
    train = [list(rng.choice(n_items, size=rng.integers(0, 12), replace=False)) for _ in range(n_users)]
    test_pos = np.full((n_users, 4), -1, np.int32)
    for u in range(n_users):
        k = rng.integers(0, 5)
        test_pos[u, :k] = rng.choice(n_items, size=k, replace=False)
    test_pos[3, :2] = train[3][:2] if len(train[3]) >= 2 else test_pos[3, :2]  # hidden and trained on
    train[3] = train[3] + [0]
    test_pos[4, :3] = [5, 5, 9]  # a duplicated hidden item
    train[5] = train[5] + (train[5][:1] or [1, 1])  # a duplicated training pair in the CSR
    return make_data(n_users, n_items, train, test_users=np.arange(n_users), test_pos=test_pos)


def tied_scores(n_users, n_items, seed=1):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 4, size=(n_users, n_items)).astype(np.float32)  # many ties
    s[2, 7] = np.nan
    s[6, :] = np.nan
    s[8, :] = -np.inf
    return jnp.asarray(s)


@pytest.mark.parametrize("n_items", [70, 31, 96])
@pytest.mark.parametrize("exclude_train", [True, False])
def test_subtraction_equals_the_candidate_mask_to_the_last_digit(n_items, exclude_train):
    data = tricky_data(n_items=n_items)
    s = tied_scores(data.n_users, n_items)
    fn = lambda u: s[u]  # noqa: E731
    for chunk in (5, 1024):  # 23 users in chunks of 5: the last chunk is padded
        ref = {k: v for k, v in reference(fn, data, exclude_train, chunk).items() if not k.endswith('@20')}
        got = evaluate_ranking(fn, data, ks=KS, chunk_size=chunk, exclude_train=exclude_train, per_user=True)
        assert set(got["per_user"]) == set(ref)
        for name, v in ref.items():
            np.testing.assert_array_equal(got["per_user"][name], v, err_msg=f"{name} chunk {chunk}")


@pytest.mark.parametrize("exclude_train", [True, False])
def test_shared_scores_equal_the_per_user_path(exclude_train):
    data = tricky_data()
    pop = np.random.default_rng(2).integers(0, 5, size=data.n_items).astype(np.float32)  # ties
    pop[11] = np.nan
    fn = lambda u: jnp.broadcast_to(jnp.asarray(pop), (u.shape[0], data.n_items))  # noqa: E731
    ref = {k: v for k, v in reference(fn, data, exclude_train, 4).items() if not k.endswith('@20')}
    got = evaluate_shared_scores(pop, data, ks=KS, chunk_size=4, exclude_train=exclude_train, per_user=True)
    for name, v in ref.items():
        np.testing.assert_array_equal(got["per_user"][name], v, err_msg=name)


def test_ml100k_model_and_most_popular_equal_the_reference(real_data):
    from data_prep.movielens import load_ml100k
    from data_prep.preprocess import PrepareOptions, prepare

    data = prepare(load_ml100k(real_data("ml-100k")), PrepareOptions())
    rng = np.random.default_rng(0)
    u_emb = jnp.asarray(rng.normal(size=(data.n_users, 8)).astype(np.float32))
    i_emb = jnp.asarray(rng.normal(size=(data.n_items, 8)).astype(np.float32))
    fn = jax.jit(lambda u: u_emb[u] @ i_emb.T)
    ref = reference(fn, data, chunk=256)
    got = evaluate_ranking(fn, data, ks=(10, 20), chunk_size=256)
    pop_ref = reference(most_popular_scores(data), data, chunk=256)
    pop = evaluate_most_popular(data, ks=(10, 20), chunk_size=256)
    for name in got:
        if name != "n_eval_users":
            assert got[name] == float(ref[name].mean()), name
            assert pop[name] == float(pop_ref[name].mean()), name


def test_long_evaluations_print_progress_with_an_eta():
    data = tricky_data()
    lines = []
    evaluate_shared_scores(np.arange(data.n_items, dtype=np.float32), data, ks=(1,), chunk_size=4,
                           log=lines.append, log_every_s=0.0)
    n_eval = int((np.asarray(data.test_pos) >= 0).any(axis=1).sum())
    assert len(lines) == -(-n_eval // 4) - 1  # every chunk but the last (that one ends the evaluation)
    assert all(line.startswith("[eval] ") and "ETA" in line for line in lines), lines
    assert lines[0].startswith(f"[eval] 4/{n_eval} users ranked; ETA ")
    assert evaluate_shared_scores(np.zeros(data.n_items, np.float32), data, ks=(1,), chunk_size=4,
                                  log=lines.append) and len(lines) == -(-n_eval // 4) - 1  # 15 s between lines


def test_all_positives_mask_marks_training_and_hidden_items():
    base = tricky_data()
    train = [list(np.asarray(base.train_indices)[base.train_indptr[u]:base.train_indptr[u + 1]])
             for u in range(base.n_users)]
    data = make_data(base.n_users + 1, base.n_items, train + [[1]],  # the last user has no test row
                     test_users=np.arange(base.n_users), test_pos=base.test_pos)
    users = np.asarray([4, 0, 22, 3, 4, base.n_users])  # repeated, out of order, one without hidden items
    expected = train_mask(data, users)
    for r, u in enumerate(users):
        if u < base.n_users:
            h = np.asarray(base.test_pos)[u]
            expected[r, h[h >= 0]] = True
    np.testing.assert_array_equal(all_positives_mask(data, users), expected)
