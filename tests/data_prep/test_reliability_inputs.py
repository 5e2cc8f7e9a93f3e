"""Inputs that used to pass silently: inf ratings, ids beyond int64, corrupt prepared files, leaked temp dirs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data_prep.dataset import InteractionData
from data_prep.errors import DataFormatError
from data_prep.movielens import load_ml100k
from data_prep.preprocess import PrepareOptions, prepare
from data_prep.synthetic import generate, preset
from data_prep.textio import read_delimited

COLS = [("user", "int"), ("item", "int"), ("rating", "float"), ("ts", "int")]


def _read(tmp_path: Path, text: str):
    (tmp_path / "u.data").write_text(text)
    return read_delimited(tmp_path / "u.data", COLS, sep="\t", encoding="utf-8")


@pytest.mark.parametrize("bad, line, what", [
    ("inf", 2, "a finite number for rating, got 'inf'"),
    ("-inf", 2, "a finite number for rating, got '-inf'"),
])
def test_non_finite_ratings_name_the_line(tmp_path: Path, bad: str, line: int, what: str) -> None:
    with pytest.raises(DataFormatError, match=f"u.data:{line}: expected {what}"):
        _read(tmp_path, f"1\t2\t3\t5\n2\t3\t{bad}\t6\n")


@pytest.mark.parametrize("uid", ["9223372036854775808", "18446744073709551617", "-9223372036854775809"])
def test_ids_beyond_int64_are_refused_not_wrapped(tmp_path: Path, uid: str) -> None:
    with pytest.raises(DataFormatError, match=f"u.data:2: expected an integer user within int64, got '{uid}'"):
        _read(tmp_path, f"1\t2\t3\t5\n{uid}\t3\t4\t6\n")
    df = _read(tmp_path, "1\t2\t3\t5\n9223372036854775807\t3\t4\t6\n")  # the largest int64 is an id like any other
    assert df["user"].tolist() == [1, 2**63 - 1]


def test_the_ml100k_loader_refuses_an_inf_rating(tmp_path: Path) -> None:
    d = tmp_path / "ml-100k"
    d.mkdir()
    (d / "u.data").write_text("1\t1\t5\t881250949\n2\t1\tinf\t881250950\n")
    (d / "u.item").write_text("1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n")
    with pytest.raises(DataFormatError, match="u.data:2: expected a finite number"):
        load_ml100k(d)


def test_corrupt_prepared_files_are_clear_errors_and_saves_leak_no_temp_dirs(tmp_path: Path) -> None:
    data = prepare(generate(preset("tiny")), PrepareOptions())
    (tmp_path / ".data.tmp-killed").mkdir()  # what a kill -9 during an earlier save left behind
    data.save(tmp_path / "data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
    assert InteractionData.load(tmp_path / "data").n_users == data.n_users
    npz = (tmp_path / "data" / "data.npz").read_bytes()
    (tmp_path / "data" / "data.npz").write_bytes(npz[: len(npz) // 2])
    with pytest.raises(DataFormatError, match="data.npz: expected the arrays written by `jaxsae prepare`"):
        InteractionData.load(tmp_path / "data")
    (tmp_path / "data" / "meta.json").write_text('{"schema_version": ')
    with pytest.raises(DataFormatError, match="meta.json.*corrupt JSON"):
        InteractionData.load(tmp_path / "data")
    np.testing.assert_array_equal(data.item_ids, data.item_ids)  # the in-memory data is untouched
