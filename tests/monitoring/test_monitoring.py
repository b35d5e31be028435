"""Dashboards, alert rules and runbooks in monitoring/ and docs/runbooks/.

- dashboards are valid Grafana JSON with a templated Prometheus datasource;
- every metric queried by a dashboard or a rule is in docs/metrics.md and defined in the
  code (prometheus_client Counter/Gauge/Histogram/... under services/);
- every alert has labels, annotations and a runbook file;
- `promtool check rules` and `promtool test rules` pass (promtool is required, not optional).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"
DASHBOARDS = sorted((MONITORING / "dashboards").glob("*.json"))
RULE_FILES = sorted((MONITORING / "rules").glob("*.yaml"))
RULE_TESTS = sorted((MONITORING / "tests").glob("*.yaml"))
RUNBOOKS = ROOT / "docs" / "runbooks"
RUNBOOK_BASE = "https://github.com/recsys/recsys/blob/main/docs/runbooks/"
SEVERITIES = {"critical", "warning"}

PROMQL_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "inf", "nan", "atan2",
}  # fmt: skip
INSTALL_HINT = "promtool is missing: apt-get install prometheus (Debian/Ubuntu, as root)"


# --- helpers ------------------------------------------------------------------------------


def _load_rules() -> list[dict]:
    rules = []
    for path in RULE_FILES:
        doc = yaml.safe_load(path.read_text())
        for group in doc["groups"]:
            for rule in group["rules"]:
                rules.append(rule | {"_file": path.name, "_group": group["name"]})
    return rules


def _alerts() -> list[dict]:
    return [r for r in _load_rules() if "alert" in r]


def _recorded() -> set[str]:
    return {r["record"] for r in _load_rules() if "record" in r}


def _dashboard_exprs() -> list[tuple[str, str]]:
    """(where, expr) for every panel target and query variable of every dashboard."""
    out = []
    for path in DASHBOARDS:
        doc = json.loads(path.read_text())
        for panel in _panels(doc):
            for t in panel.get("targets", []):
                out.append((f"{path.name}: {panel['title']}", t["expr"]))
        for var in doc["templating"]["list"]:
            if var["type"] == "query":
                query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
                m = re.fullmatch(r"label_values\((.*),\s*\w+\)", query)
                assert m, f"{path.name}: variable {var['name']}: unexpected query {query}"
                out.append((f"{path.name}: ${var['name']}", m.group(1)))
    return out


def _panels(doc: dict) -> list[dict]:
    panels = []
    for p in doc.get("panels", []):
        panels.append(p)
        panels.extend(p.get("panels", []))  # collapsed rows
    return panels


def metric_names(expr: str) -> set[str]:
    """Metric (and recording-rule) names referenced by a PromQL expression.

    Strips string literals, label matchers, range/offset brackets and grouping clauses,
    then keeps identifiers that are not function calls, keywords or aggregations' labels.
    """
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    s = re.sub(r"\{[^{}]*\}", " ", s)
    s = re.sub(r"\[[^\[\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", " ", s)
    s = re.sub(r"\$\w+|\$\{[^}]*\}", " ", s)
    names = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", s):
        name, call = m.group(1), m.group(2)
        if call or name.lower() in PROMQL_KEYWORDS:
            continue
        names.add(name)
    return names


def _catalogue() -> dict[str, str]:
    """docs/metrics.md: metric name -> type (counter, gauge, histogram)."""
    out = {}
    for line in (ROOT / "docs" / "metrics.md").read_text().splitlines():
        m = re.match(r"\|\s*`(recsys_\w+)`\s*\|\s*(\w+)", line)
        if m:
            out[m.group(1)] = m.group(2).lower()
    return out


def _exposed(name: str, kind: str) -> set[str]:
    """Series names prometheus_client exposes for one metric definition."""
    if kind == "counter":
        base = name[: -len("_total")] if name.endswith("_total") else name
        return {f"{base}_total"}
    if kind == "histogram":
        return {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    if kind == "summary":
        return {name, f"{name}_sum", f"{name}_count"}
    if kind == "info":
        return {f"{name}_info"}
    return {name}  # gauge, enum


_CODE_KINDS = {
    "Counter": "counter", "Gauge": "gauge", "Histogram": "histogram",
    "Summary": "summary", "Info": "info", "Enum": "gauge",
}  # fmt: skip


def _code_metrics() -> dict[str, str]:
    """Exposed series name -> kind, from prometheus_client definitions under services/."""
    out: dict[str, str] = {}
    for path in sorted((ROOT / "services").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            cls = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if cls not in _CODE_KINDS:
                continue
            kwargs = {k.arg: k.value for k in node.keywords}
            name_node = node.args[0] if node.args else kwargs.get("name")
            if not (isinstance(name_node, ast.Constant) and isinstance(name_node.value, str)):
                continue
            parts = [
                kwargs[k].value
                for k in ("namespace", "subsystem")
                if isinstance(kwargs.get(k), ast.Constant) and kwargs[k].value
            ]
            full = "_".join([*parts, name_node.value])
            for series in _exposed(full, _CODE_KINDS[cls]):
                out[series] = _CODE_KINDS[cls]
    return out


def _catalogue_series() -> dict[str, str]:
    out = {}
    for name, kind in _catalogue().items():
        for series in _exposed(name, kind):
            out[series] = kind
    return out


def _queried() -> dict[str, list[str]]:
    """Metric name -> where it is queried (dashboards and rules)."""
    used: dict[str, list[str]] = {}
    for where, expr in _dashboard_exprs():
        for name in metric_names(expr):
            used.setdefault(name, []).append(where)
    for rule in _load_rules():
        where = f"{rule['_file']}: {rule.get('alert') or rule.get('record')}"
        for name in metric_names(rule["expr"]):
            used.setdefault(name, []).append(where)
    return used


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(INSTALL_HINT)
    return path


# --- the parser itself --------------------------------------------------------------------


def test_metric_name_extraction():
    expr = (
        'histogram_quantile(0.95, sum by (service, le) (rate(recsys_a_bucket{le="0.15", '
        'x=~"a|b"}[$__rate_interval]))) / ignoring(reason) group_left '
        "sum(rate(recsys_b_total[5m] offset 1h)) or vector(0) + time() - recsys:rule:ratio"
    )
    assert metric_names(expr) == {"recsys_a_bucket", "recsys_b_total", "recsys:rule:ratio"}


# --- dashboards ---------------------------------------------------------------------------


def test_expected_dashboards_exist():
    uids = {json.loads(p.read_text())["uid"] for p in DASHBOARDS}
    assert {
        "recsys-red", "recsys-recommendations", "recsys-ingest",
        "recsys-feature-store", "recsys-models",
    } <= uids  # fmt: skip


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_structure(path: Path):
    doc = json.loads(path.read_text())
    assert doc.get("uid") and doc.get("title")
    assert 36 <= doc["schemaVersion"] <= 41
    variables = {v["name"]: v for v in doc["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"

    panels = _panels(doc)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {ids}"
    data_panels = [p for p in panels if p["type"] != "row"]
    assert data_panels
    for p in data_panels:
        assert p.get("title"), p
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p.get("targets"), f"{p['title']} has no targets"
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), p["title"]
        for t in p["targets"]:
            assert t["expr"].strip(), p["title"]
            assert t["datasource"]["uid"] == "${datasource}", p["title"]
        gp = p["gridPos"]
        assert gp["x"] + gp["w"] <= 24 and gp["w"] > 0 and gp["h"] > 0, p["title"]

    # No hard-coded datasource uid anywhere: only the ${datasource} variable (or Grafana's
    # built-in annotations source).
    for m in re.finditer(r'"uid":\s*"([^"]*)"', path.read_text()):
        assert m.group(1) in {doc["uid"], "${datasource}", "-- Grafana --"}, m.group(0)


def test_red_dashboard_has_service_variable_and_quantiles():
    doc = json.loads((MONITORING / "dashboards" / "recsys-red.json").read_text())
    assert "service" in {v["name"] for v in doc["templating"]["list"]}
    exprs = " ".join(t["expr"] for p in _panels(doc) for t in p.get("targets", []))
    for q in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({q}," in exprs
    assert 'service=~"$service"' in exprs


def test_dashboards_are_generated():
    """The JSON files are what monitoring/generate_dashboards.py writes."""
    spec = importlib.util.spec_from_file_location("gen", MONITORING / "generate_dashboards.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    rendered = gen.render()
    assert sorted(rendered) == [p.name for p in DASHBOARDS]
    for name, text in rendered.items():
        assert (MONITORING / "dashboards" / name).read_text() == text, (
            f"{name} is stale: run python3 monitoring/generate_dashboards.py"
        )


# --- metric names -------------------------------------------------------------------------


def test_queried_metrics_are_in_the_catalogue():
    catalogue = _catalogue_series()
    recorded = _recorded()
    assert catalogue, "docs/metrics.md lists no metric"
    unknown = {}
    for name, where in _queried().items():
        if ":" in name:
            if name not in recorded:
                unknown[name] = where
        elif name not in catalogue:
            unknown[name] = where
    assert not unknown, f"metrics not in docs/metrics.md (or unknown recording rules): {unknown}"


def test_queried_metrics_are_defined_in_code():
    """Fails until every catalogue metric a dashboard/rule uses exists under services/."""
    code = _code_metrics()
    catalogue = _catalogue_series()
    missing = sorted(n for n in _queried() if ":" not in n and n not in code)
    assert not missing, f"queried but not defined in services/**/*.py: {missing}"
    wrong_type = {
        n: (catalogue.get(n), code[n])
        for n in _queried()
        if n in code and n in catalogue and catalogue[n] != code[n]
    }
    assert not wrong_type, f"type in docs/metrics.md differs from the code: {wrong_type}"


def test_every_catalogue_metric_is_used():
    """Each catalogue metric appears on a dashboard or in a rule (nothing is invisible)."""
    queried = set(_queried())
    unused = [name for name, kind in _catalogue().items() if not (_exposed(name, kind) & queried)]
    assert not unused, f"catalogue metrics on no dashboard/rule: {unused}"


# --- alerts and runbooks ------------------------------------------------------------------


def test_alert_rules_have_labels_annotations_and_runbooks():
    alerts = _alerts()
    names = [a["alert"] for a in alerts]
    assert len(names) == len(set(names)), "duplicate alert names"
    expected = {
        "GatewayLatencyErrorBudgetBurnFast", "GatewayLatencyErrorBudgetBurnSlow",
        "GatewayAvailabilityErrorBudgetBurnFast", "GatewayAvailabilityErrorBudgetBurnSlow",
        "RecommendationFallbackRateHigh", "RecommendationModelStale",
        "EventIngestErrorRateHigh", "RealtimeUpdateFailures", "EventLagHigh",
    }  # fmt: skip
    assert expected <= set(names)
    for a in alerts:
        assert a["labels"]["severity"] in SEVERITIES, a["alert"]
        ann = a["annotations"]
        for key in ("summary", "description", "runbook_url"):
            assert ann.get(key, "").strip(), f"{a['alert']}: annotation {key} missing"
        assert ann["runbook_url"] == f"{RUNBOOK_BASE}{a['alert']}.md", a["alert"]
        runbook = RUNBOOKS / f"{a['alert']}.md"
        assert runbook.is_file(), f"missing runbook {runbook}"
        text = runbook.read_text()
        assert text.startswith(f"# {a['alert']}"), runbook
        for section in ("## Meaning", "## Impact", "## Diagnosis", "## Mitigation",
                        "## Verification"):  # fmt: skip
            assert section in text, f"{runbook.name}: missing section {section}"


def test_every_runbook_belongs_to_an_alert():
    names = {a["alert"] for a in _alerts()}
    for path in RUNBOOKS.glob("*.md"):
        if path.name != "README.md":
            assert path.stem in names, f"{path.name} documents no alert"


def test_every_alert_is_unit_tested_firing_and_not_firing():
    firing: set[str] = set()
    silent: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {a["alert"] for a in _alerts()}
    assert names - firing == set(), f"alerts never tested firing: {names - firing}"
    assert names - silent == set(), f"alerts never tested not firing: {names - silent}"


# --- promtool -----------------------------------------------------------------------------


def test_promtool_check_rules():
    assert RULE_FILES
    proc = subprocess.run(
        [_promtool(), "check", "rules", *map(str, RULE_FILES)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_test_rules():
    assert RULE_TESTS
    proc = subprocess.run(
        [_promtool(), "test", "rules", *map(str, RULE_TESTS)],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
