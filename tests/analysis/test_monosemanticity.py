"""The monosemanticity score against a NumPy transcription of its definition."""
import numpy as np

from jaxsae.analysis import monosemanticity, monosemanticity_per_neuron


def ms_reference(a: np.ndarray, emb: np.ndarray, top_n: int) -> np.ndarray:
    """Literal transcription: min-max scale each latent; top-N items; R = a a^T; S = cosine; zero diagonals."""
    out = []
    for n in range(a.shape[1]):
        col = a[:, n].astype(np.float64)
        span = col.max() - col.min()
        if span == 0:
            out.append(0.0)
            continue
        scaled = (col - col.min()) / span
        top = np.argsort(-scaled, kind="stable")[:top_n]
        v = scaled[top]
        r = np.outer(v, v)
        e = emb[top] / np.linalg.norm(emb[top], axis=1, keepdims=True)
        s = e @ e.T
        np.fill_diagonal(r, 0)
        np.fill_diagonal(s, 0)
        out.append(float((r * s).sum() / r.sum()) if r.sum() > 0 else 0.0)
    return np.array(out)


def test_ms_matches_reference_with_dead_neuron():
    rng = np.random.default_rng(0)
    a = np.maximum(rng.normal(size=(80, 6)), 0).astype(np.float32)
    a[:, 3] = 0.0  # dead
    a[:, 4] = 0.0
    a[5, 4] = 2.0  # one active item: R has only a diagonal -> 0
    emb = rng.normal(size=(80, 4)).astype(np.float32)
    got = np.asarray(monosemanticity_per_neuron(a, emb, top_n=30))
    want = ms_reference(a, emb, 30)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert got[3] == 0.0 and got[4] == 0.0
    out = monosemanticity(a, emb, top_n=30)
    np.testing.assert_allclose(out["ms"], want.mean(), atol=1e-5)
    assert out["top_n"] == 30 and len(out["per_neuron"]) == 6


def test_ms_is_one_when_top_items_share_a_direction():
    rng = np.random.default_rng(1)
    emb = rng.normal(size=(50, 3)).astype(np.float32)
    emb[:10] = np.array([1.0, 2.0, 0.5]) * rng.uniform(1, 3, (10, 1))  # same direction, other lengths
    a = np.zeros((50, 1), np.float32)
    a[:10, 0] = rng.uniform(1, 2, 10)
    np.testing.assert_allclose(np.asarray(monosemanticity_per_neuron(a, emb, top_n=30)), [1.0], atol=1e-5)
