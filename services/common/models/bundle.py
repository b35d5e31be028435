"""Saving and loading a bundle's arrays: one `arrays.npz` (no pickles) + `meta.json`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

ARRAYS = "arrays.npz"
META = "meta.json"


def save_arrays(path: Path, meta: dict, **arrays: np.ndarray) -> None:
    path.mkdir(parents=True, exist_ok=True)
    # Object arrays of ids would need pickle: store them as fixed-width unicode.
    plain = {k: v.astype(str) if v.dtype == object else v for k, v in arrays.items()}
    np.savez(path / ARRAYS, **plain)
    (path / META).write_text(json.dumps(meta, indent=2, sort_keys=True, default=str))


def load_arrays(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    meta = json.loads((path / META).read_text())
    with np.load(path / ARRAYS, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    for k, v in arrays.items():
        if v.dtype.kind == "U":
            arrays[k] = v.astype(object)
    return meta, arrays


def align(source_ids: np.ndarray, target_ids: np.ndarray) -> np.ndarray:
    """For each target id, its row in `source_ids` (-1 when absent), vectorised."""
    source_ids = np.asarray(source_ids).astype(str)
    order = np.argsort(source_ids, kind="stable")
    sorted_ids = source_ids[order]
    target = np.asarray(target_ids).astype(str)
    pos = np.searchsorted(sorted_ids, target)
    pos = np.minimum(pos, max(len(sorted_ids) - 1, 0))
    found = (len(sorted_ids) > 0) & (sorted_ids[pos] == target) if len(sorted_ids) else None
    if found is None:
        return np.full(len(target), -1, dtype=np.int64)
    return np.where(found, order[pos], -1).astype(np.int64)
