"""candidate-gen model metrics (docs/metrics.md): what is loaded and since when."""

from __future__ import annotations

from prometheus_client import Gauge

from services.candidate_gen.indexes import Indexes

# Only one model set is served per process for now; the experiment issue adds challengers.
CHAMPION = "champion"

CATALOG_ITEMS = Gauge("recsys_catalog_items", "Items in the loaded candidate indexes")
MODEL_INFO = Gauge(
    "recsys_model_info", "Loaded model versions (value 1)", ["model", "alias", "version"]
)
MODEL_LOADED = Gauge(
    "recsys_model_loaded_timestamp_seconds",
    "Unix time the loaded model/index was built",
    ["model"],
)


def record_indexes(ix: Indexes, alias: str = CHAMPION) -> None:
    """Called on every swap: the previous versions' series go, the new ones appear."""
    CATALOG_ITEMS.set(ix.n_items)
    MODEL_INFO.clear()
    built = ix.built_at.timestamp()
    for model, version in sorted(ix.model_versions.items()):
        MODEL_INFO.labels(model, alias, version).set(1)
        MODEL_LOADED.labels(model).set(built)
