"""`experiments.filter_methods`: the validation / report split and the choice on validation figures only."""
import numpy as np

from experiments.filter_methods import choose, split_users


def test_split_users_gives_disjoint_halves_of_the_pool():
    pool = np.arange(10, 31)
    val, rep = split_users(pool, seed=3)
    assert len(val) == 10 and len(rep) == 11 and not set(val) & set(rep)
    assert sorted(set(val) | set(rep)) == pool.tolist()
    again = split_users(pool, seed=3)
    assert np.array_equal(again[0], val) and not np.array_equal(split_users(pool, seed=4)[0], val)


def test_choose_reads_the_validation_half_only():
    def row(method, v_removal, v_auc, r_removal):
        return {"method": method, "validation": {"removal": v_removal, "auc": v_auc},
                "report": {"removal": r_removal, "auc": 1.0}}
    rows = [row("a", 0.5, 0.6, 0.0), row("a", 0.7, 0.6, 0.0), row("b", 0.6, 0.9, 1.0), row("b", 0.6, 0.9, 1.0)]
    assert choose(rows) == "b"  # both remove 0.6 on average on validation: the AUC decides, not the report half
    rows[0]["validation"]["removal"] = 0.9
    assert choose(rows) == "a"  # a better validation removal wins whatever the report half says
