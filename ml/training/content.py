"""Content embeddings: all-MiniLM-L6-v2 vectors of every item's name + sub_category.

Nothing is learned from interactions: every catalog item (cold-start ones too) gets
a vector, and a vocabulary of catalog words gets vectors for query expansion. The
scorer weights a user's items by interaction strength (optionally times recency) and
scores every item by its sharpened cosine with them (`Params.profile_power`), or by
cosine with their weighted mean.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import scipy.sparse as sp

from ml.training.dataset import TrainingData
from services.common.models import encoder
from services.common.models.bundle import align
from services.common.models.content import ContentBundle

NAME = "content_embeddings"
_WORD = re.compile(r"[a-z]+")
# Function words and listing filler: they would only add noise to query expansion.
STOP_WORDS = frozenset(
    """a about above after again all also am an and any are as at be been before being
    below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers him his how i if in into is it its itself
    just me more most my no nor not now of off on once only or other our out over own same
    she should so some such than that the their them then there these they this those
    through to too under until up very was we were what when where which while who whom why
    will with would you your yours new pack set combo size inch cm mm ml kg gb tb pcs
    piece pieces""".split()
)


@dataclass(frozen=True)
class Params:
    batch_size: int = 64
    min_term_freq: int = 2  # catalog texts a word must occur in to enter the vocabulary
    min_term_len: int = 3
    max_terms: int = 20_000  # the most frequent words; exact term search stays cheap
    # Words that lead at least this share of the texts they occur in are brands
    # ("Sony ..."): expanding "laptop" to "lenovo" would narrow a search, not widen it.
    max_lead_share: float = 0.5
    # Profile: None = interaction weights only (already recency-decayed by the
    # interaction query); else also exp(-age / days), age from the user's latest item.
    profile_recency_days: float | None = None
    # Scorer. None: cosine with the user's weighted-mean vector. p: sum over the user's
    # items of weight * max(0, cos)^p, an item-neighbour vote (large p: the nearest items
    # decide, as in `ContentBundle.similar`). MovieLens, picked on an inner split:
    # precision@10 0.089 at p=16 vs 0.029 for the mean (sequels, franchises).
    profile_power: float | None = 16.0

    @classmethod
    def quick(cls) -> Params:
        return cls(max_terms=5_000)


def vocabulary(texts: Sequence[str], params: Params) -> list[str]:
    """Lowercase alphabetic words of the catalog, most frequent first (ties A-Z):
    document frequency >= min_term_freq, no stop words, no brands (see Params)."""
    counts: Counter[str] = Counter()
    leads: Counter[str] = Counter()
    for text in texts:
        words = _WORD.findall(text.lower())
        counts.update(set(words))
        if words and text.lower().lstrip().startswith(words[0]):
            leads[words[0]] += 1
    vocab = [
        (-c, w)
        for w, c in counts.items()
        if c >= params.min_term_freq and len(w) >= params.min_term_len
        and w not in STOP_WORDS and leads[w] < params.max_lead_share * c
    ]  # fmt: skip
    return [w for _, w in sorted(vocab)[: params.max_terms]]


def term_contexts(
    texts: Sequence[str], terms: Sequence[str], item_vectors: np.ndarray
) -> np.ndarray:
    """(len(terms), 384) unit mean vector of the items whose text contains each term."""
    column = {t: i for i, t in enumerate(terms)}
    rows, cols = [], []
    for j, text in enumerate(texts):
        found = {column[w] for w in _WORD.findall(text.lower()) if w in column}
        rows.extend(found)
        cols.extend([j] * len(found))
    incidence = sp.csr_matrix(
        (np.ones(len(rows), np.float32), (rows, cols)), shape=(len(terms), len(texts))
    )
    sums = np.asarray(incidence @ item_vectors, dtype=np.float32)
    return sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-9)


def embed(
    texts: Sequence[str],
    batch_size: int = 64,
    progress: Callable[[str, int, int], None] | None = None,
    stage: str = "items",
) -> np.ndarray:
    """(len(texts), 384) float32 unit rows, one encoder call per batch for progress."""
    out = np.zeros((len(texts), encoder.DIM), dtype=np.float32)
    # Similar lengths per batch: less padding (encode() only sorts within one call).
    order = np.argsort([len(t) for t in texts], kind="stable")
    for start in range(0, len(texts), batch_size):
        rows = order[start : start + batch_size]
        out[rows] = encoder.encode([texts[i] for i in rows], batch_size=batch_size)
        if progress:
            progress(stage, min(start + batch_size, len(texts)), len(texts))
    return out


def train(
    data: TrainingData,
    params: Params | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> ContentBundle:
    params = params or Params()
    if data.content is None:
        raise ValueError(
            f"{NAME} needs item content (name + sub_category), but TrainingData.content "
            "is None: load the training data together with the catalog"
        )
    texts = [str(t) for t in data.content.text]
    if len(texts) != data.n_items:
        raise ValueError(f"content has {len(texts)} texts for {data.n_items} items")
    started = time.perf_counter()
    item_vectors = embed(texts, params.batch_size, progress, "items")
    terms = vocabulary(texts, params)
    term_vectors = embed(terms, params.batch_size, progress, "terms")
    contexts = term_contexts(texts, terms, item_vectors)
    meta = {
        "params": asdict(params),
        "train_seconds": round(time.perf_counter() - started, 3),
    }
    terms_array = np.array(terms, dtype=object)
    return ContentBundle(
        data.item_ids.copy(), item_vectors, terms_array, term_vectors, contexts, meta=meta
    )


@dataclass
class ContentScorer:
    bundle: ContentBundle
    recency_days: float | None = None
    power: float | None = None
    name: str = NAME
    _aligned: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    def score(self, data: TrainingData, users: np.ndarray) -> np.ndarray:
        vectors, present = self._vectors(data.item_ids)
        weights = sp.csr_matrix(data.matrix[users], dtype=np.float32)
        if self.recency_days:
            weights = weights.multiply(_recency(data.last_seen[users], self.recency_days)).tocsr()
        if self.power is None:
            profiles = np.asarray(weights @ vectors, dtype=np.float32)  # weighted sum
            norms = np.linalg.norm(profiles, axis=1, keepdims=True)
            profiles /= np.maximum(norms, 1e-9)  # cosine: the mean's scale does not matter
            scores = profiles @ vectors.T
        else:
            scores = _neighbour_votes(weights, vectors, self.power)
        scores[:, ~present] = -np.inf  # items the bundle has never seen
        return scores

    def _vectors(self, item_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Evaluation scores many user batches of one dataset: align its ids once.
        if self._aligned is None or self._aligned[0] is not item_ids:
            rows = align(self.bundle.item_ids, item_ids)
            vectors = np.zeros((len(item_ids), self.bundle.item_vectors.shape[1]), np.float32)
            vectors[rows >= 0] = self.bundle.item_vectors[rows[rows >= 0]]
            self._aligned = (item_ids, vectors, rows >= 0)
        return self._aligned[1], self._aligned[2]


def _neighbour_votes(weights: sp.csr_matrix, vectors: np.ndarray, power: float) -> np.ndarray:
    """weights @ max(0, V_h V^T)^power over the history items h of the batch, in blocks
    of rows so the similarity block stays ~80 MB whatever the catalog size."""
    history = np.unique(weights.tocsr().indices)  # item columns with any weight
    weights = weights.tocsc()  # cheap column blocks
    scores = np.zeros((weights.shape[0], len(vectors)), dtype=np.float32)
    block = max(1, 20_000_000 // max(len(vectors), 1))
    for start in range(0, len(history), block):
        rows = history[start : start + block]
        sims = vectors[rows] @ vectors.T
        np.maximum(sims, 0.0, out=sims)
        sims **= power
        scores += np.asarray(weights[:, rows] @ sims, dtype=np.float32)
    return scores


def _recency(last_seen: sp.csr_matrix, days: float) -> sp.csr_matrix:
    """exp(-age / days) per entry, age counted from the user's own latest interaction."""
    seen = last_seen.tocsr()
    latest = np.asarray(seen.max(axis=1).todense()).ravel()
    age = np.repeat(latest, np.diff(seen.indptr)) - seen.data
    return sp.csr_matrix((np.exp(-age / (days * 86_400.0)), seen.indices, seen.indptr), seen.shape)


def scorer(bundle: ContentBundle, params: Params | None = None) -> ContentScorer:
    """The bundle's own profile settings unless `params` are given."""
    if params is None:
        saved = bundle.meta.get("params", {})
        days = saved.get("profile_recency_days", Params.profile_recency_days)
        return ContentScorer(bundle, days, saved.get("profile_power", Params.profile_power))
    return ContentScorer(bundle, params.profile_recency_days, params.profile_power)
