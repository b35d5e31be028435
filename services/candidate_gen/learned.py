"""Learned models from the MLflow registry, bound to the current catalog.

`ModelStore` polls the registry every `model_poll_seconds`: when an alias
(`champion`, `challenger`) of a source's registered model points at a new version,
that version is downloaded and loaded in a worker thread, bound to the current
`Indexes` (catalog rows <-> model rows), and the whole `Learned` object is swapped
in one assignment. A request reads `store.learned` once, so a swap never changes
the models under a request in flight, and no request waits for a load.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from services.candidate_gen.indexes import Indexes
from services.common.models.als import AlsBundle
from services.common.models.bundle import align
from services.common.models.content import ContentBundle
from services.common.models.registry import (
    ALIASES,
    CHALLENGER,
    CHAMPION,
    SOURCES,
    Registry,
    VersionRef,
)
from services.common.models.rules import Rules
from services.common.models.two_tower import TwoTowerBundle
from services.common.models.vectors import VectorIndex

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Loaded:
    ref: VersionRef
    bundle: object
    # Search structures over the model's item rows, built once per version (an ANN
    # graph past ~100k items takes minutes): view name -> (item ids, index).
    indexes: dict[str, tuple[np.ndarray, VectorIndex]] = field(default_factory=dict)


def item_indexes(source: str, bundle) -> dict[str, tuple[np.ndarray, VectorIndex]]:
    """The vector spaces each source searches: `source` (recommendations) and, for
    ALS, `als_similar` (cosine of item factors)."""
    if isinstance(bundle, AlsBundle):
        return {
            source: (bundle.item_ids, bundle.index),
            "als_similar": (bundle.item_ids, bundle.unit_items),
        }
    if isinstance(bundle, TwoTowerBundle):
        return {source: (bundle.item_ids, VectorIndex.build(bundle.item_vectors))}
    if isinstance(bundle, ContentBundle):
        index = getattr(bundle, "index", None) or VectorIndex.build(bundle.item_vectors)
        return {source: (bundle.item_ids, index)}
    return {}


@dataclass(frozen=True)
class VectorView:
    """A model's item vectors searched from catalog rows (and back)."""

    index: VectorIndex  # over the model's item rows
    to_catalog: np.ndarray  # model row -> catalog row (-1: not in the catalog)
    from_catalog: np.ndarray  # catalog row -> model row (-1: unknown to the model)

    @classmethod
    def bind(cls, ix: Indexes, item_ids: np.ndarray, index: VectorIndex) -> VectorView:
        from_catalog = align(item_ids, ix.product_ids)
        to_catalog = np.full(len(item_ids), -1, dtype=np.int64)
        known = from_catalog >= 0
        to_catalog[from_catalog[known]] = np.flatnonzero(known)
        return cls(index, to_catalog, from_catalog)

    def rows(self, catalog_idx: np.ndarray) -> np.ndarray:
        rows = self.from_catalog[catalog_idx]
        return rows[rows >= 0]

    def nearest(
        self, ix: Indexes, queries: np.ndarray, k: int, exclude: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Catalog rows nearest to any query (best score per item), in stock, not
        excluded; scores are raw inner products, best first."""
        fetch = min(self.index.n, 2 * k + len(exclude) + 20)
        rows, scores = self.index.search(queries, fetch)
        cat = np.where(rows >= 0, self.to_catalog[np.maximum(rows, 0)], -1).ravel()
        scores = scores.ravel()
        keep = (cat >= 0) & np.isfinite(scores)
        cat, scores = cat[keep], scores[keep]
        keep = ix.in_stock[cat] & ~np.isin(cat, exclude)
        cat, scores = cat[keep], scores[keep]
        order = np.lexsort((cat, -scores))
        cat, scores = cat[order], scores[order]
        _, first = np.unique(cat, return_index=True)  # best score per item
        first = np.sort(first)[:k]
        return cat[first], scores[first]


@dataclass(frozen=True)
class Learned:
    """The loaded models of each alias, bound to one `Indexes` object."""

    ix: Indexes
    models: dict[str, dict[str, Loaded]]  # alias -> source -> loaded version
    views: dict[tuple[str, str], VectorView] = field(default_factory=dict)
    rules: dict[str, Rules] = field(default_factory=dict)  # alias -> rules on ix rows

    def pick(self, variant: str | None) -> dict[str, Loaded]:
        """Champion models; for the challenger variant, its challengers where set."""
        chosen = dict(self.models.get(CHAMPION, {}))
        if variant == CHALLENGER:
            chosen.update(self.models.get(CHALLENGER, {}))
        return chosen

    def alias_of(self, source: str, variant: str | None) -> str:
        if variant == CHALLENGER and source in self.models.get(CHALLENGER, {}):
            return CHALLENGER
        return CHAMPION

    def view(self, source: str, variant: str | None) -> VectorView | None:
        return self.views.get((self.alias_of(source, variant), source))

    def versions(self, variant: str | None) -> dict[str, str]:
        return {s: m.ref.label for s, m in sorted(self.pick(variant).items())}


def bind(ix: Indexes, models: dict[str, dict[str, Loaded]]) -> Learned:
    """Map every loaded model onto the catalog rows of `ix` (worker thread)."""
    views: dict[tuple[str, str], VectorView] = {}
    rules: dict[str, Rules] = {}
    for alias, by_source in models.items():
        for loaded in by_source.values():
            for name, (item_ids, index) in loaded.indexes.items():
                views[(alias, name)] = VectorView.bind(ix, item_ids, index)
            if isinstance(loaded.bundle, Rules):
                rules[alias] = loaded.bundle.aligned(ix.product_ids)
    return Learned(ix, models, views, rules)


def load_bundle(source: str, path: Path):
    cls = {
        "als": AlsBundle,
        "two_tower": TwoTowerBundle,
        "content_embeddings": ContentBundle,
        "association_rules": Rules,
    }[source]
    return cls.load(path)


class ModelStore:
    """Which versions are loaded, and the loop that follows the registry's aliases."""

    def __init__(self, tracking_uri: str | None, cache_dir: Path | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.models: dict[str, dict[str, Loaded]] = {}
        self.last_error: str | None = None
        self.synced = False  # one full pass over the registry has completed
        self._registry: Registry | None = None
        self._cache = cache_dir or Path(tempfile.mkdtemp(prefix="recsys-models-"))
        self._lock = asyncio.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self.tracking_uri)

    async def sync(self) -> bool:
        """Load every alias that moved; True when the loaded set changed."""
        if not self.enabled:
            return False
        async with self._lock:
            try:
                models, changed = await asyncio.to_thread(self._sync_blocking)
            except Exception as exc:  # noqa: BLE001 - keep serving what is loaded
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("model registry sync failed", extra={"error": self.last_error})
                return False
            self.last_error = None
            self.synced = True
            if changed:
                self.models = models
            return changed

    def _sync_blocking(self) -> tuple[dict[str, dict[str, Loaded]], bool]:
        if self._registry is None:
            self._registry = Registry(self.tracking_uri)
        models: dict[str, dict[str, Loaded]] = {}
        changed = False
        for alias in ALIASES:
            for source in SOURCES:
                ref = self._registry.resolve(source, alias)
                current = self.models.get(alias, {}).get(source)
                if ref is None:
                    changed |= current is not None
                    continue
                if current is not None and current.ref.version == ref.version:
                    models.setdefault(alias, {})[source] = current
                    continue
                loaded = self._load(ref)
                models.setdefault(alias, {})[source] = loaded
                changed = True
                log.info("model loaded", extra={"model": ref.label, "alias": alias})
        return models, changed

    def _load(self, ref: VersionRef) -> Loaded:
        dst = self._cache / ref.name / ref.version
        if dst.exists():
            shutil.rmtree(dst)
        path = self._registry.download(ref, dst)
        bundle = load_bundle(ref.source, path)
        if isinstance(bundle, ContentBundle):  # queries are embedded per request
            from services.common.models.encoder import load_encoder

            load_encoder()
        return Loaded(ref, bundle, item_indexes(ref.source, bundle))
