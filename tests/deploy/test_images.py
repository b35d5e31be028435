"""Images: every image the chart references is built by skaffold or a pinned third party;
every Dockerfile skaffold builds exists, is multi-stage, pins its base image and runs
as a numeric non-root user; the build context (.dockerignore) carries what they COPY."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT, obj_id, objects, render
from .test_chart import COMBOS, POD_KINDS, _pod_spec

SKAFFOLD = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
ARTIFACTS = {a["image"]: a for a in SKAFFOLD["build"]["artifacts"]}
# Third-party images the chart may run, each pinned to an explicit version tag.
THIRD_PARTY = {
    "docker.io/library/postgres",
    "docker.io/library/redis",
    "docker.io/grafana/k6",
}
PINNED_TAG = re.compile(r"^v?\d+(\.\d+)+([-.][0-9A-Za-z.]+)*$")


def split_image(image: str) -> tuple[str, str]:
    """('repo', 'tag') of an image reference, tag '' when absent."""
    if "@" in image:
        image = image.split("@", 1)[0]
    head, _, last = image.rpartition("/")
    if ":" in last:
        name, tag = last.split(":", 1)
        return (f"{head}/{name}" if head else name), tag
    return image, ""


def images_in(text: str) -> list[tuple[str, str]]:
    found = []
    for obj in objects(text):
        if obj["kind"] not in POD_KINDS:
            continue
        pod = _pod_spec(obj)
        for c in pod.get("initContainers", []) + pod.get("containers", []):
            found.append((obj_id(obj), c["image"]))
    return found


@pytest.mark.parametrize("combo", ["defaults", "all-optional-on"])
def test_every_image_is_an_artifact_or_pinned_third_party(combo):
    errors, own = [], set()
    for where, image in images_in(render(COMBOS[combo])):
        repo, tag = split_image(image)
        if repo in ARTIFACTS:
            own.add(repo)
            if not tag:
                errors.append(f"{where}: {image} has no tag (chart should default to appVersion)")
        elif repo in THIRD_PARTY:
            if not PINNED_TAG.match(tag):
                errors.append(f"{where}: {image} is not pinned to a version tag")
        else:
            errors.append(f"{where}: {image} is neither a skaffold artifact nor allowed")
    assert not errors, "\n".join(errors)
    if combo == "defaults":
        unused = set(ARTIFACTS) - own
        assert not unused, f"skaffold artifacts the default render does not use: {unused}"


# --- Dockerfiles -------------------------------------------------------------------------


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuations joined and comments dropped."""
    out, buf = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def resolve_args(text: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m[1] or m[2], m[0]), text)


DOCKERFILES = sorted({a["docker"]["dockerfile"] for a in ARTIFACTS.values()})


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfile_multistage_pinned_nonroot(dockerfile):
    path = ROOT / dockerfile
    assert path.exists(), f"{dockerfile} (referenced by skaffold.yaml) does not exist"
    ins = instructions(path)
    args: dict[str, str] = {}
    stages, user_after_last_from = [], None
    for word, rest in ins:
        if word == "ARG" and "=" in rest and not stages:
            key, value = rest.split("=", 1)
            args[key.strip()] = value.strip().strip('"')
        elif word == "FROM":
            stages.append(resolve_args(rest.split()[0], args))
            user_after_last_from = None
        elif word == "USER":
            user_after_last_from = rest
    assert len(stages) >= 2, f"{dockerfile}: not a multi-stage build"
    aliases = {r.split()[-1] for w, r in ins if w == "FROM" and " AS " in r.upper()}
    for base in stages:
        if base in aliases:
            continue
        repo, tag = split_image(base)
        assert tag and tag != "latest" and not tag.startswith("$"), f"{dockerfile}: {base}"
    assert user_after_last_from, f"{dockerfile}: the final stage sets no USER"
    uid = user_after_last_from.split(":")[0]
    assert uid.isdigit() and int(uid) > 0, f"{dockerfile}: USER {user_after_last_from} not numeric"
    assert any(w in ("CMD", "ENTRYPOINT") for w, _ in ins), f"{dockerfile}: no CMD/ENTRYPOINT"


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


def ignored(rel: str, patterns: list[str]) -> bool:
    result = False
    for pat in patterns:
        neg = pat.startswith("!")
        pat = pat.lstrip("!").rstrip("/")
        if (
            fnmatch.fnmatch(rel, pat)
            or fnmatch.fnmatch(rel.split("/")[0], pat)
            or (pat.startswith("**/") and fnmatch.fnmatch(rel.split("/")[-1], pat[3:]))
        ):
            result = not neg
    return result


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_build_context_has_what_dockerfile_copies(dockerfile):
    patterns = dockerignore()
    for word, rest in instructions(ROOT / dockerfile):
        if word not in ("COPY", "ADD") or "--from=" in rest:
            continue
        parts = [p for p in rest.split() if not p.startswith("--")]
        for src in parts[:-1]:
            matches = list(ROOT.glob(src)) if any(ch in src for ch in "*?[") else [ROOT / src]
            assert matches and all(m.exists() for m in matches), f"{dockerfile}: COPY {src}"
            assert not ignored(src.rstrip("/"), patterns), f"{dockerfile}: {src} is dockerignored"


def test_dockerignore_keeps_local_state_out():
    patterns = dockerignore()
    for path in (
        ".git",
        ".venv",
        ".local",
        ".tools",
        "node_modules",
        "mlruns",
        "deploy/helm",
        "deploy/k8s",
        "tests",
    ):
        assert ignored(path, patterns), f"{path} is sent to the Docker daemon"
    for path in ("services", "ml", "pyproject.toml", "README.md"):
        assert not ignored(path, patterns), f"{path} must stay in the build context"
