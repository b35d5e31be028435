"""Content-embedding bundle: MiniLM vectors of every item and of a catalog vocabulary.

Serves similar products (also for cold-start items: every catalog item has a vector,
interactions or not), semantic search and query expansion ("earbuds" -> "earphones").
numpy only: query vectors come from `services.common.models.encoder` (which imports
torch lazily, on first use), so loading a bundle never imports torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from services.common.models.bundle import align, load_arrays, save_arrays
from services.common.models.encoder import DIM, MODEL_NAME
from services.common.models.vectors import VectorIndex, load_ann, save_ann

FORMAT = 1
ANN_FILE = "items.faiss"
_WORD = re.compile(r"[a-z]+")


@dataclass
class ContentBundle:
    item_ids: np.ndarray  # (n,) str objects
    item_vectors: np.ndarray  # (n, DIM) float32, rows L2-normalised
    terms: np.ndarray  # (t,) vocabulary words, lowercase
    term_vectors: np.ndarray  # (t, DIM) float32, rows L2-normalised
    # (t, DIM) unit mean of the vectors of the items whose text has the term (None:
    # the term vectors). It grounds a word in this catalog: "earring" is close to
    # "earbuds" as a word, but its items are jewellery.
    term_contexts: np.ndarray | None = None
    model_name: str = MODEL_NAME
    meta: dict = field(default_factory=dict)  # training params, timings
    index: VectorIndex | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.item_ids = np.asarray(self.item_ids).astype(object)
        self.terms = np.asarray(self.terms).astype(object)
        self.item_vectors = _matrix(self.item_vectors)
        self.term_vectors = _matrix(self.term_vectors)
        if self.term_contexts is None:
            self.term_contexts = self.term_vectors
        self.term_contexts = _matrix(self.term_contexts)
        if self.index is None:
            self.index = VectorIndex.build(self.item_vectors)
        # Expansion score = mean of the cosines with the word and with its context, one
        # inner product with the mean vector. The vocabulary stays small (Params.max_terms):
        # exact search is enough.
        self._term_index = VectorIndex((self.term_vectors + self.term_contexts) / 2.0)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def rows_of(self, ids: np.ndarray) -> np.ndarray:
        """Row of each id in this bundle, -1 when unknown (re-aligns to any catalog)."""
        return align(self.item_ids, ids)

    def similar(
        self, item_indices: np.ndarray, k: int, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k items by their best cosine with any anchor; anchors and `exclude` dropped.
        Returns (indices, scores), 1-d, best first."""
        anchors = np.unique(np.asarray(item_indices, dtype=np.int64))
        drop = anchors if exclude is None else np.union1d(anchors, np.asarray(exclude, np.int64))
        if len(anchors) == 0 or k <= 0:
            return _empty()
        # Each anchor's own top (k + |drop|) contains every item of the merged top k,
        # so this is exact for the exact index and as good as the ANN otherwise.
        idx, scores = self.index.search(self.item_vectors[anchors], k + len(drop))
        idx, scores = idx.ravel(), scores.ravel()
        keep = (idx >= 0) & ~np.isin(idx, drop)
        idx, scores = idx[keep], scores[keep]
        order = np.lexsort((idx, -scores))  # best score first; the first of an id is its max
        idx, scores = idx[order], scores[order]
        _, first = np.unique(idx, return_index=True)
        first = np.sort(first)[:k]
        return idx[first], scores[first].astype(np.float32)

    def search(self, query_vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Semantic search: the k items closest to a query vector (1-d results)."""
        if k <= 0 or self.n_items == 0:
            return _empty()
        idx, scores = self.index.search(np.asarray(query_vector, np.float32).reshape(1, -1), k)
        keep = idx[0] >= 0
        return idx[0][keep], scores[0][keep].astype(np.float32)

    def expand(
        self, query: str, query_vector: np.ndarray, n: int = 3, min_similarity: float = 0.55
    ) -> list[str]:
        """Up to n vocabulary words close to the query (mean cosine with the word and
        with the word's catalog context >= min_similarity), best first, that it does not
        already contain (plurals and fragments of its words count as contained)."""
        if n <= 0 or len(self.terms) == 0:
            return []
        words = _WORD.findall(query.lower())
        stems = {_stem(w) for w in words}
        # Over-fetch: the query's own words and their variants are usually the nearest.
        k = n + 4 * len(words) + 4
        idx, scores = self._term_index.search(np.asarray(query_vector, np.float32), k)
        out: list[str] = []
        for i, s in zip(idx[0], scores[0], strict=True):
            if i < 0 or s < min_similarity or len(out) == n:
                break
            term = str(self.terms[i])
            stem = _stem(term)
            # Fragments ("ear", "buds" of "earbuds") are close in vector space but widen
            # a lexical search into noise.
            if stem in stems or any(term in w for w in words):
                continue
            out.append(term)
            stems.add(stem)  # no "earphone" after "earphones"
        return out

    def save(self, path: Path) -> None:
        meta = {
            **self.meta,
            "format": FORMAT,
            "model": self.model_name,
            "dim": int(self.item_vectors.shape[1]),
            "items": self.n_items,
            "terms": len(self.terms),
            "ann": self.index.ann is not None,
        }
        save_arrays(
            Path(path),
            meta,
            item_ids=self.item_ids,
            item_vectors=self.item_vectors,
            terms=self.terms,
            term_vectors=self.term_vectors,
            term_contexts=self.term_contexts,
        )
        save_ann(self.index, Path(path) / ANN_FILE)

    @classmethod
    def load(cls, path: Path) -> ContentBundle:
        meta, a = load_arrays(Path(path))
        if meta.get("format") != FORMAT:
            raise ValueError(f"unsupported content bundle format {meta.get('format')!r}")
        dim = int(meta["dim"])
        vectors = _matrix(a["item_vectors"], dim)
        ann = Path(path) / ANN_FILE
        return cls(
            a["item_ids"],
            vectors,
            a["terms"],
            _matrix(a["term_vectors"], dim),
            _matrix(a["term_contexts"], dim) if "term_contexts" in a else None,
            model_name=meta["model"],
            meta=meta,
            index=load_ann(vectors, ann) if ann.exists() else None,
        )


def _stem(word: str) -> str:
    """A light plural/variant folding: "earbuds" -> "earbud", "batteries" -> "battery"."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes", "zes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _matrix(vectors: np.ndarray, dim: int = DIM) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    return vectors if vectors.ndim == 2 else vectors.reshape(-1, dim)  # empty arrays


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
