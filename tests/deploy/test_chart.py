"""The Helm chart, statically: lint, render every flag combination, validate every object.

- `helm lint --strict` with default values and with every optional flag on;
- `helm template` with defaults, each optional flag (every `*.enabled` in values.yaml)
  flipped alone, and all of them on: each render succeeds, names are unique, and
  flipping a flag changes the render;
- every rendered object of a core kind against the Kubernetes OpenAPI schema, strict
  (unknown fields rejected), with kubernetes-validate, for the oldest and newest
  Kubernetes versions we target;
- Istio and Prometheus Operator objects against their CRD schemas (@kubernetes-models,
  deploy/tools/validate_crds.mjs);
- other custom resources (Chaos Mesh, k6 operator) by structure;
- workload hygiene from docs/DESIGN section 11: non-root, read-only root filesystem,
  no privilege escalation, resources, probes on the services.
"""

from __future__ import annotations

import copy
import functools
import json
import re

import kubernetes_validate
import pytest
from kubernetes_validate import utils as kv_utils

from deploy.tools import chart

from .conftest import flag_paths, load_values, obj_id, objects, render, run_node_validator

# The oldest Kubernetes the chart is validated for and the newest kubectl we ship.
KUBE_VERSIONS = ("1.31.0", "1.35.0")
CRD_GROUPS = (
    "networking.istio.io",
    "security.istio.io",
    "telemetry.istio.io",
    "monitoring.coreos.com",
)
STRUCTURAL_GROUPS = ("chaos-mesh.org", "k6.io")

# kubernetes-validate reads and parses its JSON schema files on every call (the
# definitions file is large): cache them, the files never change during a run.
if not hasattr(kv_utils.schema_contents, "cache_info"):
    kv_utils.schema_contents = functools.lru_cache(maxsize=None)(kv_utils.schema_contents)


def _combos() -> dict[str, dict[str, object]]:
    values = load_values()
    flags = flag_paths(values)

    def default(path: str) -> bool:
        node = values
        for part in path.split("."):
            node = node[part]
        return node

    combos: dict[str, dict[str, object]] = {"defaults": {}}
    for flag in flags:
        combos[f"{flag}={str(not default(flag)).lower()}"] = {flag: not default(flag)}
    combos["all-optional-on"] = {flag: True for flag in flags if not default(flag)}
    return combos


COMBOS = _combos()
# The chart's own example values (helm chart-testing layout): ci/<name>-values.yaml.
CI_VALUES = {p.name: p for p in sorted((chart.CHART / "ci").glob("*-values.yaml"))}


def _renders() -> list[tuple[str, str]]:
    out = [(name, render(values)) for name, values in COMBOS.items()]
    return out + [(f"ci/{name}", render({}, (path,))) for name, path in CI_VALUES.items()]


@functools.cache
def _all_objects() -> list[tuple[str, dict]]:
    """(combo, object) for every object of every combo, each distinct object once."""
    seen: set[str] = set()
    out: list[tuple[str, dict]] = []
    for name, text in _renders():
        for obj in objects(text):
            key = json.dumps(obj, sort_keys=True, default=str)
            if key not in seen:
                seen.add(key)
                out.append((name, obj))
    return out


def _group(obj: dict) -> str:
    api = obj.get("apiVersion", "")
    return api.split("/")[0] if "/" in api else ""


# --- lint and render -------------------------------------------------------------------


def test_lint_strict_defaults():
    render({})  # fails with the "make tools" message when helm is missing
    proc = chart.helm("lint", "--strict", str(chart.CHART), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_lint_strict_all_optional_on():
    args = chart._set_args(COMBOS["all-optional-on"])
    proc = chart.helm("lint", "--strict", str(chart.CHART), *args, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", list(CI_VALUES))
def test_lint_strict_ci_values(name):
    proc = chart.helm(
        "lint", "--strict", str(chart.CHART), "--values", str(CI_VALUES[name]), check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_chart_has_values_schema():
    assert (chart.CHART / "values.schema.json").exists(), "values.schema.json is required"


def test_values_schema_rejects_unknown_top_level_key():
    proc = chart.helm(*chart.template_args({"noSuchKey.enabled": True}), check=False)
    assert proc.returncode != 0, "values.schema.json should reject unknown keys"


@pytest.mark.parametrize("combo", list(COMBOS) + [f"ci/{n}" for n in CI_VALUES])
def test_template_renders(combo):
    if combo.startswith("ci/"):
        objs = objects(render({}, (CI_VALUES[combo[3:]],)))
    else:
        objs = objects(render(COMBOS[combo]))
    assert objs, "empty render"
    seen: dict[tuple, str] = {}
    for obj in objs:
        assert obj.get("apiVersion") and obj.get("kind"), f"not an object: {obj}"
        meta = obj.get("metadata") or {}
        assert meta.get("name"), f"{obj_id(obj)} has no name"
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", meta["name"]), obj_id(obj)
        assert len(meta["name"]) <= 253, obj_id(obj)
        key = (obj["apiVersion"].split("/")[0], obj["kind"], meta.get("namespace"), meta["name"])
        assert key not in seen, f"duplicate {obj_id(obj)}"
        seen[key] = obj_id(obj)


@pytest.mark.parametrize("combo", [c for c in COMBOS if c != "defaults"])
def test_flag_changes_render(combo):
    assert render(COMBOS[combo]) != render({}), f"{combo} changes nothing: is it wired?"


EXPECTED_KINDS = {
    "istio.gateway.enabled": "Gateway",
    "istio.virtualService.enabled": "VirtualService",
    "istio.destinationRule.enabled": "DestinationRule",
    "istio.peerAuthentication.enabled": "PeerAuthentication",
    "istio.authorizationPolicy.enabled": "AuthorizationPolicy",
    "serviceMonitor.enabled": "ServiceMonitor",
    "prometheusRule.enabled": "PrometheusRule",
    "networkPolicy.enabled": "NetworkPolicy",
}


@pytest.mark.parametrize("flag,kind", sorted(EXPECTED_KINDS.items()))
def test_optional_kinds_only_when_flagged(flag, kind):
    assert kind not in {o["kind"] for o in objects(render({}))}, f"{kind} on by default"
    assert kind in {o["kind"] for o in objects(render({flag: True}))}, f"{flag} renders no {kind}"


def _workload_names(values: dict) -> list[str]:
    return [o["metadata"]["name"] for o in objects(render(values)) if o["kind"] in POD_KINDS]


@pytest.mark.parametrize(
    "flag,words",
    [
        ("redis.enabled", ("redis",)),
        ("postgresql.enabled", ("postgres",)),
        ("loadTest.enabled", ("k6", "load")),
    ],
)
def test_in_chart_databases_and_load_test_are_flagged(flag, words):
    def match(names):
        return [n for n in names if any(w in n for w in words)]

    assert not match(_workload_names({})), f"{flag} workload rendered by default"
    assert match(_workload_names({flag: True})), f"{flag} renders no {words} workload"


# --- schema validation -----------------------------------------------------------------


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_core_objects_match_kubernetes_openapi_strict(kube_version):
    errors: list[str] = []
    checked = 0
    for combo, obj in _all_objects():
        group = _group(obj)
        if group in CRD_GROUPS or group in STRUCTURAL_GROUPS:
            continue
        try:
            kubernetes_validate.validate(obj, kube_version, strict=True)
            checked += 1
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(f"[{combo}] {obj_id(obj)}: {exc.message} (unknown kind)")
        except kubernetes_validate.ValidationError as exc:
            path = "/".join(str(p) for p in exc.path)
            errors.append(f"[{combo}] {obj_id(obj)} at /{path}: {exc.message}")
    assert not errors, f"{len(errors)} invalid objects:\n" + "\n".join(errors)
    assert checked > 10


def test_openapi_validation_rejects_unknown_and_mistyped_fields():
    deployment = next(o for o in objects(render({})) if o["kind"] == "Deployment")
    bad = copy.deepcopy(deployment)
    bad["spec"]["template"]["spec"]["containers"][0]["imagePullPolize"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBE_VERSIONS[0], strict=True)
    bad = copy.deepcopy(deployment)
    bad["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBE_VERSIONS[0], strict=True)


def test_crd_validator_rejects_mistyped_fields():
    results = run_node_validator(
        [
            {
                "apiVersion": "networking.istio.io/v1beta1",
                "kind": "VirtualService",
                "metadata": {"name": "x"},
                "spec": {"hosts": "gateway"},
            },
            {
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "ServiceMonitor",
                "metadata": {"name": "x"},
                "spec": {"selector": {}, "endpoints": [{"interval": 30}]},
            },
            {"apiVersion": "example.com/v1", "kind": "Nothing", "metadata": {"name": "x"}},
        ]
    )
    assert [r["ok"] for r in results] == [False, False, False]
    assert [r["supported"] for r in results] == [True, True, False]


def test_crd_objects_match_their_schemas():
    crds = [(combo, obj) for combo, obj in _all_objects() if _group(obj) in CRD_GROUPS]
    assert crds, "no Istio / Prometheus Operator objects in any combination"
    results = run_node_validator([obj for _, obj in crds])
    errors = [
        f"[{crds[r['index']][0]}] {r['apiVersion']}/{r['kind']}/{r['name']}: {r['error']}"
        for r in results
        if not r["ok"]
    ]
    assert not errors, "\n".join(errors)
    kinds = {r["kind"] for r in results}
    assert {"ServiceMonitor", "PrometheusRule", "VirtualService"} <= kinds, kinds


CHAOS_KINDS = {
    "PodChaos": {"pod-failure", "pod-kill", "container-kill"},
    "NetworkChaos": {"netem", "delay", "loss", "duplicate", "corrupt", "partition", "bandwidth"},
    "StressChaos": None,
    "IOChaos": None,
    "TimeChaos": None,
    "HTTPChaos": None,
    "DNSChaos": {"error", "random"},
    "Schedule": None,
    "Workflow": None,
}
CHAOS_MODES = {"one", "all", "fixed", "fixed-percent", "random-max-percent"}
DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")


def check_structural(obj: dict) -> list[str]:
    """Chaos Mesh and k6-operator objects: no schema package here, so check the shape."""
    errs: list[str] = []
    kind, spec = obj.get("kind"), obj.get("spec")
    if not isinstance(spec, dict):
        return ["no spec"]
    if _group(obj) == "chaos-mesh.org":
        if obj["apiVersion"] != "chaos-mesh.org/v1alpha1":
            errs.append(f"apiVersion {obj['apiVersion']}")
        if kind not in CHAOS_KINDS:
            return errs + [f"unknown Chaos Mesh kind {kind}"]
        if kind in ("Schedule", "Workflow"):
            return errs
        actions = CHAOS_KINDS[kind]
        if actions is not None and spec.get("action") not in actions:
            errs.append(f"spec.action {spec.get('action')!r} not in {sorted(actions)}")
        if spec.get("mode") not in CHAOS_MODES:
            errs.append(f"spec.mode {spec.get('mode')!r} not in {sorted(CHAOS_MODES)}")
        if spec.get("mode") in ("fixed", "fixed-percent", "random-max-percent") and (
            "value" not in spec
        ):
            errs.append("spec.value required for this mode")
        selector = spec.get("selector")
        if not isinstance(selector, dict) or not (
            selector.get("labelSelectors") or selector.get("namespaces") or selector.get("pods")
        ):
            errs.append("spec.selector must select pods (labelSelectors/namespaces/pods)")
        if "duration" in spec and not DURATION.match(str(spec["duration"])):
            errs.append(f"spec.duration {spec['duration']!r} is not a Go duration")
    elif _group(obj) == "k6.io":
        if kind not in ("TestRun", "K6", "PrivateLoadZone"):
            errs.append(f"unknown k6 kind {kind}")
        if kind in ("TestRun", "K6"):
            if not isinstance(spec.get("parallelism"), int) or spec["parallelism"] < 1:
                errs.append("spec.parallelism must be a positive integer")
            script = spec.get("script") or {}
            if not (
                script.get("configMap") or script.get("volumeClaim") or script.get("localFile")
            ):
                errs.append("spec.script needs configMap, volumeClaim or localFile")
            cm = script.get("configMap") or {}
            if script.get("configMap") and not (cm.get("name") and cm.get("file")):
                errs.append("spec.script.configMap needs name and file")
    return errs


def test_other_custom_resources_by_structure():
    errors = []
    for combo, obj in _all_objects():
        if _group(obj) in STRUCTURAL_GROUPS:
            errors += [f"[{combo}] {obj_id(obj)}: {e}" for e in check_structural(obj)]
    assert not errors, "\n".join(errors)


def test_structural_checker_catches_mistakes():
    bad = {
        "apiVersion": "chaos-mesh.org/v1alpha1",
        "kind": "PodChaos",
        "metadata": {"name": "x"},
        "spec": {"action": "pod-kil", "mode": "fixed", "selector": {}, "duration": "5 m"},
    }
    assert len(check_structural(bad)) == 4
    good = {
        "apiVersion": "chaos-mesh.org/v1alpha1",
        "kind": "PodChaos",
        "metadata": {"name": "x"},
        "spec": {
            "action": "pod-kill",
            "mode": "one",
            "duration": "30s",
            "selector": {"labelSelectors": {"app": "x"}},
        },
    }
    assert check_structural(good) == []


# --- workload hygiene ------------------------------------------------------------------

POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}


def _pod_spec(obj: dict) -> dict:
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def _own_image(image: str) -> bool:
    return image.split("/")[-1].startswith("recsys-")


def test_own_workloads_are_hardened():
    errors = []
    for combo, obj in _all_objects():
        if obj["kind"] not in POD_KINDS:
            continue
        pod = _pod_spec(obj)
        pod_sc = pod.get("securityContext") or {}
        for c in pod.get("initContainers", []) + pod.get("containers", []):
            if not _own_image(c["image"]):
                continue
            where = f"[{combo}] {obj_id(obj)} container {c['name']}"
            sc = {**pod_sc, **(c.get("securityContext") or {})}
            if sc.get("runAsNonRoot") is not True:
                errors.append(f"{where}: runAsNonRoot is not true")
            if sc.get("readOnlyRootFilesystem") is not True:
                errors.append(f"{where}: readOnlyRootFilesystem is not true")
            if sc.get("allowPrivilegeEscalation") is not False:
                errors.append(f"{where}: allowPrivilegeEscalation is not false")
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                errors.append(f"{where}: capabilities.drop lacks ALL")
            res = c.get("resources") or {}
            if not (res.get("requests") and res.get("limits")):
                errors.append(f"{where}: resources.requests and .limits are required")
            if obj["kind"] in ("Deployment", "StatefulSet"):
                for probe in ("readinessProbe", "livenessProbe"):
                    if probe not in c:
                        errors.append(f"{where}: no {probe}")
    assert not errors, "\n".join(errors)


def test_services_have_hpa_pdb_serviceaccount():
    objs = objects(render({}))
    by_kind: dict[str, set[str]] = {}
    for o in objs:
        by_kind.setdefault(o["kind"], set()).add(o["metadata"]["name"])
    values = load_values()
    for svc, cfg in values["services"].items():
        deployments = [n for n in by_kind.get("Deployment", ()) if n.endswith(svc)]
        assert deployments, f"no Deployment for {svc}"
        if cfg.get("autoscaling", {}).get("enabled"):
            assert any(n.endswith(svc) for n in by_kind.get("HorizontalPodAutoscaler", ())), svc
        if cfg.get("pdb", {}).get("enabled"):
            assert any(n.endswith(svc) for n in by_kind.get("PodDisruptionBudget", ())), svc
        assert any(n.endswith(svc) for n in by_kind.get("ServiceAccount", ())), svc
        assert any(n.endswith(svc) for n in by_kind.get("Service", ())), svc
