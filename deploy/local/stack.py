"""Local mode: the whole platform on one machine, one command (`make up` / `make down`).

`up` starts Postgres and Redis (the URLs in DATABASE_URL / REDIS_URL when set,
embedded servers otherwise) and an MLflow server (sqlite registry, local artifacts),
applies migrations, loads the demo data once, trains quick models when the registry
has no champion yet, starts the five services as separate processes and returns
when every one is ready.
State (embedded data, logs, pids) lives under `.local/`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
STATE_DIR = Path(os.environ.get("RECSYS_STATE_DIR", ROOT / ".local"))


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    port: int


# Start order: leaves first, so the gateway's readiness sees its downstreams.
SERVICES = (
    ServiceSpec("feature-serving", "services.feature_serving", 8002),
    ServiceSpec("ranking", "services.ranking", 8004),
    ServiceSpec("candidate-gen", "services.candidate_gen", 8003),
    ServiceSpec("event-ingest", "services.event_ingest", 8001),
    ServiceSpec("gateway", "services.gateway", 8000),
)
URL_SETTINGS = {
    "event-ingest": "EVENT_INGEST_URL",
    "feature-serving": "FEATURE_SERVING_URL",
    "candidate-gen": "CANDIDATE_GEN_URL",
    "ranking": "RANKING_URL",
}


def service_env(base: dict[str, str], ports: dict[str, int]) -> dict[str, str]:
    """Environment for the service processes: infra URLs plus each peer's URL."""
    env = {**os.environ, **base, "PYTHONUNBUFFERED": "1"}
    # One BLAS thread per service process: single-query vector search on a shared box
    # is several times slower with a BLAS thread pool (docs/benchmarks/ann.md).
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    for name, var in URL_SETTINGS.items():
        env[var] = f"http://127.0.0.1:{ports[name]}"
    return env


def start_services(
    env: dict[str, str], ports: dict[str, int], run_dir: Path
) -> dict[str, subprocess.Popen]:
    """Start every service as its own process (own session: a Ctrl-C in the shell
    that ran `make up` does not reach them). Logs and pids go to run_dir."""
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    (run_dir / "pids").mkdir(parents=True, exist_ok=True)
    procs = {}
    for spec in SERVICES:
        log = open(run_dir / "logs" / f"{spec.name}.log", "ab")  # noqa: SIM115 - owned by child
        proc = subprocess.Popen(
            [sys.executable, "-m", spec.module],
            env={**env, "PORT": str(ports[spec.name])},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
        (run_dir / "pids" / f"{spec.name}.pid").write_text(str(proc.pid))
        procs[spec.name] = proc
    return procs


def wait_ready(ports: dict[str, int], timeout: float = 180.0, procs=None) -> None:
    deadline = time.monotonic() + timeout
    pending = dict(ports)
    with httpx.Client(timeout=2.0) as client:
        while pending:
            for name, port in list(pending.items()):
                if procs and procs[name].poll() is not None:
                    raise RuntimeError(f"{name} exited with code {procs[name].returncode}")
                try:
                    if client.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                        del pending[name]
                        print(f"  ready: {name} on :{port}", flush=True)
                except httpx.HTTPError:
                    pass
            if pending and time.monotonic() > deadline:
                raise TimeoutError(f"not ready after {timeout:.0f}s: {', '.join(pending)}")
            time.sleep(0.3)


def stop_pids(run_dir: Path, grace: float = 10.0) -> None:
    """SIGTERM every recorded service (graceful drain), SIGKILL after `grace`."""
    pids = {}
    for pidfile in sorted((run_dir / "pids").glob("*.pid")):
        try:
            pid = int(pidfile.read_text())
            # Each child leads its own session: signal the group (MLflow's workers too).
            os.killpg(pid, signal.SIGTERM)
            pids[pidfile] = pid
        except (ValueError, ProcessLookupError):
            pidfile.unlink(missing_ok=True)
    deadline = time.monotonic() + grace
    for pidfile, pid in pids.items():
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        pidfile.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of ours counts as gone
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


MLFLOW_PORT = int(os.environ.get("MLFLOW_PORT", "5000"))


def start_mlflow(state_dir: Path, port: int = MLFLOW_PORT) -> str:
    """An MLflow tracking server and model registry: sqlite backend store, artifacts
    served from state_dir/mlflow/artifacts. Returns its URL once it answers."""
    url = f"http://127.0.0.1:{port}"
    if _mlflow_healthy(url):
        return url
    home = state_dir / "mlflow"
    (home / "artifacts").mkdir(parents=True, exist_ok=True)
    (state_dir / "logs").mkdir(parents=True, exist_ok=True)
    (state_dir / "pids").mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}"]
    cmd += ["--artifacts-destination", str(home / "artifacts"), "--workers", "1"]
    log = open(state_dir / "logs" / "mlflow.log", "ab")  # noqa: SIM115 - owned by child
    # The registry and tracking only: MLflow's job runner (GenAI evaluation jobs) would
    # add a handful of ~300 MB worker processes and ~30 s of startup.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env, start_new_session=True
    )
    (state_dir / "pids" / "mlflow.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + 120
    while not _mlflow_healthy(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"MLflow did not start; see {state_dir / 'logs' / 'mlflow.log'}")
        time.sleep(0.5)
    return url


def _mlflow_healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def ensure_models(env: dict[str, str]) -> None:
    """First run: train quick models for every source without a champion, so the
    stack serves learned results out of the box (later runs reuse the registry)."""
    from services.common.models.registry import CHAMPION, SOURCES, Registry

    registry = Registry(env["MLFLOW_TRACKING_URI"])
    missing = [s for s in SOURCES if registry.resolve(s, CHAMPION) is None]
    if missing:
        print(f"training quick models: {', '.join(missing)} ...", flush=True)
        _run(["train", "--quick", *(a for s in missing for a in ("--source", s))], env)


def infra_env() -> dict[str, str]:
    """DATABASE_URL / REDIS_URL / REDIS_PREFIX of the running local stack."""
    return json.loads((STATE_DIR / "stack.json").read_text())


def prepare_feature_store(env: dict[str, str]) -> None:
    """`feast apply`, then incremental materialisation (only new days after the first
    run) and the trending push: feature-serving reads the online store."""
    _run(["feast-apply"], env)
    _run(["materialize"], env)


def _run(args: list[str], env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "ml.cli", *args], env=env, cwd=ROOT, check=True)


def up() -> None:
    from deploy.local.infra import ensure_postgres, ensure_redis

    STATE_DIR.mkdir(parents=True, exist_ok=True)
    ports = {s.name: s.port for s in SERVICES}
    if _all_ready(ports):
        print("stack already running")
        _print_examples()
        return
    stop_pids(STATE_DIR)  # leftovers of a crashed run
    print("starting Postgres and Redis ...", flush=True)
    base = {
        "DATABASE_URL": ensure_postgres(STATE_DIR),
        "REDIS_URL": ensure_redis(STATE_DIR),
        "REDIS_PREFIX": os.environ.get("REDIS_PREFIX", "recsys:"),
        "FEAST_PROJECT": os.environ.get("FEAST_PROJECT", "recsys"),
    }
    print("starting the MLflow server ...", flush=True)
    base["MLFLOW_TRACKING_URI"] = start_mlflow(STATE_DIR)
    (STATE_DIR / "stack.json").write_text(json.dumps(base, indent=2))
    env = service_env(base, ports)
    print("applying migrations and loading demo data ...", flush=True)
    _run(["migrate"], env)
    _run(["load-demo"], env)
    print("feature store: feast apply and materialisation ...", flush=True)
    prepare_feature_store(env)
    ensure_models(env)
    print("starting services ...", flush=True)
    procs = start_services(env, ports, STATE_DIR)
    try:
        wait_ready(ports, procs=procs)
    except (RuntimeError, TimeoutError) as exc:
        print(f"error: {exc}; logs in {STATE_DIR / 'logs'}", file=sys.stderr)
        stop_pids(STATE_DIR)
        raise SystemExit(1) from exc
    _print_examples()


def down() -> None:
    from deploy.local.infra import stop_postgres, stop_redis

    stop_pids(STATE_DIR)
    stop_redis(STATE_DIR)
    stop_postgres(STATE_DIR)
    print("stack stopped (data kept in .local/)")


def status() -> None:
    for spec in SERVICES:
        ok = _all_ready({spec.name: spec.port})
        print(f"{spec.name:16} :{spec.port}  {'ready' if ok else 'down'}")


def _all_ready(ports: dict[str, int]) -> bool:
    try:
        with httpx.Client(timeout=1.0) as client:
            return all(
                client.get(f"http://127.0.0.1:{p}/readyz").status_code == 200
                for p in ports.values()
            )
    except httpx.HTTPError:
        return False


def _print_examples() -> None:
    key = "-H 'X-API-Key: dev-key'"
    base = "http://127.0.0.1:8000"
    print(
        f"""
The platform is up. Try:
  curl -s {key} '{base}/v1/recommendations/home?user_id=u000042&k=5'
  curl -s {key} '{base}/v1/recommendations/search?q=wireless%20earbuds&k=5'
  curl -s {key} -X POST {base}/v1/events -H 'content-type: application/json' \\
       -d '{{"user_id": "u000042", "event_type": "search", "query": "running shoes"}}'
  curl -s 'http://127.0.0.1:8001/v1/users/u000042/history?days=30'   # event-ingest, internal
  curl -s -H 'X-API-Key: dev-admin-key' -X DELETE {base}/v1/users/u000042
OpenAPI: {base}/docs   metrics: {base}/metrics   logs: .local/logs/   stop: make down
MLflow UI and model registry: http://127.0.0.1:{MLFLOW_PORT}   retrain: make train
"""
    )


def train(args: list[str]) -> None:
    """`recsys train` against the running local stack (its Postgres and MLflow), unless
    DATABASE_URL is set in the environment."""
    env = dict(os.environ)
    if "DATABASE_URL" not in env and (STATE_DIR / "stack.json").exists():
        env.update(infra_env())
    env.setdefault("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{MLFLOW_PORT}")
    _run(["train", *args], env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "train"])
    parser.add_argument("args", nargs=argparse.REMAINDER, help="train: recsys train options")
    parsed = parser.parse_args()
    if parsed.command == "train":
        train(parsed.args)
        return
    {"up": up, "down": down, "status": status}[parsed.command]()


if __name__ == "__main__":
    main()
