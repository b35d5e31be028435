"""`recsys train`: interactions -> each source's model -> evaluation -> MLflow.

Per source: fit on the 75% part of a stratified per-user split (seed 42) and
evaluate on the 25% (the metrics the champion rule compares), then fit again on
all interactions and register that model. Content embeddings do not learn from
interactions, so one fit serves both.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ml.training.bundles import trainer
from ml.training.dataset import TrainingData
from ml.training.registry import DEFAULT_TOLERANCE, Registration, register
from services.common.models.registry import CHAMPION, SOURCES

log = logging.getLogger(__name__)

INTERACTION_FREE = {"content_embeddings"}


@dataclass(frozen=True)
class TrainResult:
    source: str
    metrics: dict[str, float]
    train_seconds: float
    registration: Registration


def default_params(source: str, quick: bool, overrides: dict | None = None):
    params_cls = trainer(source).Params
    params = params_cls.quick() if quick and hasattr(params_cls, "quick") else params_cls()
    return dataclasses.replace(params, **overrides) if overrides else params


def data_tags(data: TrainingData) -> dict[str, str]:
    return {
        "data.users": str(data.n_users),
        "data.items": str(data.n_items),
        "data.interactions": str(data.matrix.nnz),
    }


def train_source(
    source: str,
    data: TrainingData,
    split: tuple[TrainingData, object],
    params,
    *,
    tracking_uri: str,
    alias: str = CHAMPION,
    tolerance: float = DEFAULT_TOLERANCE,
    force: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> TrainResult:
    from ml.evaluation.metrics import evaluate_scorer

    module = trainer(source)
    train_part, test = split
    started = time.perf_counter()
    if source in INTERACTION_FREE:
        final = module.train(data, params, progress)
        holdout = final
    else:
        holdout = module.train(train_part, params, progress)
    metrics, _ = evaluate_scorer(module.scorer(holdout), train_part, test)
    if source not in INTERACTION_FREE:
        final = module.train(data, params, progress)
    seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix=f"recsys-{source}-") as tmp:
        bundle_dir = Path(tmp) / "bundle"
        final.save(bundle_dir)
        export = getattr(module, "export_savedmodel", None)
        if export is not None:  # two-tower: the Keras user tower too, as a SavedModel
            export(final, bundle_dir)
        registration = register(
            source,
            bundle_dir,
            tracking_uri=tracking_uri,
            params=dataclasses.asdict(params),
            metrics={**metrics, "train_seconds": seconds},
            tags=data_tags(data),
            alias=alias,
            tolerance=tolerance,
            force=force,
        )
    return TrainResult(source, metrics, round(seconds, 2), registration)


def train_all(
    data: TrainingData,
    *,
    tracking_uri: str,
    sources: tuple[str, ...] = SOURCES,
    quick: bool = False,
    overrides: dict[str, dict] | None = None,
    alias: str = CHAMPION,
    tolerance: float = DEFAULT_TOLERANCE,
    force: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[TrainResult]:
    from ml.evaluation.split import stratified_split

    split = stratified_split(data)
    results = []
    for source in sources:
        params = default_params(source, quick, (overrides or {}).get(source))
        result = train_source(
            source,
            data,
            split,
            params,
            tracking_uri=tracking_uri,
            alias=alias,
            tolerance=tolerance,
            force=force,
            progress=progress,
        )
        log.info("trained", extra={"source": source, "seconds": result.train_seconds})
        results.append(result)
    return results
