"""Benchmark (not a test): gateway home latency with tracing on versus off, same load,
same run, same data.

  python -m tests.load.bench_tracing [--rate 100] [--duration 30s] [--rounds 2]

Starts the whole stack as processes twice per round on ports of its own (28000+ with
tracing off, 28100+ with tracing on: a `make up` stack on 8000-8004 is left alone),
alternating off/on so that drift hits both alike. "On" means TRACING_ENABLED=true with
OTEL_EXPORTER_OTLP_ENDPOINT pointing at a local OTLP/HTTP sink in this script (accepts
POST /v1/traces, counts the spans, discards them), default sampler (parentbased_always_on:
every request traced, the worst case) and batch settings. Prometheus metrics are
collected in both modes (they have no switch). The data is the running local stack's
Postgres (read only) with Redis state rebuilt under a separate prefix, removed at the end.
Writes docs/benchmarks/tracing-overhead.md and .json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import redis
from aiohttp import web

from deploy.local.stack import (
    ROOT,
    SERVICES,
    infra_env,
    service_env,
    start_services,
    stop_pids,
    wait_ready,
)
from tests.load import bench  # run_k6 targets bench.GATEWAY

MODES = {"off": 28000, "on": 28100}
PREFIX = "bench-tracing:"


class OtlpSink:
    """A minimal OTLP/HTTP trace receiver on its own thread and loop."""

    def __init__(self) -> None:
        self.requests = 0
        self.spans = 0
        self.port = _free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True, name="otlp-sink")
        self._started = threading.Event()

    async def _traces(self, request: web.Request) -> web.Response:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        body = await request.read()
        message = ExportTraceServiceRequest()
        message.ParseFromString(body)
        self.requests += 1
        self.spans += sum(
            len(scope.spans) for rs in message.resource_spans for scope in rs.scope_spans
        )
        return web.Response(body=b"", content_type="application/x-protobuf")

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/traces", self._traces)
        runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(runner.setup())
        self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self._started.set()
        self._loop.run_forever()

    def start(self) -> str:
        self._thread.start()
        self._started.wait(10)
        return f"http://127.0.0.1:{self.port}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ports(base: int) -> dict[str, int]:
    return {spec.name: base + (spec.port - 8000) for spec in SERVICES}


def prepare_redis(infra: dict[str, str]) -> None:
    """Real-time state (recent items, affinities, trending, popularity) from Postgres into
    this benchmark's own prefix: reads Postgres, writes only `bench-tracing:*` keys."""
    env = {**infra, "REDIS_PREFIX": PREFIX}
    subprocess.run(
        [sys.executable, "-m", "ml.cli", "rebuild-realtime"],
        env={**service_env(env, _ports(MODES["off"]))},
        cwd=ROOT,
        check=True,
    )


def drop_prefix(infra: dict[str, str]) -> None:
    client = redis.Redis.from_url(infra["REDIS_URL"])
    for key in client.scan_iter(match=f"{PREFIX}*", count=1000):
        client.delete(key)


def run_mode(mode: str, infra: dict[str, str], sink_url: str, rate: int, duration: str) -> dict:
    ports = _ports(MODES[mode])
    env = service_env({**infra, "REDIS_PREFIX": PREFIX}, ports)
    env["GATEWAY_CACHE_TTL_SECONDS"] = "30"
    for name in list(env):  # only what this script sets decides the mode
        if name.startswith("OTEL_") or name == "TRACING_ENABLED":
            del env[name]
    if mode == "on":
        env["TRACING_ENABLED"] = "true"
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink_url
    else:
        env["TRACING_ENABLED"] = "false"
    run_dir = ROOT / ".local" / f"bench-tracing-{mode}"
    if (run_dir / "pids").exists():  # leftovers of an interrupted run
        stop_pids(run_dir)
    procs = start_services(env, ports, run_dir)
    try:
        wait_ready(ports, timeout=180, procs=procs)
        bench.GATEWAY = f"http://127.0.0.1:{ports['gateway']}"
        print(f"[{mode}] warm-up 10s", flush=True)
        bench.run_k6(rate, "10s")
        time.sleep(2)
        print(f"[{mode}] k6: {rate} requests/s for {duration}", flush=True)
        row = bench.run_k6(rate, duration)
    finally:
        stop_pids(run_dir)
    return {"tracing": mode, **row}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--duration", default="30s")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    infra = infra_env()
    sink = OtlpSink()
    sink_url = sink.start()
    print("rebuilding real-time state under", PREFIX, flush=True)
    prepare_redis(infra)
    rows = []
    try:
        for round_no in range(1, args.rounds + 1):
            for mode in ("off", "on"):
                spans_before, requests_before = sink.spans, sink.requests
                row = run_mode(mode, infra, sink_url, args.rate, args.duration)
                time.sleep(1)
                row = {
                    "round": round_no,
                    **row,
                    "spans_exported": sink.spans - spans_before,
                    "export_requests": sink.requests - requests_before,
                }
                rows.append(row)
                print(f"  {row}", flush=True)
    finally:
        drop_prefix(infra)
    write_report(rows, args)


def _median(values: list[float]) -> float:
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else round((values[mid - 1] + values[mid]) / 2, 1)


def write_report(rows: list[dict], args) -> None:
    out = bench.OUT
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = (
        f"python -m tests.load.bench_tracing --rate {args.rate} --duration {args.duration} "
        f"--rounds {args.rounds}"
    )
    summary = {}
    for mode in ("off", "on"):
        mine = [r for r in rows if r["tracing"] == mode]
        summary[mode] = {k: _median([r[k] for r in mine]) for k in ("p50_ms", "p95_ms", "p99_ms")}
    delta = {
        k: round(summary["on"][k] - summary["off"][k], 1) for k in ("p50_ms", "p95_ms", "p99_ms")
    }
    (out / "tracing-overhead.json").write_text(
        json.dumps(
            {
                "when": stamp,
                "machine": bench.machine(),
                "command": command,
                "rows": rows,
                "median": summary,
                "on_minus_off_ms": delta,
            },
            indent=2,
        )
    )
    cols = [
        "round", "tracing", "achieved_rps", "requests", "p50_ms", "p95_ms", "p99_ms", "max_ms",
        "ok_share", "personalised_share", "spans_exported",
    ]  # fmt: skip
    lines = [
        "# Tracing overhead: gateway home, tracing on vs off",
        "",
        f"Measured {stamp} on {bench.machine()}; the whole stack as local processes, k6 at "
        f"{args.rate} requests/s for {args.duration} per run after a 10 s warm-up, "
        f"{args.rounds} round(s) alternating off/on.",
        "",
        f"Command: `{command}`",
        "",
        "- off: `TRACING_ENABLED=false` (no OpenTelemetry middleware, no client hooks).",
        "- on: `TRACING_ENABLED=true`, `OTEL_EXPORTER_OTLP_ENDPOINT` = a local OTLP/HTTP sink "
        "in the script (spans really exported, then discarded), default sampler "
        "(parentbased_always_on: every request is traced, the worst case), default batch "
        "processor settings.",
        "- Prometheus metrics (including the issue-5 ones) are collected in both modes.",
        "- Data: the `make up` stack's Postgres (5,000 products), Redis state rebuilt under "
        f"`{PREFIX}`; gateway response cache TTL 30 s; users as in tests/load/home.js.",
        "",
        "| " + " | ".join(cols) + " |",
        "| " + " | ".join("---" for _ in cols) + " |",
        *("| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows),
        "",
        "Medians over rounds (ms):",
        "",
        "| tracing | p50 | p95 | p99 |",
        "| --- | --- | --- | --- |",
        *(
            f"| {m} | {summary[m]['p50_ms']} | {summary[m]['p95_ms']} | {summary[m]['p99_ms']} |"
            for m in ("off", "on")
        ),
        f"| on - off | {delta['p50_ms']} | {delta['p95_ms']} | {delta['p99_ms']} |",
        "",
    ]
    (out / "tracing-overhead.md").write_text("\n".join(lines))
    print(f"wrote {out / 'tracing-overhead.md'}")


if __name__ == "__main__":
    main()
