"""Benchmarks against the running local stack (`make up` first). Not tests: no
thresholds; results go to docs/benchmarks/ with the command that produced them.

  python -m tests.load.bench home   [--rates 50,150,300] [--duration 30s]
  python -m tests.load.bench ingest [--batches 300] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import time
import uuid
from datetime import UTC, datetime

import asyncpg
import httpx
import numpy as np

from deploy.local.stack import ROOT, infra_env

OUT = ROOT / "docs" / "benchmarks"
GATEWAY = os.environ.get("BASE_URL", "http://127.0.0.1:8000")
INGEST = os.environ.get("EVENT_INGEST_URL", "http://127.0.0.1:8001")
HEADERS = {"X-API-Key": os.environ.get("API_KEY", "dev-key")}


def machine() -> str:
    return f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"


def k6_binary() -> str:
    local = ROOT / ".venv" / "bin" / "k6"
    return str(local) if local.exists() else (shutil.which("k6") or "k6")


def run_k6(rate: int, duration: str) -> dict:
    summary = OUT / f".k6-home-{rate}.json"
    cmd = [
        k6_binary(), "run", "--quiet",
        "-e", f"RATE={rate}", "-e", f"DURATION={duration}", "-e", f"BASE_URL={GATEWAY}",
        "-e", f"SUMMARY_PATH={summary}", str(ROOT / "tests" / "load" / "home.js"),
    ]  # fmt: skip
    subprocess.run(cmd, check=False, cwd=ROOT, stdout=subprocess.DEVNULL)
    data = json.loads(summary.read_text())
    summary.unlink()
    metrics = data["metrics"]
    dur = metrics["http_req_duration"]["values"]
    checks = {c["name"]: c for c in data["root_group"]["checks"]}

    def share(name: str) -> float:
        c = checks.get(name, {"passes": 0, "fails": 0})
        total = c["passes"] + c["fails"]
        return c["passes"] / total if total else 0.0

    return {
        "target_rps": rate,
        "achieved_rps": round(metrics["http_reqs"]["values"]["rate"], 1),
        "requests": int(metrics["http_reqs"]["values"]["count"]),
        "p50_ms": round(dur["med"], 1),
        "p95_ms": round(dur["p(95)"], 1),
        "p99_ms": round(dur["p(99)"], 1),
        "max_ms": round(dur["max"], 1),
        "ok_share": round(share("status 200"), 4),
        "personalised_share": round(share("not degraded"), 4),
        "dropped_iterations": int(
            metrics.get("dropped_iterations", {}).get("values", {}).get("count", 0)
        ),
    }


def bench_home(rates: list[int], duration: str, label: str) -> None:
    rows = []
    for rate in rates:
        print(f"k6: {rate} requests/s for {duration} ...", flush=True)
        rows.append(run_k6(rate, duration))
        print(f"  {rows[-1]}", flush=True)
        time.sleep(3)  # let queues drain between steps
    name = f"gateway-home-{label}" if label else "gateway-home"
    command = f"python -m tests.load.bench home --rates {','.join(map(str, rates))} "
    command += f"--duration {duration}" + (f" --label {label}" if label else "")
    write_report(name, command, rows, note=_stack_note())


async def product_ids(limit: int = 2000) -> list[str]:
    conn = await asyncpg.connect(infra_env()["DATABASE_URL"])
    try:
        rows = await conn.fetch(
            "SELECT product_id FROM products ORDER BY product_id LIMIT $1", limit
        )
    finally:
        await conn.close()
    return [r["product_id"] for r in rows]


async def bench_ingest_target(url: str, batches: int, concurrency: int, pids: list[str]) -> dict:
    rng = np.random.default_rng(7)
    types = ["view", "view", "view", "click", "add_to_cart", "purchase", "wishlist"]
    run = uuid.uuid4().hex[:8]

    def batch(i: int) -> bytes:
        events = [
            {
                "event_id": f"bench-{run}-{i}-{j}",
                "user_id": f"bench-user-{int(rng.integers(0, 2000))}",
                "event_type": types[int(rng.integers(0, len(types)))],
                "product_id": pids[int(rng.integers(0, len(pids)))],
            }
            for j in range(100)
        ]
        return json.dumps({"events": events}).encode()

    bodies = [batch(i) for i in range(batches)]
    latencies: list[float] = []
    failures = 0
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async with httpx.AsyncClient(timeout=30, headers=HEADERS) as client:

        async def worker() -> None:
            nonlocal failures
            while not queue.empty():
                body = queue.get_nowait()
                started = time.perf_counter()
                response = await client.post(
                    f"{url}/v1/events", content=body, headers={"content-type": "application/json"}
                )
                latencies.append(time.perf_counter() - started)
                failures += response.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started

    lat = np.array(latencies) * 1000
    return {
        "target": url,
        "batches": batches,
        "batch_size": 100,
        "concurrency": concurrency,
        "events_per_s": round(batches * 100 / elapsed),
        "batch_p50_ms": round(float(np.percentile(lat, 50)), 1),
        "batch_p99_ms": round(float(np.percentile(lat, 99)), 1),
        "failed_batches": failures,
    }


def bench_ingest(batches: int, concurrency: int) -> None:
    pids = asyncio.run(product_ids())
    rows = []
    for url in (INGEST, GATEWAY):
        print(f"ingest: {batches} batches of 100 to {url} ...", flush=True)
        rows.append(asyncio.run(bench_ingest_target(url, batches, concurrency, pids)))
        print(f"  {rows[-1]}", flush=True)
    write_report(
        "event-ingest",
        f"python -m tests.load.bench ingest --batches {batches} --concurrency {concurrency}",
        rows,
    )


def _stack_note() -> str:
    ttl = os.environ.get("GATEWAY_CACHE_TTL_SECONDS", "30 (default)")
    return (
        f"Gateway response cache TTL: {ttl} s (set for `make up`). Users drawn uniformly "
        "from u000001..u005000 plus 10% never-seen users (cold start), k=10."
    )


def write_report(name: str, command: str, rows: list[dict], note: str = "") -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    (OUT / f"{name}.json").write_text(
        json.dumps(
            {"when": stamp, "machine": machine(), "command": command, "rows": rows}, indent=2
        )
    )
    cols = list(rows[0])
    lines = [
        f"# {name}",
        "",
        f"Measured {stamp} on {machine()}, whole stack local (`make up`).",
        "",
        f"Command: `{command}`",
        "",
        *([note, ""] if note else []),
        "| " + " | ".join(cols) + " |",
        "| " + " | ".join("---" for _ in cols) + " |",
        *("| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows),
        "",
    ]
    (OUT / f"{name}.md").write_text("\n".join(lines))
    print(f"wrote {OUT / (name + '.md')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("what", choices=["home", "ingest"])
    parser.add_argument("--rates", default="50,150,300")
    parser.add_argument("--duration", default="30s")
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--label", default="", help="suffix of the report name")
    args = parser.parse_args()
    if args.what == "home":
        bench_home([int(r) for r in args.rates.split(",")], args.duration, args.label)
    else:
        bench_ingest(args.batches, args.concurrency)


if __name__ == "__main__":
    main()
