"""Importing embeddings trained elsewhere: .npz, .npy pairs, csv pairs, and clear errors."""
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsae.errors import DataFormatError, MissingDataError
from jaxsae.recommenders import load_two_tower

U = np.array([[1.0, 0.0], [0.5, 2.0], [-1.0, 1.0]], np.float32)
I = np.array([[2.0, 1.0], [0.0, -1.0]], np.float32)


def test_npz_with_biases(tmp_path):
    p = tmp_path / "emb.npz"
    np.savez(p, user_emb=U, item_emb=I, user_bias=np.array([0.1, 0.2, 0.3]), item_bias=np.array([[1.0], [-1.0]]),
             global_bias=np.float32(0.5))
    tt = load_two_tower(p, n_users=3, n_items=2)
    assert tt.kind == "mf" and tt.dim == 2
    # user 1, item 0: 0.5 + 0.2 + 1.0 + (1.0 + 2.0) = 4.7
    assert float(tt.logits(jnp.asarray([1]), jnp.asarray([0]))[0]) == pytest.approx(4.7)
    np.testing.assert_allclose(tt.logits_cross(jnp.asarray([0, 2])), U[[0, 2]] @ I.T + 0.5 + [[0.1], [0.3]] + [1.0, -1.0],
                               rtol=1e-6)


def test_npy_pair_without_biases(tmp_path):
    np.save(tmp_path / "u.npy", U)
    np.save(tmp_path / "i.npy", I)
    tt = load_two_tower((tmp_path / "u.npy", tmp_path / "i.npy"))
    np.testing.assert_allclose(tt.logits_cross(jnp.arange(3)), U @ I.T, rtol=1e-6)


def test_csv_pair_with_header_and_bias_files(tmp_path):
    (tmp_path / "u.csv").write_text("f0,f1\n1,0\n0.5,2\n-1,1\n")
    (tmp_path / "i.csv").write_text("2,1\n0,-1\n")
    (tmp_path / "ib.csv").write_text("1\n-1\n")
    tt = load_two_tower([tmp_path / "u.csv", tmp_path / "i.csv"], item_bias=tmp_path / "ib.csv")
    np.testing.assert_allclose(tt.logits_cross(jnp.arange(3)), U @ I.T + [1.0, -1.0], rtol=1e-6)


def test_mismatched_dimensions(tmp_path):
    np.save(tmp_path / "u.npy", U)
    np.save(tmp_path / "i.npy", np.ones((2, 3), np.float32))
    with pytest.raises(DataFormatError, match="i.npy: expected item embeddings of dimension 2.*got dimension 3"):
        load_two_tower((tmp_path / "u.npy", tmp_path / "i.npy"))


def test_wrong_bias_length_and_row_counts(tmp_path):
    p = tmp_path / "emb.npz"
    np.savez(p, user_emb=U, item_emb=I, item_bias=np.zeros(5))
    with pytest.raises(DataFormatError, match=r"item_bias of shape \(2,\).*got shape \(5,\)"):
        load_two_tower(p)
    np.savez(p, user_emb=U, item_emb=I)
    with pytest.raises(DataFormatError, match="expected 4 user rows"):
        load_two_tower(p, n_users=4)


def test_missing_key_file_and_bad_csv_line(tmp_path):
    p = tmp_path / "emb.npz"
    np.savez(p, users=U, item_emb=I)
    with pytest.raises(DataFormatError, match="keys user_emb and item_emb"):
        load_two_tower(p)
    with pytest.raises(MissingDataError, match="nope.npz: file not found"):
        load_two_tower(tmp_path / "nope.npz")
    (tmp_path / "u.csv").write_text("1,0\n0.5,x\n")
    (tmp_path / "i.csv").write_text("2,1\n")
    with pytest.raises(DataFormatError, match=r"u.csv:2: expected numbers"):
        load_two_tower((tmp_path / "u.csv", tmp_path / "i.csv"))
    (tmp_path / "u.csv").write_text("1,0\n0.5\n")
    with pytest.raises(DataFormatError, match=r"u.csv:2: expected 2 values per row, got 1"):
        load_two_tower((tmp_path / "u.csv", tmp_path / "i.csv"))


def test_non_finite_and_non_2d(tmp_path):
    np.save(tmp_path / "u.npy", np.array([1.0, 2.0]))
    np.save(tmp_path / "i.npy", I)
    with pytest.raises(DataFormatError, match=r"non-empty \[n, d\] matrix"):
        load_two_tower((tmp_path / "u.npy", tmp_path / "i.npy"))
    bad = U.copy()
    bad[0, 0] = np.nan
    np.save(tmp_path / "u.npy", bad)
    with pytest.raises(DataFormatError, match="finite numbers"):
        load_two_tower((tmp_path / "u.npy", tmp_path / "i.npy"))
