"""A KServe custom predictor as KServe's sklearn server is: load the estimator, answer `predict`.

Usage: predictor.py --model_name NAME --model_dir DIR (DIR holds model.skops, as the ExplainOps
artifact writes it). The artifact is the project's own, so its types are trusted here.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import kserve
import numpy as np
import skops.io


class SklearnModel(kserve.Model):
    def __init__(self, name: str, model_dir: str) -> None:
        super().__init__(name)
        self.model_dir = Path(model_dir)
        self.estimator = None

    def load(self) -> bool:
        path = self.model_dir / "model.skops"
        self.estimator = skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))
        self.ready = True
        return self.ready

    def predict(self, payload, headers=None):
        instances = np.asarray(payload["instances"], dtype=np.float64)
        return {"predictions": self.estimator.predict(instances).tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument("--model_dir", required=True)
    args, _ = parser.parse_known_args()
    model = SklearnModel(args.model_name, args.model_dir)
    model.load()
    kserve.ModelServer().start([model])


if __name__ == "__main__":
    main()
