"""Logging a trained bundle to MLflow, registering it, and moving its alias.

The champion rule (docs/model-registry.md): a new version takes `champion` only
when it is not worse than the current champion on the guard metrics of the offline
evaluation (nDCG@10 and recall@10 on the run's 75/25 holdout), within a relative
tolerance for run-to-run noise. `--alias challenger` always moves `challenger`
(a candidate for an experiment); `--force` moves `champion` regardless.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from services.common.models.registry import (
    CHALLENGER,
    CHAMPION,
    Registry,
    registered_name,
)

log = logging.getLogger(__name__)

EXPERIMENT = "recsys-training"
GUARD_METRICS = ("ndcg@10", "recall@10")
DEFAULT_TOLERANCE = 0.01


@dataclass(frozen=True)
class Registration:
    source: str
    name: str
    version: str
    run_id: str
    aliases: tuple[str, ...]  # aliases this version holds after the run
    decision: str  # why `champion` moved or not


def mlflow_key(metric: str) -> str:
    """MLflow metric names cannot hold '@': precision@10 -> precision_at_10."""
    return metric.replace("@", "_at_")


def should_promote(
    candidate: dict[str, float], champion: dict[str, float] | None, tolerance: float
) -> tuple[bool, str]:
    if champion is None:
        return True, "no champion yet"
    for metric in GUARD_METRICS:
        new, old = candidate.get(metric), champion.get(metric)
        if old is None:
            continue
        if new is None or new < old * (1.0 - tolerance):
            return False, f"{metric} {new} < champion {old:.4f} (tolerance {tolerance:.0%})"
    return True, "not worse than champion on " + ", ".join(GUARD_METRICS)


def register(
    source: str,
    bundle_dir: Path,
    *,
    tracking_uri: str,
    params: dict,
    metrics: dict[str, float],
    tags: dict[str, str],
    alias: str = CHAMPION,
    tolerance: float = DEFAULT_TOLERANCE,
    force: bool = False,
) -> Registration:
    import mlflow

    from ml.training.pyfunc import BundleModel

    name = registered_name(source)
    with _tracking(tracking_uri), mlflow.start_run(run_name=source) as run:
        mlflow.log_params(_flat(params))
        mlflow.log_metrics({mlflow_key(k): float(v) for k, v in metrics.items()})
        mlflow.set_tags({"source": source, **tags})
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=BundleModel(source),
            artifacts={"bundle": str(bundle_dir)},
            pip_requirements=_requirements(),
            registered_model_name=name,
            metadata={"source": source},
            signature=_signature(),
        )
    version = str(info.registered_model_version)
    registry = Registry(tracking_uri)
    client = registry.client
    if alias == CHALLENGER:
        client.set_registered_model_alias(name, CHALLENGER, version)
        decision = "registered as challenger"
    else:
        current = registry.resolve(source, CHAMPION)
        champion_metrics = _metrics_of(client, current.run_id) if current else None
        promote, decision = should_promote(metrics, champion_metrics, tolerance)
        if force and not promote:
            promote, decision = True, f"forced ({decision})"
        if promote:
            client.set_registered_model_alias(name, CHAMPION, version)
        client.set_model_version_tag(name, version, "promotion", decision)
    held = tuple(client.get_model_version(name, version).aliases)
    log.info("registered", extra={"model": name, "version": version, "decision": decision})
    return Registration(source, name, version, run.info.run_id, held, decision)


@contextmanager
def _tracking(uri: str):
    """Point mlflow's fluent API at `uri` for one registration. mlflow.set_tracking_uri
    also exports MLFLOW_TRACKING_URI into os.environ, which would leak into anything
    configured from the environment later in the process: restore it afterwards."""
    import mlflow

    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment(EXPERIMENT)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _metrics_of(client, run_id: str | None) -> dict[str, float] | None:
    if not run_id:
        return None
    logged = client.get_run(run_id).data.metrics
    return {m: logged[mlflow_key(m)] for m in GUARD_METRICS if mlflow_key(m) in logged}


def _flat(params: dict, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in params.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = str(v)[:500]
    return out


def _signature():
    import pandas as pd
    from mlflow.models import infer_signature

    # predict(DataFrame[product_id], params={"k": ...}): see ml/training/pyfunc.py
    return infer_signature(pd.DataFrame({"product_id": ["B000000000"]}), params={"k": 10})


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{p}=={version(p)}" for p in ("mlflow", "numpy", "scipy", "pandas")]
