"""`jaxsae import-rec RUN --tables FILE [FILE] [--score dot|cosine] [--by-position]`: an outside model as
`RUN/rec/` (SPEC §13, issue 12).

Reads outside tables (`jaxsae.recommenders.tables`), aligns their rows by id to `RUN/data`, and writes
`RUN/rec/` so that `train-sae`, `analyze`, `intervene`, `report` and `jaxsae run` (which skips the
complete `train_rec` stage) work unchanged: `imported.npz` + `checkpoint.json`, `config.json`, and last
`metrics.json` with the same evaluation and most-popular baseline as `jaxsae train-rec`, plus
`hidden_fit` (`jaxsae.metrics.leak`): a warning is printed when the model ranks the hidden positives
about as well as its training positives, a sign it was trained on them.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any, Dict

from jaxsae.recommenders.import_run import SCORES


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("import-rec", help="use embeddings trained elsewhere as RUN/rec/ (aligned by id)",
                       description="Write RUN/rec/ from outside user/item tables aligned by id to RUN/data: a .npz "
                                   "with user_ids, item_ids, user_emb, item_emb [, user_bias, item_bias, global_bias], "
                                   "or two tables users, items (.csv with a header and the id first, or .npy with "
                                   "the id as column 0).")
    p.add_argument("run", metavar="RUN", help="run directory holding data/ (from `jaxsae prepare`)")
    p.add_argument("--tables", nargs="+", required=True, metavar="FILE", help="one .npz, or users and items files")
    p.add_argument("--score", choices=SCORES, default="dot", help="dot product (default) or cosine of the rows")
    p.add_argument("--by-position", action="store_true",
                   help="tables without ids: row r is the data's r-th user / item (not checked)")
    p.add_argument("--include-train", action="store_true",
                   help="rank training positives too when evaluating (the reference code's protocol)")
    p.set_defaults(func=main)


def import_recommender(run_dir: "str | Path", tables: Any, score: str = "dot", by_position: bool = False,
                       exclude_train: bool = True, log: Any = print) -> Dict[str, Any]:
    """Align `tables` (paths, or an `IdTables`) to `run_dir/data`, write `run_dir/rec/`; return metrics."""
    from data_prep.dataset import InteractionData
    from jaxsae.io import save_stage_config, write_json
    from jaxsae.metrics.leak import hidden_fit
    from jaxsae.metrics.ranking import evaluate_most_popular, evaluate_two_tower
    from jaxsae.recommenders.import_run import save_imported, to_two_tower
    from jaxsae.recommenders.tables import IdTables, align_to_data, read_id_tables

    run = Path(run_dir)
    data = InteractionData.load(run / "data")
    raw = tables if isinstance(tables, IdTables) else read_id_tables(tables)
    import numpy as np

    aligned, notes = align_to_data(raw, data.user_ids, data.item_ids, by_position=by_position,
                                   user_untrained=np.diff(np.asarray(data.train_indptr)) == 0,
                                   item_untrained=np.asarray(data.popularity) == 0)
    for note in notes:
        log(f"import-rec: note: {note}")
    two_tower = to_two_tower(aligned, score)
    metrics = evaluate_two_tower(two_tower, data, exclude_train=exclude_train)
    popular = evaluate_most_popular(data, exclude_train=exclude_train)
    popular.pop("n_eval_users", None)
    fit = hidden_fit(two_tower, data)
    result: Dict[str, Any] = {"model": "imported", "score": score, **metrics, "exclude_train": exclude_train,
                              "most_popular": popular, "hidden_fit": fit, "notes": notes,
                              "biases": {"user": aligned.user_bias is not None, "item": aligned.item_bias is not None}}
    out = run / "rec"
    tmp = run / ".rec.import"
    shutil.rmtree(tmp, ignore_errors=True)
    save_imported(tmp, aligned, score)
    save_stage_config(tmp, {"model": "imported", "score": score, "tables": raw.source, "by_position": by_position},
                      extra={"include_train": not exclude_train})
    write_json(tmp / "metrics.json", result)
    shutil.rmtree(out, ignore_errors=True)  # a previous recommender's checkpoint must not be mixed in
    tmp.replace(out)
    log(f"import-rec: {aligned.user_emb.shape[0]} users x {aligned.item_emb.shape[0]} items, d="
        f"{aligned.user_emb.shape[1]}: hit@10 {metrics['hit@10']:.4f} ndcg@10 {metrics['ndcg@10']:.4f} (most popular: "
        f"hit@10 {popular['hit@10']:.4f} ndcg@10 {popular['ndcg@10']:.4f}) -> {out}")
    if fit["suspicious"]:
        log(f"import-rec: warning: the model ranks the hidden test positives almost as well as its training "
            f"positives (hidden/train rank ratio {fit['ratio']:.2f} < {fit['threshold']:g}); it was probably "
            f"trained on them, so its hit@10 is not a test score. Train it on `jaxsae export-split {run} --out DIR` "
            f"(DIR/train.csv) instead")
    if (run / "sae").exists():
        log(f"import-rec: note: {run / 'sae'} and later stages belong to the previous recommender; rerun them "
            f"(`jaxsae run ... --force train_sae`)")
    return result


def main(args: argparse.Namespace) -> int:
    import_recommender(args.run, args.tables, score=args.score, by_position=args.by_position,
                       exclude_train=not args.include_train, log=lambda s: print(s, flush=True))
    return 0
