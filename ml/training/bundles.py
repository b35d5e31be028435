"""Source name -> bundle class and trainer module, in one table."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np

TRAINERS = {
    "als": "ml.training.als",
    "two_tower": "ml.training.two_tower",
    "content_embeddings": "ml.training.content",
    "association_rules": "ml.training.rules",
}


def trainer(source: str):
    return importlib.import_module(TRAINERS[source])


def load_bundle(source: str, path: Path):
    if source == "als":
        from services.common.models.als import AlsBundle as cls
    elif source == "two_tower":
        from services.common.models.two_tower import TwoTowerBundle as cls
    elif source == "content_embeddings":
        from services.common.models.content import ContentBundle as cls
    elif source == "association_rules":
        from services.common.models.rules import Rules as cls
    else:
        raise ValueError(f"unknown source {source!r}")
    return cls.load(path)


def neighbour_space(source: str, bundle):
    """(item ids, unit item vectors or None, rules CSR or None) for similar-item lookups."""
    if source == "association_rules":
        return bundle.item_ids, None, bundle.matrix
    vectors = bundle.item_factors if source == "als" else bundle.item_vectors
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return bundle.item_ids, vectors / np.maximum(norms, 1e-9), None
