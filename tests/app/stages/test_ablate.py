"""`jaxsae ablate`: the w_pred sweep writes its table and plot; bad weights are refused."""
import json
from pathlib import Path

import pytest

from jaxsae.app.cli import main


@pytest.mark.slow
def test_ablate_writes_rows_and_plot(tiny_run: Path):
    run = tiny_run
    assert main(["ablate", str(run), "--pred-weights", "0,5", "--steps", "100", "--seeds", "0,1"]) == 0
    rows = json.loads((run / "ablation" / "ablation.json").read_text())
    assert [r["w_pred"] for r in rows] == [0.0, 5.0]
    assert all({"rbo@30", "kendall_tau@30", "ms", "best_purity@10", "n_concepts_pure@10", "fvu", "l0"} <= set(r)
               for r in rows)
    for r in rows:
        assert r["seeds"] == 2 and len(r["per_seed"]) == 2 and r["steps"] == 100 and 0.0 < r["l0"] <= 4.0
        assert r["rbo@30"] == pytest.approx(sum(s["rbo@30"] for s in r["per_seed"]) / 2)
    assert rows[1]["fvu"] > rows[0]["fvu"]  # w_pred=0 spends the whole budget on reconstruction
    assert (run / "ablation" / "ablation.png").exists() and (run / "ablation" / "config.json").exists()


def test_ablate_rejects_negative_weights(tmp_path, capsys):
    assert main(["ablate", str(tmp_path), "--pred-weights", "1,-2"]) == 2
    assert "must be finite and >= 0" in capsys.readouterr().err
