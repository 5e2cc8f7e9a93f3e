"""InteractionData save/load round trip, its derived views, and load errors."""
import json

import numpy as np
import pytest

from data_prep.dataset import InteractionData
from data_prep.errors import DataFormatError, MissingDataError, UnknownNameError
from data_prep.preprocess import PrepareOptions, prepare
from data_prep.synthetic import generate, preset


@pytest.fixture(scope="module")
def data():
    return prepare(generate(preset("tiny")), PrepareOptions(n_test=5, seed=2))


def test_round_trip_equal(data, tmp_path):
    out = data.save(tmp_path / "run" / "data")
    assert sorted(p.name for p in out.iterdir()) == ["data.npz", "meta.json", "summary.json"]
    back = InteractionData.load(out)
    for f in ("dataset", "n_users", "n_items", "concept_names", "concept_families", "n_interactions", "info"):
        assert getattr(back, f) == getattr(data, f), f
    for f in InteractionData._ARRAYS:
        a, b = getattr(data, f), getattr(back, f)
        np.testing.assert_array_equal(a, b, err_msg=f)
        assert a.dtype == b.dtype or (a.dtype.kind == "U" and b.dtype.kind == "U"), f
    assert set(back.user_attributes) == {"top_genre", "era"}
    for k, v in data.user_attributes.items():
        np.testing.assert_array_equal(v, back.user_attributes[k])
    summary = json.loads((out / "summary.json").read_text())
    for key in ("dataset", "n_users", "n_items", "n_interactions", "n_train", "n_test_users", "concepts"):
        assert key in summary
    assert summary["n_train"] == data.n_train and summary["concepts"] == data.concept_names
    # saving again over an existing directory replaces it atomically
    data.save(out)
    assert InteractionData.load(out).n_train == data.n_train


def test_views(data):
    u, i = data.train_pairs()
    assert u.shape == i.shape == (data.n_train,) and u.dtype == np.int32
    assert set(data.user_train_items(0).tolist()) == set(i[u == 0].tolist())
    assert data.concept_names[data.concept_index("action")] == "Action"
    with pytest.raises(UnknownNameError, match="close matches: Action"):
        data.concept_index("Actoin")
    assert data.summary()["n_test_users"] == data.n_users  # every tiny user has >= 20 positives


def test_load_errors(data, tmp_path):
    with pytest.raises(MissingDataError, match="run `jaxsae prepare"):
        InteractionData.load(tmp_path / "nothing")
    out = data.save(tmp_path / "d")
    meta = json.loads((out / "meta.json").read_text())
    meta["schema_version"] = 999
    (out / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(DataFormatError, match="schema_version"):
        InteractionData.load(out)
