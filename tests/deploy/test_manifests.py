"""deploy/k8s holds the chart rendered with default values; CI fails when it drifts."""

from __future__ import annotations

import difflib
import subprocess

import yaml

from deploy.tools import chart

from .conftest import obj_id, objects, render, require_tool


def test_committed_manifests_match_a_fresh_render():
    render({})  # fails with the "make tools" message when helm is missing
    assert chart.MANIFEST.exists(), "deploy/k8s/recsys.yaml is missing: run `make manifests`"
    committed = chart.MANIFEST.read_text()
    fresh = chart.default_manifests()
    if committed != fresh:
        diff = "".join(
            list(
                difflib.unified_diff(
                    committed.splitlines(keepends=True),
                    fresh.splitlines(keepends=True),
                    "committed",
                    "rendered",
                )
            )[:80]
        )
        raise AssertionError(f"deploy/k8s/recsys.yaml drifted: run `make manifests`\n{diff}")


def test_kustomization_builds_the_same_objects():
    kubectl = require_tool("kubectl")
    kust = yaml.safe_load((chart.K8S_DIR / "kustomization.yaml").read_text())
    assert kust["resources"] == ["recsys.yaml"]
    assert kust.get("namespace") == chart.NAMESPACE
    proc = subprocess.run(
        [str(kubectl), "kustomize", str(chart.K8S_DIR)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    built = objects(proc.stdout)
    committed = objects(chart.MANIFEST.read_text())
    assert sorted(map(obj_id, built)) == sorted(map(obj_id, committed))
    for obj in built:
        if obj["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            assert obj["metadata"].get("namespace") == chart.NAMESPACE, obj_id(obj)


def test_manifests_check_command_agrees():
    assert chart.main(["manifests", "--check"]) == 0
