"""The `import_rec` stage: an outside model's user/item tables as `RUN/rec/`.

Options: the `ImportRecOptions` fields. `run` reads the tables (`jaxsae.recommenders._tables`), aligns their
rows by id to `RUN/data`, and writes `RUN/rec/` (`imported.npz` + `checkpoint.json`, `config.json`, last
`metrics.json` with the same evaluation and most-popular baseline as `train_rec`, plus `hidden_fit`,
`jaxsae.metrics._leak`) aside and swapped in whole with its lineage, so every later stage (and `jaxsae run`,
which then skips `train_rec`) works unchanged and sees an SAE of the previous recommender as stale.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, ClassVar, Dict, Mapping, Sequence, Tuple

import numpy as np

from jaxsae.errors import ConfigError
from jaxsae.app.options import from_options
from jaxsae.recommenders import SCORES
from data_prep.dataset import InteractionData
from jaxsae.app import lineage
from jaxsae.app.io import save_stage_config
from jaxsae.jsonio import write_json
from jaxsae.metrics import hidden_fit
from jaxsae.metrics import evaluate_most_popular, evaluate_two_tower
from jaxsae.recommenders import save_imported, to_two_tower
from jaxsae.recommenders import align_to_data, read_id_tables
from jaxsae.recommenders import IdTables

DIRECTORY = "rec"


@dataclasses.dataclass(frozen=True)
class ImportRecOptions:
    """Which tables and how their rows score."""

    OPTION_CHOICES: ClassVar[Mapping[str, Sequence[str]]] = {"score": SCORES}
    OPTION_NARGS: ClassVar[Sequence[str]] = ("tables",)

    tables: Tuple[str, ...] = ()
    """One .npz (user_ids, item_ids, user_emb, item_emb [, user_bias, item_bias, global_bias]), or users and
    items files (.csv with a header and the id first, or .npy with the id as column 0)."""
    score: str = "dot"
    """Dot product of the rows, or their cosine."""
    by_position: bool = False
    """Tables without ids: row r is the data's r-th user / item (not checked)."""
    include_train: bool = False
    """Rank training positives too when evaluating (the reference code's protocol)."""

    def __post_init__(self) -> None:
        if not 1 <= len(self.tables) <= 2:
            raise ConfigError(f"--tables takes one .npz or two files (users, items), got {len(self.tables)}")


OPTIONS = (ImportRecOptions,)


def build(options: Mapping[str, Any]) -> ImportRecOptions:
    """The validated `ImportRecOptions` from option names."""
    return from_options(ImportRecOptions, options)


def record(config: ImportRecOptions) -> Dict[str, Any]:
    """What `RUN/rec/stage.json` records."""
    return {"model": "imported", **dataclasses.asdict(config), "tables": list(config.tables)}


def run(run_dir: "str | Path", config: Any, *, resume: bool = False, log: Callable[[str], None] = print,
        tables: Any = None) -> Dict[str, Any]:
    """Align the tables (`config.tables`, or an `IdTables` given as `tables`) to `RUN/data` and write
    `RUN/rec/`; returns its metrics.json payload."""

    run = Path(run_dir)
    lineage.require(run, "data")
    data = InteractionData.load(run / "data")
    raw = tables if tables is not None else read_id_tables(list(config.tables))
    aligned, notes = align_to_data(raw, data.user_ids, data.item_ids, by_position=config.by_position,
                                   user_untrained=np.diff(np.asarray(data.train_indptr)) == 0,
                                   item_untrained=np.asarray(data.popularity) == 0)
    for note in notes:
        log(f"import-rec: note: {note}")
    exclude_train = not config.include_train
    two_tower = to_two_tower(aligned, config.score)
    metrics = evaluate_two_tower(two_tower, data, exclude_train=exclude_train)
    popular = evaluate_most_popular(data, exclude_train=exclude_train)
    popular.pop("n_eval_users", None)
    fit = hidden_fit(two_tower, data)
    result: Dict[str, Any] = {"model": "imported", "score": config.score, **metrics, "exclude_train": exclude_train,
                              "most_popular": popular, "hidden_fit": fit, "notes": notes,
                              "biases": {"user": aligned.user_bias is not None, "item": aligned.item_bias is not None}}
    stale_sae = lineage.status(run, "sae").state != "missing"
    # a previous recommender's checkpoint is never mixed in: the work directory starts empty and replaces RUN/rec
    with lineage.stage(run, DIRECTORY, config={**record(config), "tables": raw.source}, inputs=("data",),
                       rerun="jaxsae import-rec RUN --tables FILE") as out:
        save_imported(out, aligned, config.score)
        save_stage_config(out, {"model": "imported", "score": config.score, "tables": raw.source,
                                "by_position": config.by_position}, extra={"include_train": config.include_train})
        write_json(out / "metrics.json", result)
    log(f"import-rec: {aligned.user_emb.shape[0]} users x {aligned.item_emb.shape[0]} items, d="
        f"{aligned.user_emb.shape[1]}: hit@10 {metrics['hit@10']:.4f} ndcg@10 {metrics['ndcg@10']:.4f} (most popular: "
        f"hit@10 {popular['hit@10']:.4f} ndcg@10 {popular['ndcg@10']:.4f}) -> {run / DIRECTORY}")
    if fit["suspicious"]:
        log(f"import-rec: warning: the model ranks the hidden test positives almost as well as its training "
            f"positives (hidden/train rank ratio {fit['ratio']:.2f} < {fit['threshold']:g}); it was probably "
            f"trained on them, so its hit@10 is not a test score. Train it on `jaxsae export-split {run} --out DIR` "
            f"(DIR/train.csv) instead")
    if stale_sae:
        log(f"import-rec: note: {run / 'sae'} and later stages belong to the previous recommender and are now "
            f"stale; rerun them (`jaxsae train-sae {run}`, or `jaxsae run ...`)")
    return result


def import_recommender(run_dir: "str | Path", tables: Any, score: str = "dot", by_position: bool = False,
                       exclude_train: bool = True, log: Any = print) -> Dict[str, Any]:
    """Library form: align `tables` (paths, or an `IdTables`) to `run_dir/data`, write `run_dir/rec/`."""

    given = isinstance(tables, IdTables)
    config = ImportRecOptions(tables=("<in memory>",) if given else tuple(str(t) for t in tables), score=score,
                              by_position=by_position, include_train=not exclude_train)
    return run(run_dir, config, log=log, tables=tables if given else None)
