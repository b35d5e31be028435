"""Writes the Grafana dashboards in monitoring/dashboards/*.json.

The JSON files are the artefacts the Helm chart provisions; this script is how they are
made, so that every panel has the same datasource, ids and layout rules. Edit here, then
run `python3 monitoring/generate_dashboards.py` (tests/monitoring checks the files are up
to date). Metric names: docs/metrics.md only.
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parent / "dashboards"
DS = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"
NS = 'namespace=~"$namespace"'
SLO_SECONDS = 0.15


def _thresholds(*steps: tuple[float | None, str]) -> dict:
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]}


def target(expr: str, legend: str = "", ref: str = "A", *, instant: bool = False) -> dict:
    t = {"datasource": DS, "expr": expr, "legendFormat": legend or "__auto", "refId": ref}
    if instant:
        t |= {"instant": True, "range": False, "format": "table"}
    return t


def _targets(exprs: list[tuple[str, str]], **kw) -> list[dict]:
    return [target(e, lg, chr(ord("A") + i), **kw) for i, (e, lg) in enumerate(exprs)]


def timeseries(
    title: str,
    exprs: list[tuple[str, str]],
    unit: str = "short",
    *,
    description: str = "",
    stack: bool = False,
    percent_stack: bool = False,
    threshold: float | None = None,
    w: int = 12,
    h: int = 8,
) -> dict:
    custom: dict = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never"}
    if stack or percent_stack:
        custom["stacking"] = {"mode": "percent" if percent_stack else "normal", "group": "A"}
        custom["fillOpacity"] = 40
    defaults: dict = {"unit": unit, "custom": custom}
    if threshold is not None:
        custom["thresholdsStyle"] = {"mode": "dashed"}
        defaults["thresholds"] = _thresholds((None, "green"), (threshold, "red"))
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": _targets(exprs),
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "legend": {"displayMode": "table", "placement": "bottom", "calcs": ["mean", "max"]},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "_w": w,
        "_h": h,
    }


def stat(
    title: str,
    expr: str,
    unit: str = "short",
    *,
    description: str = "",
    steps: tuple = ((None, "green"),),
    legend: str = "",
    w: int = 6,
    h: int = 5,
) -> dict:
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": [target(expr, legend)],
        "fieldConfig": {
            "defaults": {"unit": unit, "thresholds": _thresholds(*steps), "decimals": 2},
            "overrides": [],
        },
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "area",
            "textMode": "auto",
        },
        "_w": w,
        "_h": h,
    }


def table(
    title: str,
    exprs: list[tuple[str, str]],
    *,
    description: str = "",
    unit: str = "short",
    exclude: tuple[str, ...] = ("Time", "__name__"),
    w: int = 24,
    h: int = 8,
) -> dict:
    return {
        "type": "table",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": _targets(exprs, instant=True),
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"showHeader": True, "footer": {"show": False}},
        "transformations": [
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {"excludeByName": {k: True for k in exclude}}},
        ],
        "_w": w,
        "_h": h,
    }


def row(title: str) -> dict:
    return {"type": "row", "title": title, "collapsed": False, "panels": [], "_w": 24, "_h": 1}


def _layout(panels: list[dict]) -> list[dict]:
    """Assigns ids and grid positions: left to right, wrapping at 24 columns."""
    x = y = row_h = 0
    out = []
    for pid, p in enumerate(panels, start=1):
        w, h = p.pop("_w"), p.pop("_h")
        if x + w > 24 or p["type"] == "row":
            x, y, row_h = 0, y + row_h, 0
        p = {"id": pid, "gridPos": {"h": h, "w": w, "x": x, "y": y}} | p
        x += w
        row_h = max(row_h, h)
        if p["type"] == "row":
            x, y, row_h = 0, y + h, 0
        out.append(p)
    return out


def _var_datasource() -> dict:
    return {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
        "regex": "",
        "includeAll": False,
        "multi": False,
        "options": [],
    }


def _var_query(name: str, label: str, query: str, *, multi: bool = True) -> dict:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "definition": query,
        "query": {"query": query, "refId": f"{name}-var"},
        "current": {},
        "hide": 0,
        "refresh": 2,
        "regex": "",
        "sort": 1,
        "includeAll": True,
        # ".*" also matches series without the label (local mode has no namespace).
        "allValue": ".*",
        "multi": multi,
        "options": [],
    }


def dashboard(uid: str, title: str, description: str, panels: list[dict], extra_vars=()) -> dict:
    variables = [
        _var_datasource(),
        _var_query("namespace", "Namespace", "label_values(recsys_http_requests_total, namespace)"),
        *extra_vars,
    ]
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["recsys"],
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "weekStart": "",
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "links": [
            {
                "title": "recsys dashboards",
                "type": "dashboards",
                "tags": ["recsys"],
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
            }
        ],
        "templating": {"list": variables},
        "panels": _layout(panels),
    }


def hq(q: float, metric: str, sel: str, by: str = "") -> str:
    by_clause = f"{by}, le" if by else "le"
    return f"histogram_quantile({q}, sum by ({by_clause}) (rate({metric}_bucket{{{sel}}}[{RATE}])))"


# --- (a) RED per service ------------------------------------------------------------------


def red() -> dict:
    sel = f'{NS}, service=~"$service"'
    req = "recsys_http_requests_total"
    lat = "recsys_http_request_duration_seconds"
    by_svc = f"sum by (service) (rate({req}{{{sel}}}[{RATE}]))"
    panels = [
        row("Rate"),
        timeseries("Requests per second by service", [(by_svc, "{{service}}")], "reqps"),
        timeseries(
            "Requests per second by route and status",
            [
                (
                    f"sum by (service, route, status) (rate({req}{{{sel}}}[{RATE}]))",
                    "{{service}} {{route}} {{status}}",
                )
            ],
            "reqps",
        ),
        row("Errors"),
        timeseries(
            "5xx ratio by service",
            [
                (
                    f'sum by (service) (rate({req}{{{sel}, status=~"5.."}}[{RATE}])) / {by_svc}',
                    "{{service}}",
                )
            ],
            "percentunit",
            description="Share of requests answered with a 5xx. A valid request never gets "
            "a 5xx because a dependency is down (the gateway degrades instead).",
            threshold=0.001,
        ),
        timeseries(
            "4xx ratio by service",
            [
                (
                    f'sum by (service) (rate({req}{{{sel}, status=~"4.."}}[{RATE}])) / {by_svc}',
                    "{{service}}",
                )
            ],
            "percentunit",
            description="Client errors (validation, auth, 429 back-pressure).",
        ),
        timeseries(
            "5xx per second by route",
            [
                (
                    f"sum by (service, route, status) "
                    f'(rate({req}{{{sel}, status=~"5.."}}[{RATE}]))',
                    "{{service}} {{route}} {{status}}",
                )
            ],
            "reqps",
            w=24,
        ),
        row("Duration"),
        *[
            timeseries(
                f"Latency p{int(q * 100)} by service",
                [(hq(q, lat, sel, "service"), "{{service}}")],
                "s",
                threshold=SLO_SECONDS,
                w=8,
                description="From the recsys_http_request_duration_seconds histogram; the "
                "dashed line is the 150 ms gateway SLO threshold.",
            )
            for q in (0.5, 0.95, 0.99)
        ],
        timeseries(
            "Share of requests under 150 ms by service",
            [
                (
                    f'sum by (service) (rate({lat}_bucket{{{sel}, le="0.15"}}[{RATE}])) / '
                    f"sum by (service) (rate({lat}_count{{{sel}}}[{RATE}]))",
                    "{{service}}",
                )
            ],
            "percentunit",
            threshold=0.99,
        ),
        timeseries(
            "Latency p95 by route",
            [(hq(0.95, lat, sel, "service, route"), "{{service}} {{route}}")],
            "s",
            threshold=SLO_SECONDS,
        ),
        row("Gateway SLOs (recording rules, monitoring/rules/recsys-slo.yaml)"),
        timeseries(
            "Latency SLO burn rate (99% of recommendation requests <= 150 ms)",
            [
                (f"recsys_gateway:latency_slo_errors:ratio_rate{w} / 0.01", f"{w}")
                for w in ("5m", "1h", "6h", "1d")
            ],
            "short",
            description="Burn rate 1 spends the 30-day error budget (1% slow requests) in 30 "
            "days. Page at 14.4 (1h and 5m) or 6 (6h and 30m); ticket at 3 (1d) or 1 (3d).",
            threshold=14.4,
        ),
        timeseries(
            "Availability SLO burn rate (99.9% non-5xx)",
            [
                (f"recsys_gateway:availability_slo_errors:ratio_rate{w} / 0.001", f"{w}")
                for w in ("5m", "1h", "6h", "1d")
            ],
            "short",
            description="Burn rate 1 spends the 30-day error budget (0.1% 5xx) in 30 days.",
            threshold=14.4,
        ),
    ]
    service_var = _var_query(
        "service", "Service", f"label_values(recsys_http_requests_total{{{NS}}}, service)"
    )
    return dashboard(
        "recsys-red",
        "recsys / RED per service",
        "Rate, errors and duration of every recsys service (recsys_http_* metrics).",
        panels,
        [service_var],
    )


# --- (b) recommendations ------------------------------------------------------------------


def recommendations() -> dict:
    inter = "recsys_recommendation_interactions_total"
    served = "recsys_recommendations_served_total"
    fb = "recsys_fallbacks_total"

    def ctr(window: str) -> str:
        return (
            f'sum by (variant) (rate({inter}{{{NS}, event_type="recommendation_click"}}[{window}]))'
            f" / sum by (variant) "
            f'(rate({inter}{{{NS}, event_type="recommendation_impression"}}[{window}]))'
        )

    served_all = f"sum(rate({served}{{{NS}}}[{RATE}]))"
    panels = [
        row("Engagement"),
        timeseries(
            "CTR by variant (1h window)",
            [(ctr("1h"), "{{variant}}")],
            "percentunit",
            description="recommendation_click / recommendation_impression events reported "
            "back with the variant of the answer. The A/B report gives confidence intervals.",
        ),
        stat(
            "CTR by variant (dashboard range)",
            ctr("$__range"),
            "percentunit",
            legend="{{variant}}",
        ),
        stat(
            "Impressions per second",
            f'sum(rate({inter}{{{NS}, event_type="recommendation_impression"}}[{RATE}]))',
            "reqps",
        ),
        timeseries(
            "Served by surface and variant",
            [
                (
                    f"sum by (surface, variant) (rate({served}{{{NS}}}[{RATE}]))",
                    "{{surface}} / {{variant}}",
                )
            ],
            "reqps",
            stack=True,
        ),
        timeseries(
            "Items per answer by surface",
            [
                (
                    f"sum by (surface) (rate(recsys_recommended_items_total{{{NS}}}[{RATE}])) / "
                    f"sum by (surface) (rate({served}{{{NS}}}[{RATE}]))",
                    "{{surface}}",
                )
            ],
            "short",
        ),
        row("Fallbacks"),
        timeseries(
            "Fallback rate by reason",
            [
                (
                    f"sum by (reason) (rate({fb}{{{NS}}}[{RATE}])) / ignoring(reason) "
                    f"group_left {served_all}",
                    "{{reason}}",
                )
            ],
            "percentunit",
            stack=True,
            description="Share of all answers that carry each fallback_reason. "
            "no_search_match / no_association_rules describe the content; the others mean "
            "a dependency failed or was too slow (alert RecommendationFallbackRateHigh).",
            threshold=0.05,
        ),
        timeseries(
            "Fallback rate by surface",
            [
                (
                    f"sum by (surface) (rate({fb}{{{NS}}}[{RATE}])) / "
                    f"sum by (surface) (rate({served}{{{NS}}}[{RATE}]))",
                    "{{surface}}",
                )
            ],
            "percentunit",
            threshold=0.05,
        ),
        row("Candidates and coverage"),
        timeseries(
            "Candidate source mix",
            [(f"sum by (source) (rate(recsys_candidates_total{{{NS}}}[{RATE}]))", "{{source}}")],
            "percentunit",
            percent_stack=True,
            description="Share of candidates returned by each retrieval source.",
        ),
        timeseries(
            "Catalog coverage",
            [
                (
                    f"max(recsys_recommended_distinct_items{{{NS}}}) / "
                    f"max(recsys_catalog_items{{{NS}}})",
                    "coverage",
                )
            ],
            "percentunit",
            description="Distinct products recommended in the last hour / items in the "
            "candidate-gen indexes. With several gateway replicas each counts its own "
            "answers, so the max over replicas is a lower bound.",
        ),
        stat(
            "Distinct items recommended (1h)",
            f"max(recsys_recommended_distinct_items{{{NS}}})",
            w=6,
        ),
        stat("Catalog items", f"max(recsys_catalog_items{{{NS}}})", w=6),
        stat(
            "Gateway cache hit ratio",
            f'sum(rate(recsys_gateway_cache_lookups_total{{{NS}, result="hit"}}[{RATE}])) / '
            f"sum(rate(recsys_gateway_cache_lookups_total{{{NS}}}[{RATE}]))",
            "percentunit",
            w=12,
        ),
    ]
    return dashboard(
        "recsys-recommendations",
        "recsys / Recommendations",
        "CTR by variant, fallbacks, candidate sources, catalog coverage, traffic by surface.",
        panels,
    )


# --- (c) ingest ---------------------------------------------------------------------------


def ingest() -> dict:
    lag = "recsys_event_lag_seconds"
    req = "recsys_http_requests_total"
    svc = f'{NS}, service="event-ingest"'
    panels = [
        row("Events"),
        timeseries(
            "Events ingested per second by type",
            [
                (
                    f"sum by (event_type) (rate(recsys_events_ingested_total{{{NS}}}[{RATE}]))",
                    "{{event_type}}",
                )
            ],
            "short",
            stack=True,
        ),
        timeseries(
            "Duplicates",
            [
                (f"sum(rate(recsys_events_duplicate_total{{{NS}}}[{RATE}]))", "duplicates/s"),
            ],
            "short",
            description="Events whose event_id was already stored (client retries).",
            w=6,
        ),
        stat(
            "Duplicate share",
            f"sum(rate(recsys_events_duplicate_total{{{NS}}}[{RATE}])) / "
            f"(sum(rate(recsys_events_duplicate_total{{{NS}}}[{RATE}])) + "
            f"sum(rate(recsys_events_ingested_total{{{NS}}}[{RATE}])))",
            "percentunit",
            w=6,
            h=8,
        ),
        timeseries(
            "Rejected batches per second by reason",
            [
                (
                    f"sum by (reason) (rate(recsys_events_rejected_total{{{NS}}}[{RATE}]))",
                    "{{reason}}",
                )
            ],
            "short",
            description="4xx answers from event-ingest (validation, unknown product, too large).",
        ),
        timeseries(
            "Real-time (Redis) update failures",
            [
                (
                    f"sum(increase(recsys_realtime_update_failures_total{{{NS}}}[{RATE}]))",
                    "failed batches",
                )
            ],
            "short",
            description="Committed batches whose Redis update failed (alert "
            "RealtimeUpdateFailures). Events are durable; real-time features go stale.",
            threshold=1,
        ),
        row("Feature store pushes (user_interests to the Feast online store)"),
        timeseries(
            "Users pushed per second / failures by reason",
            [
                (f"sum(rate(recsys_feature_push_users_total{{{NS}}}[{RATE}]))", "users/s"),
                (
                    f"sum by (reason) (rate(recsys_feature_push_failures_total{{{NS}}}[{RATE}]))",
                    "failed {{reason}}",
                ),
            ],
            "short",
            description="Real-time pushes after each commit; a failure leaves the online "
            "features stale until the next push or materialisation (events are durable).",
        ),
        timeseries(
            "Push duration p50 / p99",
            [
                (hq(q, "recsys_feature_push_duration_seconds", NS), f"p{int(q * 100)}")
                for q in (0.5, 0.99)
            ],
            "s",
            description="One coalesced push (several users) to the online store.",
        ),
        row("Event lag (receipt time minus event timestamp)"),
        timeseries(
            "Event lag p50 / p95 / p99",
            [(hq(q, lag, NS), f"p{int(q * 100)}") for q in (0.5, 0.95, 0.99)],
            "s",
            threshold=300,
            w=24,
            description="Alert EventLagHigh: p95 above 300 s for 15 minutes.",
        ),
        row("event-ingest HTTP"),
        timeseries(
            "Requests per second by route and status",
            [(f"sum by (route, status) (rate({req}{{{svc}}}[{RATE}]))", "{{route}} {{status}}")],
            "reqps",
            w=8,
        ),
        timeseries(
            "5xx ratio",
            [
                (
                    f'sum(rate({req}{{{svc}, status=~"5.."}}[{RATE}])) / '
                    f"sum(rate({req}{{{svc}}}[{RATE}]))",
                    "5xx",
                )
            ],
            "percentunit",
            threshold=0.01,
            w=8,
        ),
        timeseries(
            "Latency p95 / p99 by route",
            [
                (
                    hq(q, "recsys_http_request_duration_seconds", svc, "route"),
                    f"p{int(q * 100)} {{{{route}}}}",
                )
                for q in (0.95, 0.99)
            ],
            "s",
            w=8,
        ),
    ]
    return dashboard(
        "recsys-ingest",
        "recsys / Event ingest",
        "Events by type, duplicates, rejections, real-time update failures, event lag.",
        panels,
    )


# --- (d) feature store --------------------------------------------------------------------


def feature_store() -> dict:
    read = "recsys_feature_read_duration_seconds"
    lat = "recsys_http_request_duration_seconds"
    svc = f'{NS}, service="feature-serving"'
    panels = [
        row("Store reads (without HTTP)"),
        *[
            timeseries(
                f"Feature read p{int(q * 100)} by kind",
                [(hq(q, read, NS, "kind"), "{{kind}}")],
                "s",
                w=8,
            )
            for q in (0.5, 0.95, 0.99)
        ],
        timeseries(
            "Feature reads per second by kind",
            [(f"sum by (kind) (rate({read}_count{{{NS}}}[{RATE}]))", "{{kind}}")],
            "short",
        ),
        timeseries(
            "Redis read failures per second by kind",
            [
                (
                    f"sum by (kind) (rate(recsys_feature_redis_failures_total{{{NS}}}[{RATE}]))",
                    "{{kind}}",
                )
            ],
            "short",
            description="Reads that failed on Redis; feature-serving answers degraded "
            "(defaults) and the gateway may fall back to features_unavailable.",
        ),
        row("feature-serving HTTP"),
        *[
            timeseries(
                f"HTTP latency p{int(q * 100)} by route",
                [(hq(q, lat, svc, "route"), "{{route}}")],
                "s",
                w=8,
            )
            for q in (0.5, 0.95, 0.99)
        ],
        timeseries(
            "HTTP requests per second by route and status",
            [
                (
                    f"sum by (route, status) (rate(recsys_http_requests_total{{{svc}}}[{RATE}]))",
                    "{{route}} {{status}}",
                )
            ],
            "reqps",
            w=24,
        ),
    ]
    return dashboard(
        "recsys-feature-store",
        "recsys / Feature store",
        "Feature read latency by kind (store and HTTP), read rate, Redis failures.",
        panels,
    )


# --- (e) models ---------------------------------------------------------------------------


def models() -> dict:
    age = f"time() - recsys_model_loaded_timestamp_seconds{{{NS}}}"
    panels = [
        table(
            "Loaded models",
            [(f"recsys_model_info{{{NS}}}", "")],
            description="recsys_model_info{model, alias, version} per candidate-gen pod.",
            exclude=("Time", "__name__", "Value", "job", "endpoint", "container"),
        ),
        timeseries(
            "Model age by model",
            [(f"max by (model) ({age})", "{{model}}")],
            "s",
            threshold=2 * 86400,
            description="Seconds since the loaded model/index was built (oldest replica). "
            "Alert RecommendationModelStale above 2 days.",
        ),
        stat(
            "Oldest model age",
            f"max({age})",
            "s",
            steps=((None, "green"), (86400, "orange"), (2 * 86400, "red")),
            w=6,
            h=8,
        ),
        stat(
            "Versions served per model",
            f"count by (model) (count by (model, version) (recsys_model_info{{{NS}}}))",
            legend="{{model}}",
            steps=((None, "green"), (2, "orange")),
            description="More than 1: replicas serve different versions (rollout or a "
            "failed reload).",
            w=6,
            h=8,
        ),
        table(
            "Model age per pod",
            [(age, "")],
            unit="s",
            exclude=("Time", "__name__", "job", "endpoint", "container"),
        ),
    ]
    return dashboard(
        "recsys-models",
        "recsys / Model versions",
        "Which model versions candidate-gen has loaded and how old they are.",
        panels,
    )


DASHBOARDS = {
    "recsys-red.json": red,
    "recsys-recommendations.json": recommendations,
    "recsys-ingest.json": ingest,
    "recsys-feature-store.json": feature_store,
    "recsys-models.json": models,
}


def render() -> dict[str, str]:
    return {name: json.dumps(build(), indent=2) + "\n" for name, build in DASHBOARDS.items()}


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, text in render().items():
        (OUT / name).write_text(text)
        print(f"wrote {OUT / name}")


if __name__ == "__main__":
    main()
