"""What the chart runs must exist in the images it runs it in.

The chart and the Dockerfiles are written apart; these checks tie them together:
the commands of the batch Jobs/CronJobs exist in the jobs image (ml/Dockerfile installs
`.[ml]`, entrypoint `recsys`), the paths and ports agree, and MLflow accepts the Host
header in-cluster clients send (MLflow >= 3.5 rejects unknown Host names)."""

from __future__ import annotations

import fnmatch
import tomllib

from .conftest import ROOT, load_values, obj_id, objects, render
from .test_chart import COMBOS, POD_KINDS, _pod_spec
from .test_images import instructions, split_image


def _containers(text: str):
    for obj in objects(text):
        if obj["kind"] in POD_KINDS:
            pod = _pod_spec(obj)
            for c in pod.get("initContainers", []) + pod.get("containers", []):
                yield obj, c


def _cli_commands() -> set[str]:
    from ml import cli

    names = set()
    for cmd in cli.app.registered_commands:
        names.add(cmd.name or cmd.callback.__name__.replace("_", "-"))
    return names


def _ml_extra() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["optional-dependencies"]["ml"]
    return {d.split("[")[0].split("=")[0].split("<")[0].split(">")[0].strip() for d in deps}


def _missing_commands(objects) -> list[str]:
    commands, extra = _cli_commands(), _ml_extra()
    errors = []
    for obj, c in _containers(objects):
        if split_image(c["image"])[0] != "recsys-jobs":
            continue
        argv = list(c.get("command") or ["recsys"]) + list(c.get("args") or [])
        where = f"{obj_id(obj)}: {' '.join(argv)}"
        if argv[0] == "recsys":
            sub = next((a for a in argv[1:] if not a.startswith("-")), None)
            if sub not in commands:
                errors.append(f"{where}: `recsys {sub}` is not a command of ml/cli.py")
        elif argv[0] == "feast":
            if "feast" not in extra:
                errors.append(f"{where}: feast is not installed by the `ml` extra")
        else:
            errors.append(f"{where}: {argv[0]} is not in the jobs image")
    return errors


def test_jobs_image_has_every_command_the_default_chart_runs():
    errors = _missing_commands(render(COMBOS["defaults"]))
    assert not errors, "\n".join(errors)


# Jobs whose commands arrive with later issues. They render, and stay off by default
# until the jobs image has their command; then drop them from this set.
PENDING_JOBS: set[str] = set()


def test_only_pending_jobs_lack_their_command():
    errors = _missing_commands(render(COMBOS["all-optional-on"]))
    unexpected = [e for e in errors if e.split(":")[0].rsplit("/", 1)[-1] not in PENDING_JOBS]
    assert not unexpected, "\n".join(unexpected)


def test_feast_repo_path_is_where_the_jobs_image_puts_it():
    env = dict(
        rest.split("=", 1)
        for word, line in instructions(ROOT / "ml" / "Dockerfile")
        if word == "ENV"
        for rest in line.split()
        if "=" in rest
    )
    assert load_values()["feast"]["repoPath"] == env["FEAST_REPO_PATH"]


def test_service_ports_match_the_images():
    for obj, c in _containers(render({})):
        repo = split_image(c["image"])[0]
        if not repo.startswith("recsys-") or repo in ("recsys-jobs", "recsys-mlflow"):
            continue
        env = {e["name"]: e.get("value") for e in c.get("env", [])}
        port = int(env.get("PORT") or 8080)  # the service Dockerfiles set PORT=8080
        ports = [p["containerPort"] for p in c.get("ports", [])]
        assert port in ports, f"{obj_id(obj)} listens on {port}, declares {ports}"


def test_mlflow_accepts_in_cluster_host_header():
    objs = objects(render({}))
    services = [o for o in objs if o["kind"] == "Service" and "mlflow" in o["metadata"]["name"]]
    assert services, "no mlflow Service"
    name = services[0]["metadata"]["name"]
    port = services[0]["spec"]["ports"][0]["port"]
    for obj, c in _containers(render({})):
        if split_image(c["image"])[0] != "recsys-mlflow":
            continue
        env = {e["name"]: e.get("value") for e in c.get("env", [])}
        allowed = [h.strip() for h in (env.get("MLFLOW_SERVER_ALLOWED_HOSTS") or "").split(",")]
        host = f"{name}:{port}"
        ok = "*" in allowed or any(
            fnmatch.fnmatch(host, pat) if "*" in pat else host == pat for pat in allowed if pat
        )
        assert ok, (
            f"{obj_id(obj)}: MLflow rejects Host {host!r} (set MLFLOW_SERVER_ALLOWED_HOSTS "
            "to the Service name and FQDN, with ':*', plus localhost and private IPs)"
        )
