"""The MLflow pyfunc face of a bundle: `predict` returns similar products.

Serving does not use it (candidate-gen reads the bundle's arrays directly); it lets
an ML engineer `mlflow.pyfunc.load_model("models:/recsys-als@champion")` and ask
for the neighbours of a few products in a notebook.

Input: a DataFrame with a `product_id` column (and optional `k`, default 10).
Output: a DataFrame with product_id, similar (list of ids), score (list of floats).
"""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import numpy as np


class BundleModel(mlflow.pyfunc.PythonModel):
    def __init__(self, source: str) -> None:
        self.source = source

    def load_context(self, context) -> None:
        from ml.training.bundles import load_bundle, neighbour_space

        bundle = load_bundle(self.source, Path(context.artifacts["bundle"]))
        self.item_ids, self.vectors, self.rules = neighbour_space(self.source, bundle)
        self.row = {p: i for i, p in enumerate(self.item_ids.tolist())}

    def predict(self, context, model_input, params=None):
        import pandas as pd

        k = int((params or {}).get("k", 10))
        out = []
        for pid in model_input["product_id"].astype(str):
            row = self.row.get(pid)
            if row is None:
                out.append((pid, [], []))
                continue
            if self.rules is not None:
                lo, hi = self.rules.indptr[row], self.rules.indptr[row + 1]
                idx, score = self.rules.indices[lo:hi][:k], self.rules.data[lo:hi][:k]
            else:
                sims = self.vectors @ self.vectors[row]
                sims[row] = -np.inf
                idx = np.argsort(-sims)[:k]
                score = sims[idx]
            out.append((pid, self.item_ids[idx].tolist(), np.round(score, 6).tolist()))
        return pd.DataFrame(out, columns=["product_id", "similar", "score"])
