"""Outside tables with ids: the .npz / csv / npy forms, alignment by canonical id, clear errors."""
import numpy as np
import pytest

from jaxsae.errors import ConfigError, DataFormatError
from jaxsae.recommenders import align_to_data, canonical_ids, read_id_tables

DATA_USERS = np.array(["1", "2", "10"])
DATA_ITEMS = np.array(["a", "b", "c"])


def test_ids_compare_as_canonical_text():
    assert canonical_ids([7, "007", 7.0, " x ", np.int64(3)]).tolist() == ["7", "7", "7", "x", "3"]


def test_csv_pair_aligns_by_id_drops_unknown_items_and_reads_the_bias_column(tmp_path):
    (tmp_path / "u.csv").write_text("id,f0,f1\n10,1,2\n1,3,4\n2,5,6\n")
    (tmp_path / "i.csv").write_text("item,f0,bias,f1\nc,1,0.5,1\nzz,9,9,9\na,2,0.25,2\nb,3,0.125,3\n")
    t = read_id_tables([tmp_path / "u.csv", tmp_path / "i.csv"])
    out, notes = align_to_data(t, DATA_USERS, DATA_ITEMS)
    np.testing.assert_array_equal(out.user_emb, [[3, 4], [5, 6], [1, 2]])
    np.testing.assert_array_equal(out.item_emb, [[2, 2], [3, 3], [1, 1]])
    np.testing.assert_array_equal(out.item_bias, [0.25, 0.125, 0.5])
    assert out.user_bias is None and notes == ["1 items of the table are not in the data (nobody rated them there): dropped"]


def test_npy_pair_with_id_column_and_untrained_items_get_zeros(tmp_path):
    np.save(tmp_path / "u.npy", np.array([[2, 1.0], [10, 2.0], [1, 3.0]]))
    np.save(tmp_path / "i.npy", np.array([[0, 1.0], [1, 2.0]]))
    t = read_id_tables([tmp_path / "u.npy", tmp_path / "i.npy"])
    out, notes = align_to_data(t, DATA_USERS, np.array(["0", "1", "2"]), item_untrained=np.array([False, False, True]))
    np.testing.assert_array_equal(out.user_emb[:, 0], [3.0, 1.0, 2.0])
    np.testing.assert_array_equal(out.item_emb[:, 0], [1.0, 2.0, 0.0])
    assert "1 items of the data have no training positives and are not in the table: zero factors" in notes


def test_npy_ids_above_2_to_the_24_keep_every_digit(tmp_path):
    """The id column is read before the factors become float32 (which would turn 16777217 into 16777216 and
    123456789 into 123456792, so rows would collide or match the wrong ids)."""
    big = np.array([16777217, 16777216, 123456789, 2 ** 40 + 1], np.int64)
    users = np.concatenate([big[:, None].astype(np.float64), np.arange(8.0).reshape(4, 2)], axis=1)
    np.save(tmp_path / "u.npy", users)  # float64: exact to 2^53
    np.save(tmp_path / "i.npy", np.array([[5, 1, 1], [6, 2, 2]], np.int64))  # integers
    t = read_id_tables([tmp_path / "u.npy", tmp_path / "i.npy"])
    assert t.user_ids.tolist() == ["16777217", "16777216", "123456789", "1099511627777"]
    assert t.user_emb.dtype == np.float32 and t.item_ids.tolist() == ["5", "6"]
    out, _ = align_to_data(t, np.array(["123456789", "16777216", "16777217", "1099511627777"]), np.array(["6", "5"]))
    np.testing.assert_array_equal(out.user_emb[:, 0], [4.0, 2.0, 0.0, 6.0])
    np.testing.assert_array_equal(out.item_emb[:, 0], [2.0, 1.0])
    np.save(tmp_path / "f32.npy", users.astype(np.float32))  # already rounded on disk: refused, not guessed
    with pytest.raises(DataFormatError, match="may have rounded"):
        read_id_tables([tmp_path / "f32.npy", tmp_path / "i.npy"])


def test_data_side_ids_are_canonical_too(tmp_path):
    """A table written with integer ids (7) matches a dataset whose original ids are zero-padded text ("007")."""
    np.savez(tmp_path / "t.npz", user_ids=np.array([7, 12]), item_ids=np.array([3.0, 40.0]),
             user_emb=np.array([[1.0, 0.0], [2.0, 0.0]]), item_emb=np.array([[3.0, 0.0], [4.0, 0.0]]))
    out, notes = align_to_data(read_id_tables([tmp_path / "t.npz"]), np.array(["012", "007"]),
                               np.array([" 40", "0003"]))
    np.testing.assert_array_equal(out.user_emb[:, 0], [2.0, 1.0])
    np.testing.assert_array_equal(out.item_emb[:, 0], [4.0, 3.0])
    assert out.user_ids.tolist() == ["12", "7"] and notes == []


def test_errors_name_a_few_ids_and_position_only_needs_the_flag(tmp_path):
    np.savez(tmp_path / "t.npz", user_ids=np.array([1, 2, 99]), item_ids=DATA_ITEMS, user_emb=np.ones((3, 2)),
             item_emb=np.ones((3, 2)))
    t = read_id_tables([tmp_path / "t.npz"])
    with pytest.raises(ConfigError, match=r"1 user ids of the data are missing from the table: '10'"):
        align_to_data(t, DATA_USERS, DATA_ITEMS)
    np.savez(tmp_path / "p.npz", user_emb=np.arange(6.0).reshape(3, 2), item_emb=np.ones((3, 2)))
    p = read_id_tables([tmp_path / "p.npz"])
    with pytest.raises(ConfigError, match="--by-position"):
        align_to_data(p, DATA_USERS, DATA_ITEMS)
    out, notes = align_to_data(p, DATA_USERS, DATA_ITEMS, by_position=True)
    np.testing.assert_array_equal(out.user_emb, p.user_emb)
    with pytest.raises(ConfigError, match="needs 3 user and 4 item rows"):
        align_to_data(p, DATA_USERS, np.array(["a", "b", "c", "d"]), by_position=True)
    np.savez(tmp_path / "dup.npz", user_ids=np.array([1, 1, 2]), item_ids=DATA_ITEMS, user_emb=np.ones((3, 2)),
             item_emb=np.ones((3, 2)))
    with pytest.raises(ConfigError, match="duplicate user ids"):
        align_to_data(read_id_tables([tmp_path / "dup.npz"]), DATA_USERS, DATA_ITEMS)
    np.savez(tmp_path / "extra.npz", user_ids=np.array([1, 2, 10, 11]), item_ids=DATA_ITEMS, user_emb=np.ones((4, 2)),
             item_emb=np.ones((3, 2)))
    with pytest.raises(ConfigError, match="1 user ids of the table are unknown to the data: '11'"):
        align_to_data(read_id_tables([tmp_path / "extra.npz"]), DATA_USERS, DATA_ITEMS)


def test_load_two_tower_aligns_a_file_with_ids_by_id_and_refuses_it_without_data(tmp_path):
    import types

    from jaxsae.recommenders import load_two_tower

    np.savez(tmp_path / "t.npz", user_ids=np.array([10, 1, 2]), item_ids=np.array(["c", "a", "b"]),
             user_emb=np.array([[3.0], [1.0], [2.0]]), item_emb=np.array([[30.0], [10.0], [20.0]]))
    with pytest.raises(ConfigError, match="pass data="):
        load_two_tower(tmp_path / "t.npz")
    data = types.SimpleNamespace(user_ids=DATA_USERS, item_ids=DATA_ITEMS, train_indptr=np.array([0, 1, 2, 3]),
                                 popularity=np.array([1, 1, 1]))
    tt = load_two_tower(tmp_path / "t.npz", data=data)
    np.testing.assert_array_equal(np.asarray(tt.user_emb)[:, 0], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(np.asarray(tt.item_emb)[:, 0], [10.0, 20.0, 30.0])
