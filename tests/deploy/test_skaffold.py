"""skaffold.yaml against the chart: one artifact per service (+ jobs, mlflow), every
image mapped into the chart's values, profiles that set only real values and render.

There is no skaffold binary here; each profile is applied the way skaffold does (its
JSON patches, then setValueTemplates with fake IMAGE_REPO_/IMAGE_TAG_ values) and the
result is rendered with helm and validated like any other combination."""

from __future__ import annotations

import copy
import glob
import re

import kubernetes_validate
import pytest
import yaml

from .conftest import ROOT, load_values, obj_id, objects, render, run_node_validator
from .test_chart import CRD_GROUPS, STRUCTURAL_GROUPS, _group, check_structural
from .test_images import split_image

CONFIG = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
SERVICES = sorted(p.parent.name for p in (ROOT / "services").glob("*/Dockerfile"))
PROFILES = {p["name"]: p for p in CONFIG.get("profiles", [])}
KNOWN_TOP = {
    "apiVersion",
    "kind",
    "metadata",
    "requires",
    "build",
    "test",
    "manifests",
    "deploy",
    "portForward",
    "resourceSelector",
    "verify",
    "customActions",
    "profiles",
}
KNOWN_RELEASE = {
    "name",
    "chartPath",
    "remoteChart",
    "valuesFiles",
    "namespace",
    "version",
    "setValues",
    "setValueTemplates",
    "setFiles",
    "createNamespace",
    "wait",
    "recreatePods",
    "skipBuildDependencies",
    "skipTests",
    "useHelmSecrets",
    "repo",
    "upgradeOnChange",
    "overrides",
    "packaged",
    "dependsOn",
}
REGISTRY = "registry.example.test/shop"


def artifact_var(image: str) -> str:
    """The suffix skaffold gives IMAGE_REPO_/IMAGE_TAG_ for an artifact."""
    return re.sub(r"[^A-Za-z0-9]", "_", image)


def value_exists(values: dict, dotted: str) -> bool:
    node = values
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def value_at(values: dict, dotted: str):
    node = values
    for part in dotted.split("."):
        node = node[part]
    return node


def release(config: dict) -> dict:
    return config["deploy"]["helm"]["releases"][0]


def apply_patch(config: dict, op: dict) -> None:
    """RFC 6902 add/replace/remove, enough for skaffold profile patches."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
    node = config
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    if op["op"] in ("add", "replace"):
        if isinstance(node, list):
            node.insert(len(node) if last == "-" else int(last), op["value"])
        else:
            if op["op"] == "replace":
                assert last in node, op
            node[last] = op["value"]
    elif op["op"] == "remove":
        del node[int(last) if isinstance(node, list) else last]
    else:
        raise AssertionError(f"unsupported patch op {op}")


def with_profiles(names: list[str]) -> dict:
    config = copy.deepcopy(CONFIG)
    for name in names:
        profile = PROFILES[name]
        for op in profile.get("patches", []):
            apply_patch(config, op)
        assert set(profile) <= {"name", "patches", "activation", "requiresAllActivations"}, (
            f"profile {name}: only patches are used here, so profiles combine"
        )
    return config


def helm_values(config: dict) -> dict[str, object]:
    rel = release(config)
    values: dict[str, object] = dict(rel.get("setValues") or {})
    for key, template in (rel.get("setValueTemplates") or {}).items():
        m = re.fullmatch(r"\{\{\.IMAGE_(REPO|TAG)_(\w+)\}\}", template)
        assert m, f"{key}: unexpected template {template}"
        values[key] = f"{REGISTRY}/{m[2]}" if m[1] == "REPO" else "0.0.0-test"
    return values


# --- the file itself ---------------------------------------------------------------------


def test_schema_version_and_shape():
    assert re.fullmatch(r"skaffold/v4beta1[1-9]", CONFIG["apiVersion"]), CONFIG["apiVersion"]
    assert CONFIG["kind"] == "Config"
    assert set(CONFIG) <= KNOWN_TOP, set(CONFIG) - KNOWN_TOP
    rels = CONFIG["deploy"]["helm"]["releases"]
    assert len(rels) == 1 and set(rels[0]) <= KNOWN_RELEASE, set(rels[0]) - KNOWN_RELEASE
    assert (ROOT / rels[0]["chartPath"] / "Chart.yaml").exists()


def test_one_artifact_per_service_plus_jobs_and_mlflow():
    dockerfiles = {a["docker"]["dockerfile"]: a for a in CONFIG["build"]["artifacts"]}
    images = [a["image"] for a in CONFIG["build"]["artifacts"]]
    assert len(images) == len(set(images)), "duplicate artifact"
    for svc in SERVICES:
        assert f"services/{svc}/Dockerfile" in dockerfiles, f"no artifact builds {svc}"
    assert "ml/Dockerfile" in dockerfiles and "deploy/mlflow/Dockerfile" in dockerfiles
    assert len(images) == len(SERVICES) + 2
    for art in CONFIG["build"]["artifacts"]:
        assert art.get("context", ".") == ".", f"{art['image']}: context must be the repo root"
        assert (ROOT / art["docker"]["dockerfile"]).exists(), art["docker"]["dockerfile"]


def test_every_artifact_maps_to_chart_values():
    values = load_values()
    templates = release(CONFIG)["setValueTemplates"]
    for art in CONFIG["build"]["artifacts"]:
        var = artifact_var(art["image"])
        repo_keys = [k for k, v in templates.items() if v == f"{{{{.IMAGE_REPO_{var}}}}}"]
        tag_keys = [k for k, v in templates.items() if v == f"{{{{.IMAGE_TAG_{var}}}}}"]
        assert len(repo_keys) == 1 and len(tag_keys) == 1, f"{art['image']}: {repo_keys} {tag_keys}"
        assert repo_keys[0].endswith(".repository") and tag_keys[0].endswith(".tag")
        assert repo_keys[0].rsplit(".", 1)[0] == tag_keys[0].rsplit(".", 1)[0]
        for key in repo_keys + tag_keys:
            assert value_exists(values, key), f"{key} is not in values.yaml"
        # Without skaffold the chart's default repository is the artifact's own name.
        assert value_at(values, repo_keys[0]) == art["image"], repo_keys[0]
    for key in templates:
        assert value_exists(values, key), f"setValueTemplates {key} is not in values.yaml"


def test_profiles_exist_and_set_real_values():
    assert {"dev", "istio", "observability", "chaos"} <= set(PROFILES)
    values = load_values()
    for name in PROFILES:
        config = with_profiles([name])
        for key in release(config).get("setValues") or {}:
            assert value_exists(values, key), f"profile {name}: {key} is not in values.yaml"


def test_profile_raw_manifests_exist_and_are_valid():
    for name in PROFILES:
        config = with_profiles([name])
        for pattern in (config.get("manifests") or {}).get("rawYaml", []):
            files = sorted(glob.glob(str(ROOT / pattern)))
            assert files, f"profile {name}: rawYaml {pattern} matches no file"
            for path in files:
                for obj in yaml.safe_load_all(open(path)):
                    if not obj:
                        continue
                    where = f"{path}: {obj_id(obj)}"
                    if _group(obj) in STRUCTURAL_GROUPS:
                        assert not check_structural(obj), (where, check_structural(obj))
                    elif _group(obj) in CRD_GROUPS:
                        result = run_node_validator([obj])[0]
                        assert result["ok"], (where, result["error"])
                    else:
                        kubernetes_validate.validate(obj, "1.31.0", strict=True)


# --- rendered with each profile -------------------------------------------------------------


PROFILE_SETS = [[n] for n in ("dev", "istio", "observability", "chaos")] + [
    ["dev", "istio", "observability", "chaos"]
]


@pytest.mark.parametrize("names", PROFILE_SETS, ids=lambda n: "+".join(n))
def test_profile_renders_with_built_images(names):
    missing = [n for n in names if n not in PROFILES]
    assert not missing, f"profiles missing from skaffold.yaml: {missing}"
    objs = objects(render(helm_values(with_profiles(names))))
    artifacts = {a["image"] for a in CONFIG["build"]["artifacts"]}
    built = set()
    for obj in objs:
        if obj["kind"] not in ("Deployment", "StatefulSet", "Job", "CronJob"):
            continue
        spec = obj["spec"]
        if obj["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        for c in (
            spec["template"]["spec"].get("initContainers", [])
            + spec["template"]["spec"]["containers"]
        ):
            repo, tag = split_image(c["image"])
            if repo.startswith(REGISTRY):
                assert tag == "0.0.0-test", c["image"]
                built.add(repo.rsplit("/", 1)[1])
            else:
                assert repo.split("/")[-1] not in artifacts, (
                    f"{obj_id(obj)} uses {c['image']}: not the image skaffold built"
                )
    assert built == {artifact_var(a) for a in artifacts}, built
