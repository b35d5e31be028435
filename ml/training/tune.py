"""`recsys tune-blend`: the ranking weights of the learned sources, tuned offline on
the platform's own interactions (docs/benchmarks/blend-weights.md).

Protocol: the evaluation split (75/25 per user, seed 42); the weights are searched on
an inner 75/25 split of the train part (never on the test part), then the sources are
refitted on the whole train part and the blend with those weights is scored on the
test part, next to each source alone.

Two surfaces, each with the signals of its ranking profile (services/ranking):
- home: the user's next items. als, two_tower, semantic (mean embedding of the
  user's items), collaborative (association rules from the user's items), popularity.
- product: the items related to the product being viewed, taken as the user's most
  recent train item; relevant = the user's test items. Signals: similarity of the
  anchor to each item in ALS item factors (als), MiniLM embeddings (semantic), rules
  from the anchor (collaborative), popularity.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ml.evaluation.baselines import MostPopular
from ml.evaluation.blend import BlendScorer, tune_weights
from ml.evaluation.metrics import evaluate_scorer
from ml.evaluation.split import stratified_split
from ml.training import als, content, rules, two_tower
from ml.training.dataset import TrainingData
from services.common.models.bundle import align

# source -> the ranking signal it feeds (services/ranking/profiles.py)
SIGNAL = {
    "als": "als",
    "two_tower": "two_tower",
    "semantic": "semantic",
    "rules": "collaborative",
    "popularity": "popularity",
}


def _anchor(data: TrainingData, users: np.ndarray) -> np.ndarray:
    """Each user's most recent train item."""
    return np.array([data.recent_items(u, 1)[0] for u in users], dtype=np.int64)


@dataclass
class _AnchorSimilarity:
    """score(u, i) = cosine(vector[anchor(u)], vector[i]) in a model's item space."""

    name: str
    item_ids: np.ndarray
    vectors: np.ndarray

    def score(self, data: TrainingData, users: np.ndarray) -> np.ndarray:
        rows = align(self.item_ids, data.item_ids)
        unit = self.vectors / np.maximum(np.linalg.norm(self.vectors, axis=1, keepdims=True), 1e-9)
        anchors = rows[_anchor(data, users)]
        out = np.full((len(users), data.n_items), -np.inf, dtype=np.float32)
        present = rows >= 0
        sims = unit[np.maximum(anchors, 0)] @ unit[rows[present]].T
        sims[anchors < 0] = -np.inf
        out[:, present] = sims
        return out


@dataclass
class _AnchorRules:
    name: str
    model: object

    def score(self, data: TrainingData, users: np.ndarray) -> np.ndarray:
        matrix = self.model.aligned(data.item_ids).matrix
        return np.asarray(matrix[_anchor(data, users)].todense(), dtype=np.float32)


def fit_home(train: TrainingData, embeddings, quick: bool) -> dict:
    q = quick
    return {
        "als": als.scorer(als.train(train, als.Params.quick() if q else als.Params())),
        "two_tower": two_tower.scorer(
            two_tower.train(train, two_tower.Params.quick() if q else two_tower.Params())
        ),
        "semantic": content.scorer(embeddings),
        "rules": rules.scorer(rules.train(train)),
        "popularity": MostPopular.fit(train),
    }


def fit_product(train: TrainingData, embeddings, quick: bool) -> dict:
    factors = als.train(train, als.Params.quick() if quick else als.Params())
    return {
        "als": _AnchorSimilarity("als", factors.item_ids, factors.item_factors),
        "semantic": _AnchorSimilarity("semantic", embeddings.item_ids, embeddings.item_vectors),
        "rules": _AnchorRules("rules", rules.train(train)),
        "popularity": MostPopular.fit(train),
    }


SURFACES: dict[str, Callable] = {"home": fit_home, "product": fit_product}


def tune(data: TrainingData, *, quick: bool = False, progress=None) -> dict:
    """{surface: {"weights", "signals", "validation", "test": {source|blend: metrics}}}."""
    embeddings = content.train(data, None, progress)  # interaction-free: fit once
    train, test = stratified_split(data, 0.75, 42)
    inner, validation = stratified_split(train, 0.75, 42)
    out: dict = {}
    for surface, fit in SURFACES.items():
        started = time.perf_counter()
        weights, val_metrics = tune_weights(fit(inner, embeddings, quick), inner, validation)
        scorers = fit(train, embeddings, quick)
        results = {name: evaluate_scorer(s, train, test)[0] for name, s in scorers.items()}
        blend = BlendScorer(scorers, weights)
        results["blend"] = evaluate_scorer(blend, train, test)[0]
        out[surface] = {
            "weights": weights,
            "signals": {SIGNAL[n]: w for n, w in weights.items()},
            "validation": val_metrics,
            "test": results,
            "seconds": round(time.perf_counter() - started, 1),
        }
    return out
