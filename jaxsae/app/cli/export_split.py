"""`jaxsae export-split RUN --out DIR`: the training split with original ids.

Writes `DIR/train.csv` (`user,item`, one training positive per row, the dataset's original ids), so a
model trained outside jaxsae sees exactly what `jaxsae train-rec` trains on and never the hidden split.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path
from data_prep.dataset import InteractionData


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("export-split", help="write the training split with original ids (DIR/train.csv)",
                       description="Write RUN/data's training positives as DIR/train.csv (user,item) with the "
                                   "dataset's original ids, to train an outside model on exactly that split.")
    p.add_argument("run", metavar="RUN", help="run directory holding data/ (from `jaxsae prepare`)")
    p.add_argument("--out", required=True, help="directory for train.csv")
    p.set_defaults(func=main)


def export_split(data: "object", out_dir: "str | Path") -> Path:
    """Write `out_dir/train.csv` from an `InteractionData`; returns its path."""
    users, items = data.train_pairs()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "train.csv"
    tmp = out / ".train.csv.tmp"
    uid, iid = data.user_ids, data.item_ids
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["user", "item"])
        w.writerows(zip(uid[users].tolist(), iid[items].tolist()))
    tmp.replace(path)
    return path


def main(args: argparse.Namespace) -> int:

    data = InteractionData.load(Path(args.run) / "data")
    path = export_split(data, args.out)
    print(f"export-split: {data.n_train} training positives of {data.n_users} users x {data.n_items} items "
          f"-> {path} (hidden positives of {len(data.test_users)} users left out)", flush=True)
    return 0
