#!/usr/bin/env python3
"""Train the example model (RandomForest on scikit-learn's breast_cancer) and write its artifact.

Writes `<out>/v1/` (model.skops, metadata.json, background.csv) and `train.csv` / `holdout.csv`
under `--data-out` (default: `<out>/../../data/<name>/`). The logic lives in
`explainops_server.models.example.train_example` so tests and the demo call it directly.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from explainops_server.models.example import train_example


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="model root; v1/ is written inside")
    parser.add_argument("--data-out", type=Path, default=None, help="where train.csv and holdout.csv go")
    parser.add_argument(
        "--data-uri",
        default=None,
        help="where the pods will see --data-out once uploaded (file:///mnt/models/data/<name> for a pvc:// "
        "root); recorded in metadata.json for retraining (default: --data-out on this machine)",
    )
    parser.add_argument("--name", default="breast-cancer", help="model name recorded in metadata.json")
    parser.add_argument("--version", default="v1")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data_out = args.data_out or args.out.resolve().parent.parent / "data" / args.name
    outputs = train_example(
        args.out, data_out, args.seed, name=args.name, version=args.version, data_uri=args.data_uri
    )
    print(f"model artifact: {outputs.version_dir}")
    print(f"training data:  {outputs.train_csv}")
    print(f"holdout data:   {outputs.holdout_csv}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
