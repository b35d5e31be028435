"""The MLflow model registry as serving sees it: resolve an alias, fetch a version.

One registered model per candidate source, named `recsys-<source>`; serving loads
`models:/<name>@champion` (and `@challenger` when set). The bundle's files are in the
logged model's `artifacts/bundle/` folder (see ml/training/registry.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SOURCES = ("als", "two_tower", "content_embeddings", "association_rules")
CHAMPION = "champion"
CHALLENGER = "challenger"
ALIASES = (CHAMPION, CHALLENGER)
BUNDLE_DIR = "bundle"


def registered_name(source: str) -> str:
    return "recsys-" + source.replace("_", "-")


@dataclass(frozen=True)
class VersionRef:
    source: str
    name: str
    alias: str
    version: str
    run_id: str | None
    created_at: float = 0.0  # unix seconds the version was registered (trained)

    @property
    def label(self) -> str:
        """What responses and readiness show: `recsys-als/3`."""
        return f"{self.name}/{self.version}"


class Registry:
    """A thin, synchronous MLflow client (call it from a worker thread)."""

    def __init__(self, tracking_uri: str) -> None:
        from mlflow import MlflowClient

        self.tracking_uri = tracking_uri
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def resolve(self, source: str, alias: str) -> VersionRef | None:
        """The version an alias points at; None when the model or alias does not exist."""
        from mlflow.exceptions import MlflowException

        name = registered_name(source)
        try:
            mv = self.client.get_model_version_by_alias(name, alias)
        except MlflowException as exc:
            if _not_found(exc):
                return None
            raise
        created = (mv.creation_timestamp or 0) / 1000.0
        return VersionRef(source, name, alias, str(mv.version), mv.run_id, created)

    def download(self, ref: VersionRef, dst: Path) -> Path:
        """Fetch a version's files; returns its bundle folder."""
        import mlflow

        dst.mkdir(parents=True, exist_ok=True)
        root = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{ref.name}/{ref.version}",
            dst_path=str(dst),
            tracking_uri=self.tracking_uri,
            registry_uri=self.tracking_uri,
        )
        return Path(root) / "artifacts" / BUNDLE_DIR


def _not_found(exc: Exception) -> bool:
    code = getattr(exc, "error_code", "")
    return (
        code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")
        or "not found" in str(exc).lower()
    )
