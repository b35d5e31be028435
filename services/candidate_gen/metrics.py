"""candidate-gen model metrics (docs/metrics.md): what is loaded and since when."""

from __future__ import annotations

from prometheus_client import Gauge

from services.candidate_gen.indexes import Indexes
from services.common.models.registry import CHAMPION

CATALOG_ITEMS = Gauge("recsys_catalog_items", "Items in the loaded candidate indexes")
MODEL_INFO = Gauge(
    "recsys_model_info", "Loaded model versions (value 1)", ["model", "alias", "version"]
)
MODEL_LOADED = Gauge(
    "recsys_model_loaded_timestamp_seconds",
    "Unix time the loaded model/index was built",
    ["model"],
)


def record_models(ix: Indexes, learned: dict | None = None) -> None:
    """Called on every swap of indexes or models: the previous versions' series go,
    the new ones appear. `learned`: alias -> source -> Loaded (learned.py)."""
    CATALOG_ITEMS.set(ix.n_items)
    MODEL_INFO.clear()
    MODEL_LOADED.clear()
    built = ix.built_at.timestamp()
    for model, version in sorted(ix.model_versions.items()):
        MODEL_INFO.labels(model, CHAMPION, version).set(1)
        MODEL_LOADED.labels(model).set(built)
    for alias, by_source in (learned or {}).items():
        for source, loaded in sorted(by_source.items()):
            MODEL_INFO.labels(source, alias, loaded.ref.label).set(1)
            if alias == CHAMPION:
                MODEL_LOADED.labels(source).set(loaded.ref.created_at)
