"""Model selection: grids of SAEs trained together and judged on validation users and items.

`sweep` trains a grid (`SweepConfig`, named grids in `load_grid`) and picks a setting by a scale-free rule
(`choose`); `ablate` retrains an SAE over prediction-loss weights (`AblationConfig`). Private modules: `_sweep`,
`_sweep_config`, `_ablation`.
"""
from jaxsae.selection._ablation import AblationConfig, ablate, measure, plot_ablation, train_sweep
from jaxsae.selection._sweep import choose, plot_pareto, request_fingerprint, sweep, sweep_split, table_lines
from jaxsae.selection._sweep_config import SweepConfig, load_grid

__all__ = [
    "AblationConfig", "ablate", "measure", "plot_ablation", "train_sweep", "choose", "plot_pareto",
    "request_fingerprint", "sweep", "sweep_split", "table_lines", "SweepConfig", "load_grid",
]
