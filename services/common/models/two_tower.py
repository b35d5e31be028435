"""Two-tower retrieval model at serving time: numpy only (no TensorFlow).

Training (`ml.training.two_tower`) copies the Keras towers' weights into this bundle;
both towers are re-implemented here with the same arithmetic, so candidate-gen embeds
users (id + recent items + category affinity) and new items (text + category + price
band, OOV id) without TensorFlow. Index 0 of every vocabulary is OOV/padding: an unknown
user or item id embeds as zeros (the towers were trained with id dropout for that case)
and unknown recent items or tokens are left out of their means.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

_TOKEN = re.compile(r"[a-z0-9]+")
_VOCABS = ("user_ids", "item_ids", "categories", "tokens")
_CHUNK = 4096  # rows per matmul block, bounds the (rows, tokens, dim) temporaries


def tokenize(text: str) -> list[str]:
    """Lowercase word tokens; the same function builds the training vocabulary."""
    return _TOKEN.findall(text.lower())


class TwoTowerBundle:
    """Item vectors for every known item plus both towers' numpy weights.

    `weights` keys: `user_emb`, `hist_emb`, `user_w{k}`/`user_b{k}` (MLP layers),
    `item_emb`, `token_emb`, `cat_emb`, `band_emb`, `item_w{k}`/`item_b{k}`;
    the content tables are absent when the model was trained without content.
    """

    def __init__(
        self,
        *,
        item_ids: np.ndarray,
        item_vectors: np.ndarray,
        user_ids: np.ndarray,
        categories: np.ndarray,
        tokens: np.ndarray,
        weights: dict[str, np.ndarray],
        meta: dict,
    ) -> None:
        self.item_ids = np.asarray(item_ids, dtype=object)
        self.item_vectors = np.ascontiguousarray(item_vectors, dtype=np.float32)
        self.user_ids = np.asarray(user_ids, dtype=object)
        self.categories = np.asarray(categories, dtype=object)
        self.tokens = np.asarray(tokens, dtype=object)
        self.weights = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}
        self.meta = meta
        self.keras: dict | None = None  # training only: the Keras towers, never saved
        self._index: dict[str, dict[str, int]] = {}

    # -- vocabularies --------------------------------------------------------------

    @property
    def dim(self) -> int:
        return int(self.meta["dim"])

    @property
    def history_len(self) -> int:
        return int(self.meta["history_len"])

    @property
    def has_content(self) -> bool:
        return "token_emb" in self.weights

    def _lookup(self, vocab: str, values: list[str | None]) -> np.ndarray:
        """1-based indices into `vocab` (0 = unknown) as int64."""
        index = self._index.get(vocab)
        if index is None:
            index = {v: i + 1 for i, v in enumerate(getattr(self, vocab))}
            self._index[vocab] = index
        return np.fromiter((index.get(v, 0) for v in values), dtype=np.int64, count=len(values))

    def user_index(self, ids: list[str | None]) -> np.ndarray:
        return self._lookup("user_ids", ids)

    def item_index(self, ids: list[str]) -> np.ndarray:
        return self._lookup("item_ids", ids)

    def category_index(self, categories: list[str]) -> np.ndarray:
        return self._lookup("categories", categories)

    def token_matrix(self, texts: list[str]) -> np.ndarray:
        """(n, max_tokens) indices of the distinct known tokens, 0-padded."""
        width = int(self.meta["max_tokens"])
        out = np.zeros((len(texts), width), dtype=np.int64)
        for row, text in enumerate(texts):
            idx = self._lookup("tokens", list(dict.fromkeys(tokenize(text))))
            idx = idx[idx > 0][:width]
            out[row, : len(idx)] = idx
        return out

    def price_band(self, prices: np.ndarray) -> np.ndarray:
        """0 = unknown, 1.. = band (the rule of `ItemContent.price_band`)."""
        price = np.asarray(prices, dtype=float)
        edges = np.asarray(self.meta["price_bands"], dtype=float)
        band = np.searchsorted(edges, np.nan_to_num(price, nan=-1.0), side="right")
        return np.where(np.isnan(price), 0, band).astype(np.int64)

    # -- towers ----------------------------------------------------------------------

    def user_vectors(
        self,
        user_ids: list[str | None],
        recent: list[list[str]],
        affinity: list[dict[str, float]],
    ) -> np.ndarray:
        """(m, dim) query vectors. `recent`: item ids, most recent first; `affinity`:
        category -> interaction weight (normalised to shares here)."""
        m, width = len(user_ids), self.history_len
        history = np.zeros((m, width), dtype=np.int64)
        for row, items in enumerate(recent):
            idx = self.item_index(list(items))
            idx = idx[idx > 0][:width]
            history[row, : len(idx)] = idx
        aff = np.zeros((m, len(self.categories)), dtype=np.float32)
        for row, weights in enumerate(affinity):
            if weights:
                cats = self.category_index(list(weights))
                vals = np.fromiter(weights.values(), dtype=np.float32, count=len(weights))
                np.add.at(aff[row], cats[cats > 0] - 1, vals[cats > 0])
        return self.user_vectors_idx(self.user_index(list(user_ids)), history, aff)

    def user_vectors_idx(
        self, users: np.ndarray, history: np.ndarray, affinity: np.ndarray
    ) -> np.ndarray:
        """The user tower on indices: users (m,), history (m, L) 0-padded, affinity
        (m, n_categories) raw weights (rows are normalised to shares, negatives cut)."""
        w = self.weights
        parts = [_id_embedding(w["user_emb"], users), _masked_mean(w["hist_emb"], history)]
        if len(self.categories):
            parts.append(affinity_shares(affinity))
        return self._mlp("user", np.concatenate(parts, axis=1))

    def item_vectors_for(
        self, texts: list[str], categories: list[str], prices: np.ndarray
    ) -> np.ndarray:
        """(n, dim) vectors of items not in the bundle, from content only (OOV id)."""
        n = len(texts)
        return self.item_vectors_idx(
            np.zeros(n, dtype=np.int64),
            self.token_matrix(list(texts)),
            self.category_index(list(categories)),
            self.price_band(prices),
        )

    def item_vectors_idx(
        self, items: np.ndarray, tokens: np.ndarray, categories: np.ndarray, bands: np.ndarray
    ) -> np.ndarray:
        """The item tower on indices (ids, (n, T) tokens, categories, price bands)."""
        out = np.empty((len(items), self.dim), dtype=np.float32)
        for lo in range(0, len(items), _CHUNK):
            sl = slice(lo, lo + _CHUNK)
            parts = [_id_embedding(self.weights["item_emb"], items[sl])]
            if self.has_content:
                parts += [
                    _masked_mean(self.weights["token_emb"], tokens[sl]),
                    _id_embedding(self.weights["cat_emb"], categories[sl]),
                    self.weights["band_emb"][bands[sl]],
                ]
            out[sl] = self._mlp("item", np.concatenate(parts, axis=1))
        return out

    def _mlp(self, tower: str, x: np.ndarray) -> np.ndarray:
        n_layers = int(self.meta[f"{tower}_layers"])
        for k in range(n_layers):
            x = x @ self.weights[f"{tower}_w{k}"] + self.weights[f"{tower}_b{k}"]
            if k < n_layers - 1:
                x = np.maximum(x, 0.0)
        if self.meta["normalize"]:
            # tf.math.l2_normalize: x * rsqrt(max(sum(x^2), 1e-12))
            x = x / np.sqrt(np.maximum((x * x).sum(axis=1, keepdims=True), 1e-12))
        return x.astype(np.float32)

    def aligned_item_vectors(self, item_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(vectors (n, dim), known (n,) bool) for `item_ids` in their order; rows of
        unknown items are zeros."""
        idx = self.item_index(list(item_ids))
        vectors = self.item_vectors[np.maximum(idx - 1, 0)]
        vectors[idx == 0] = 0.0
        return vectors, idx > 0

    # -- persistence -----------------------------------------------------------------

    def save(self, path: Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        vocabs = {k: np.asarray(getattr(self, k), dtype=str) for k in _VOCABS}
        arrays = {f"w_{k}": v for k, v in self.weights.items()}
        np.savez(path / "arrays.npz", item_vectors=self.item_vectors, **vocabs, **arrays)
        meta = {
            **self.meta,
            "counts": {
                "users": len(self.user_ids),
                "items": len(self.item_ids),
                "categories": len(self.categories),
                "tokens": len(self.tokens),
            },
        }
        (path / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True))

    @classmethod
    def load(cls, path: Path) -> TwoTowerBundle:
        path = Path(path)
        meta = json.loads((path / "meta.json").read_text())
        with np.load(path / "arrays.npz", allow_pickle=False) as z:
            vocabs = {k: z[k].astype(object) for k in _VOCABS}
            weights = {k[2:]: z[k] for k in z.files if k.startswith("w_")}
            vectors = z["item_vectors"]
        return cls(item_vectors=vectors, weights=weights, meta=meta, **vocabs)


def affinity_shares(affinity: np.ndarray) -> np.ndarray:
    """Rows of category weights -> shares summing to 1 (all-zero rows stay zero)."""
    aff = np.maximum(np.asarray(affinity, dtype=np.float32), 0.0)
    total = aff.sum(axis=1, keepdims=True)
    return np.divide(aff, total, out=np.zeros_like(aff), where=total > 0)


def _id_embedding(table: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Rows of `table`; index 0 (OOV) embeds as zeros, as in the Keras towers."""
    return table[idx] * (idx > 0)[:, None].astype(np.float32)


def _masked_mean(table: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Mean of the embeddings of the non-zero indices of each row (zeros if none)."""
    mask = (idx > 0).astype(np.float32)[..., None]
    total = (table[idx] * mask).sum(axis=1)
    return total / np.maximum(mask.sum(axis=1), 1.0)
