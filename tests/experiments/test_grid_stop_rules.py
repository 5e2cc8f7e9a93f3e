"""`experiments.grid_stop_rules.replay`: a rule replayed on recorded validation curves, in the grid's order."""
import pytest

from experiments.grid_stop_rules import RULES, replay


def runs():
    # the default leads; "slow" starts behind and overtakes it; "flat" sits at half the leader's score
    curves = {"default": [0.058, 0.058, 0.060, 0.074, 0.074, 0.083, 0.088, 0.085],
              "slow": [0.034, 0.045, 0.053, 0.067, 0.072, 0.080, 0.094, 0.090],
              "flat": [0.03, 0.03, 0.03, 0.03, 0.03]}
    return {n: {"curve": c, "epoch_cpu": [1.0] * len(c), "refit_cpu": 10.0} for n, c in curves.items()}


def test_replay_keeps_the_slow_starter_under_the_new_rule_and_loses_it_under_the_old():
    order = ["default", "slow", "flat"]
    new = replay(runs(), order, RULES["behind 3, gap not closing (new)"])
    assert new["kept"] == "slow" and new["epochs"] == {"default": 8, "slow": 8, "flat": 3}
    assert new["cpu_s"] == pytest.approx(8 + 8 + 3 + 10) and not new["truncated"]
    old = replay(runs(), order, RULES["behind 3 (old)"])
    assert old["kept"] == "default" and old["epochs"] == {"default": 8, "slow": 3, "flat": 3}
    none = replay(runs(), order, RULES["no stop"])
    assert none["kept"] == "slow" and none["epochs"]["flat"] == 5
