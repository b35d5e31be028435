"""Two-tower retrieval (TensorFlow Recommenders), trained on the implicit matrix.

User tower: user id + mean of the user's recent items + category-affinity shares.
Item tower: item id + mean of text-token embeddings + category + price band, so an
item without interactions (or a new one, OOV id) still gets a vector from content.
Loss: in-batch softmax (`tfrs.tasks.Retrieval`) over positive (user, item) pairs,
weighted by the matrix strength, accidental hits removed. Ids are dropped at random
during training so the towers also learn to embed from history/content alone.

The trained weights are copied into a numpy `TwoTowerBundle` (serving never imports
TensorFlow); `export_savedmodel` also writes the Keras user tower as a SavedModel.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ml.training.dataset import PRICE_BANDS, Scorer, TrainingData
from services.common.models.two_tower import TwoTowerBundle, tokenize

# tensorflow-recommenders needs Keras 2 (tf-keras): set before TF is first imported
# (TF is imported lazily, inside the functions below).
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no C++ info lines in job logs

NAME = "two_tower"
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Params:
    dim: int = 64  # output embedding size of both towers
    id_dim: int = 32  # id, history and token embeddings (64: same quality, ~1.5x slower)
    category_dim: int = 16
    band_dim: int = 8
    hidden: int = 128  # one ReLU layer per tower before the output projection
    epochs: int = 5  # MovieLens precision@10 is flat from 4 to 8 epochs, lower at 12
    batch_size: int = 1024  # in-batch negatives: larger batches, harder negatives
    learning_rate: float = 0.005
    temperature: float = 0.1  # softmax temperature on cosine scores
    normalize: bool = True  # L2-normalised tower outputs (cosine similarity)
    logq: bool = True  # correct in-batch logits by log(item sampling prob.); keeps popularity
    # Share of examples trained without each input (user id, history, affinity; item id):
    # new users / items lack some of them at serving time.
    input_dropout: float = 0.2
    history_len: int = 20
    text_vocab: int = 20_000
    min_token_df: int = 2  # tokens in fewer items carry no shared signal
    max_tokens: int = 24
    seed: int = 42

    @classmethod
    def quick(cls) -> Params:
        """Small and fast: tests and the first `make up`."""
        return cls(dim=32, id_dim=16, hidden=64, epochs=2)


# -- data preparation (numpy) ----------------------------------------------------------


@dataclass(frozen=True)
class _Vocab:
    categories: np.ndarray  # object, index + 1 = category id
    tokens: np.ndarray
    item_tokens: np.ndarray  # (n_items + 1, max_tokens) int64, row 0 = OOV item
    item_category: np.ndarray  # (n_items + 1,) int64
    item_band: np.ndarray  # (n_items + 1,) int64


def _vocab(data: TrainingData, p: Params) -> _Vocab:
    n = data.n_items + 1
    if data.content is None:
        zeros = np.zeros(n, dtype=np.int64)
        empty = np.array([], dtype=object)
        return _Vocab(empty, empty, np.zeros((n, 1), np.int64), zeros, zeros)
    content = data.content
    categories = np.array(sorted({c for c in content.category if c}), dtype=object)
    docs = [tokenize(t) for t in content.text]
    df = Counter(tok for doc in docs for tok in set(doc))
    ranked = sorted((t for t, c in df.items() if c >= p.min_token_df), key=lambda t: (-df[t], t))
    tokens = np.array(ranked[: p.text_vocab], dtype=object)
    tok_index = {t: i + 1 for i, t in enumerate(tokens)}
    item_tokens = np.zeros((n, p.max_tokens), dtype=np.int64)
    for row, doc in enumerate(docs, start=1):
        idx = [tok_index[t] for t in dict.fromkeys(doc) if t in tok_index][: p.max_tokens]
        item_tokens[row, : len(idx)] = idx
    item_tokens = item_tokens[:, : max(1, int((item_tokens > 0).sum(axis=1).max()))]
    cat_index = {c: i + 1 for i, c in enumerate(categories)}
    item_category = np.array([0] + [cat_index.get(c, 0) for c in content.category])
    item_band = np.concatenate([[0], content.price_band()])
    return _Vocab(categories, tokens, item_tokens, item_category, item_band.astype(np.int64))


def recent_matrix(data: TrainingData, users: np.ndarray, n: int) -> np.ndarray:
    """(len(users), n) 1-based item indices, most recent first, 0-padded: the order of
    `TrainingData.recent_items` without a Python loop over users."""
    seen = data.last_seen[users].tocsr()
    seen.sort_indices()
    counts = np.diff(seen.indptr)
    rows = np.repeat(np.arange(len(users)), counts)
    strength = np.asarray(data.matrix[users][rows, seen.indices]).ravel()
    order = np.lexsort((-strength, -seen.data, rows))
    rank = np.arange(len(order)) - np.repeat(seen.indptr[:-1], counts)
    out = np.zeros((len(users), n), dtype=np.int64)
    keep = rank < n
    out[rows[order][keep], rank[keep]] = seen.indices[order][keep] + 1
    return out


def category_weights(matrix: sp.csr_matrix, item_category: np.ndarray, n_cats: int) -> np.ndarray:
    """(rows, n_categories) summed interaction weight per category; `item_category`
    is 1-based per item (0 = none), with a leading entry for the OOV item."""
    cats = item_category[1:]
    known = np.flatnonzero(cats > 0)
    onehot = sp.csr_matrix(
        (np.ones(len(known), np.float32), (known, cats[known] - 1)), shape=(len(cats), n_cats)
    )
    return np.asarray((matrix @ onehot).todense(), dtype=np.float32)


def _examples(data: TrainingData, p: Params) -> dict[str, np.ndarray]:
    """One example per positive pair; history and affinity exclude the target item
    (as at serving time, where the next item is not yet in the history)."""
    pairs = data.matrix.tocoo()
    users, items = pairs.row.astype(np.int64), pairs.col.astype(np.int64)
    hist = recent_matrix(data, np.arange(data.n_users), p.history_len + 1)[users]
    keep = hist != (items + 1)[:, None]
    order = np.argsort(~keep, axis=1, kind="stable")  # drop the target, keep the order
    hist = np.where(np.take_along_axis(keep, order, 1), np.take_along_axis(hist, order, 1), 0)
    weight = np.log1p(pairs.data.astype(np.float32))  # damp heavy purchase/repeat weights
    return {
        "user": users + 1,
        "item": items + 1,
        "history": hist[:, : p.history_len],
        "weight": weight / weight.mean(),
        "raw": pairs.data.astype(np.float32),
    }


# -- Keras towers -------------------------------------------------------------------------


def _towers(n_users: int, n_items: int, vocab: _Vocab, p: Params):
    import tensorflow as tf

    layers = tf.keras.layers
    has_content = len(vocab.tokens) > 0 or len(vocab.categories) > 0

    def mlp(name: str) -> list:
        return [
            layers.Dense(p.hidden, activation="relu", name=f"{name}_dense0"),
            layers.Dense(p.dim, name=f"{name}_dense1"),
        ]

    def id_emb(emb, idx):
        return emb(idx) * tf.cast(idx > 0, tf.float32)[:, None]

    def masked_mean(emb, idx):
        mask = tf.cast(idx > 0, tf.float32)[..., None]
        total = tf.reduce_sum(emb(idx) * mask, axis=1)
        return total / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)

    def drop(x, training):
        """Zero whole rows of `x` (ids, histories or affinities) at random."""
        if not training or p.input_dropout <= 0:
            return x
        keep = tf.random.uniform(tf.shape(x)[:1]) >= p.input_dropout
        keep = tf.reshape(keep, tf.concat([tf.shape(keep), tf.ones_like(tf.shape(x)[1:])], 0))
        return tf.where(keep, x, tf.zeros_like(x))

    def finish(x):
        return tf.math.l2_normalize(x, axis=-1) if p.normalize else x

    class UserTower(tf.keras.Model):
        def __init__(self):
            super().__init__(name="user_tower")
            self.user_emb = layers.Embedding(n_users + 1, p.id_dim, name="user_emb")
            # Own table: sharing the item tower's id table measured slightly worse.
            self.hist_emb = layers.Embedding(n_items + 1, p.id_dim, name="hist_emb")
            self.mlp = mlp("user")

        def call(self, inputs, training=False):
            user = drop(inputs["user"], training)
            history = drop(inputs["history"], training)
            parts = [id_emb(self.user_emb, user), masked_mean(self.hist_emb, history)]
            if len(vocab.categories):
                aff = drop(tf.maximum(inputs["affinity"], 0.0), training)
                parts.append(tf.math.divide_no_nan(aff, tf.reduce_sum(aff, 1, keepdims=True)))
            x = tf.concat(parts, axis=1)
            for layer in self.mlp:
                x = layer(x)
            return finish(x)

    class ItemTower(tf.keras.Model):
        def __init__(self):
            super().__init__(name="item_tower")
            self.item_emb = layers.Embedding(n_items + 1, p.id_dim, name="item_emb")
            if has_content:
                self.token_emb = layers.Embedding(len(vocab.tokens) + 1, p.id_dim)
                self.cat_emb = layers.Embedding(len(vocab.categories) + 1, p.category_dim)
                self.band_emb = layers.Embedding(len(PRICE_BANDS) + 1, p.band_dim)
            self.mlp = mlp("item")

        def call(self, inputs, training=False):
            # Without content an item is its id: nothing to learn from when it is dropped.
            item = drop(inputs["item"], training) if has_content else inputs["item"]
            parts = [id_emb(self.item_emb, item)]
            if has_content:
                parts += [
                    masked_mean(self.token_emb, inputs["tokens"]),
                    id_emb(self.cat_emb, inputs["category"]),
                    self.band_emb(inputs["band"]),
                ]
            x = tf.concat(parts, axis=1)
            for layer in self.mlp:
                x = layer(x)
            return finish(x)

    return UserTower(), ItemTower(), has_content


def train(
    data: TrainingData, params: Params | None = None, progress: Progress | None = None
) -> TwoTowerBundle:
    import tensorflow as tf
    import tensorflow_recommenders as tfrs

    p = params or Params()
    tf.keras.utils.set_random_seed(p.seed)
    tf.config.experimental.enable_op_determinism()
    vocab = _vocab(data, p)
    examples = _examples(data, p)
    n = len(examples["user"])
    if n == 0:
        raise ValueError("two_tower: the training data has no positive interactions")
    user_tower, item_tower, has_content = _towers(data.n_users, data.n_items, vocab, p)
    batches, steps = _batches(n, p)
    featurize = _featurizer(data, vocab, examples)
    dataset = tf.data.Dataset.from_tensor_slices(batches).map(featurize).prefetch(2)
    task = tfrs.tasks.Retrieval(temperature=p.temperature, remove_accidental_hits=True)

    class Retriever(tfrs.Model):
        def __init__(self):
            super().__init__()
            self.user_tower, self.item_tower, self.task = user_tower, item_tower, task

        def compute_loss(self, features, training=False):
            return self.task(
                self.user_tower(features, training=training),
                self.item_tower(features, training=training),
                sample_weight=features["weight"],
                candidate_ids=features["item"],
                candidate_sampling_probability=features["q"] if p.logq else None,
                compute_metrics=False,
                compute_batch_metrics=False,
            )

    model = Retriever()
    model.compile(optimizer=tf.keras.optimizers.Adam(p.learning_rate))
    callbacks = []
    if progress is not None:
        progress(NAME, 0, p.epochs)
        callbacks.append(
            tf.keras.callbacks.LambdaCallback(
                on_epoch_end=lambda epoch, logs: progress(NAME, epoch + 1, p.epochs)
            )
        )
    model.fit(dataset, epochs=p.epochs, steps_per_epoch=steps, verbose=0, callbacks=callbacks)
    bundle = _bundle(data, vocab, p, user_tower, item_tower, has_content)
    bundle.keras = {"user_tower": user_tower, "item_tower": item_tower}
    return bundle


def _batches(n: int, p: Params) -> tuple[np.ndarray, int]:
    """(epochs * steps, batch) example rows, a seeded permutation per epoch (its
    remainder is left out, other rows each epoch): one gather per batch instead of a
    per-example tf.data shuffle, which cost ~10% of the training time."""
    rng = np.random.default_rng(p.seed)
    size = min(p.batch_size, n)
    steps = n // size
    perms = [rng.permutation(n)[: steps * size].reshape(steps, size) for _ in range(p.epochs)]
    return np.concatenate(perms), steps


def _featurizer(data: TrainingData, vocab: _Vocab, examples: dict[str, np.ndarray]):
    """Batch of example rows -> the towers' inputs (gathers from constant tensors)."""
    import tensorflow as tf

    n_cats = len(vocab.categories)
    ex = {k: tf.constant(v) for k, v in examples.items()}
    tokens = tf.constant(vocab.item_tokens)
    category = tf.constant(vocab.item_category)
    band = tf.constant(vocab.item_band)
    cat_weights = tf.constant(category_weights(data.matrix, vocab.item_category, n_cats))
    # In-batch negatives are drawn with the items' pair frequency (logQ correction).
    freq = np.bincount(examples["item"], minlength=data.n_items + 1) / len(examples["item"])
    q = tf.constant(freq, tf.float32)

    def featurize(rows):
        user, item = tf.gather(ex["user"], rows), tf.gather(ex["item"], rows)
        cat = tf.gather(category, item)
        # The target's own weight leaves the affinity, as the history leaves it out.
        own = tf.one_hot(cat - 1, n_cats) * tf.gather(ex["raw"], rows)[:, None]
        return {
            "user": user,
            "history": tf.gather(ex["history"], rows),
            "affinity": tf.gather(cat_weights, user - 1) - own,
            "item": item,
            "tokens": tf.gather(tokens, item),
            "category": cat,
            "band": tf.gather(band, item),
            "weight": tf.gather(ex["weight"], rows),
            "q": tf.gather(q, item),
        }

    return featurize


def _bundle(
    data: TrainingData, vocab: _Vocab, p: Params, user_tower, item_tower, has_content: bool
) -> TwoTowerBundle:
    """Copy the Keras weights into numpy and embed every item of `data`."""
    weights = {
        "user_emb": user_tower.user_emb.get_weights()[0],
        "hist_emb": user_tower.hist_emb.get_weights()[0],
        "item_emb": item_tower.item_emb.get_weights()[0],
    }
    if has_content:
        weights["token_emb"] = item_tower.token_emb.get_weights()[0]
        weights["cat_emb"] = item_tower.cat_emb.get_weights()[0]
        weights["band_emb"] = item_tower.band_emb.get_weights()[0]
    for tower, name in ((user_tower, "user"), (item_tower, "item")):
        for k, layer in enumerate(tower.mlp):
            weights[f"{name}_w{k}"], weights[f"{name}_b{k}"] = layer.get_weights()
    meta = {
        "name": NAME,
        "dim": p.dim,
        "history_len": p.history_len,
        "max_tokens": p.max_tokens,
        "normalize": p.normalize,
        "price_bands": list(PRICE_BANDS),
        "user_layers": len(user_tower.mlp),
        "item_layers": len(item_tower.mlp),
        "params": asdict(p),
    }
    bundle = TwoTowerBundle(
        item_ids=data.item_ids,
        item_vectors=np.zeros((0, p.dim), np.float32),
        user_ids=data.user_ids,
        categories=vocab.categories,
        tokens=vocab.tokens,
        weights=weights,
        meta=meta,
    )
    idx = np.arange(1, data.n_items + 1)
    bundle.item_vectors = bundle.item_vectors_idx(
        idx, vocab.item_tokens[idx], vocab.item_category[idx], vocab.item_band[idx]
    )
    return bundle


def export_savedmodel(bundle: TwoTowerBundle, path: Path) -> Path:
    """Write the trained Keras user tower to `path / "user_tower_tf"` (a SavedModel
    with signature `serving_default(user, history, affinity) -> {"embedding"}` on the
    bundle's 1-based vocabulary indices). Needs a bundle fresh from `train`."""
    import tensorflow as tf

    if not bundle.keras:
        raise ValueError("export_savedmodel needs the bundle returned by train()")
    tower = bundle.keras["user_tower"]
    spec = {
        "user": tf.TensorSpec([None], tf.int64, name="user"),
        "history": tf.TensorSpec([None, None], tf.int64, name="history"),
        "affinity": tf.TensorSpec([None, len(bundle.categories)], tf.float32, name="affinity"),
    }

    @tf.function(input_signature=[spec])
    def serve(inputs):
        return {"embedding": tower(inputs, training=False)}

    out = Path(path) / "user_tower_tf"
    tf.saved_model.save(tower, str(out), signatures={"serving_default": serve})
    return out


# -- scoring ---------------------------------------------------------------------------


class TwoTowerScorer:
    """Scores through the numpy serving path; items of `data` unknown to the bundle are
    embedded from content when `data` has it, else score -inf."""

    name = NAME

    def __init__(self, bundle: TwoTowerBundle) -> None:
        self.bundle = bundle
        self._items: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def _aligned(self, data: TrainingData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(item vectors, known, bundle index + 1 per data item), cached per catalog."""
        if self._items is not None and self._items[0] is data.item_ids:
            return self._items[1:]
        b = self.bundle
        vectors, known = b.aligned_item_vectors(data.item_ids)
        if data.content is not None and not known.all():
            new = np.flatnonzero(~known)
            sub = data.content.subset(new)
            vectors[new] = b.item_vectors_for(sub.text, sub.category, sub.price)
            known = np.ones_like(known)
        index = b.item_index(list(data.item_ids))
        self._items = (data.item_ids, vectors, known, index)
        return vectors, known, index

    def score(self, data: TrainingData, users: np.ndarray) -> np.ndarray:
        vectors, known, index = self._aligned(data)
        b = self.bundle
        users = np.asarray(users, dtype=np.int64)
        # Slack for recent items unknown to the bundle, which the serving path skips.
        recent = recent_matrix(data, users, 2 * b.history_len)
        history = _compact(np.where(recent > 0, index[np.maximum(recent - 1, 0)], 0))
        affinity = np.zeros((len(users), len(b.categories)), np.float32)
        if data.content is not None and len(b.categories):
            item_cat = np.concatenate([[0], b.category_index(list(data.content.category))])
            affinity = category_weights(data.matrix[users], item_cat, len(b.categories))
        query = b.user_vectors_idx(
            b.user_index(list(data.user_ids[users])), history[:, : b.history_len], affinity
        )
        scores = query @ vectors.T
        scores[:, ~known] = -np.inf
        return scores.astype(np.float32)


def _compact(idx: np.ndarray) -> np.ndarray:
    """Move the non-zero entries of each row to the front, keeping their order."""
    order = np.argsort(idx == 0, axis=1, kind="stable")
    return np.take_along_axis(idx, order, axis=1)


def scorer(bundle: TwoTowerBundle) -> Scorer:
    return TwoTowerScorer(bundle)
