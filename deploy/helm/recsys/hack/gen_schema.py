# ruff: noqa: E501 - the value descriptions below are table rows, clearer unwrapped
"""Generate values.schema.json and the values table of README.md from values.yaml.

Run from anywhere: `python deploy/helm/recsys/hack/gen_schema.py`. Types come from the
defaults, with the overrides below; every object has `additionalProperties: false`
(free-form maps such as labels use `patternProperties` with a key pattern instead).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

CHART = Path(__file__).resolve().parent.parent
SERVICES = ["gateway", "event-ingest", "feature-serving", "candidate-gen", "ranking"]
KEY = r"^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$"
ENV_KEY = r"^[A-Za-z_][A-Za-z0-9_]*$"
DNS = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


def str_map(key=KEY):
    return {
        "type": "object",
        "patternProperties": {key: {"type": "string"}},
        "additionalProperties": False,
    }


def strict(props, required=None):
    s = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        s["required"] = required
    return s


TOLERATIONS = {
    "type": "array",
    "items": strict(
        {
            "key": {"type": "string"},
            "operator": {"type": "string", "enum": ["Exists", "Equal"]},
            "value": {"type": "string"},
            "effect": {
                "type": "string",
                "enum": ["", "NoSchedule", "PreferNoSchedule", "NoExecute"],
            },
            "tolerationSeconds": {"type": "integer"},
        }
    ),
}
QUANTITY = {"type": ["string", "integer"], "pattern": r"^[0-9.]+[A-Za-z]*$"}
RESOURCES = strict(
    {
        k: strict({"cpu": QUANTITY, "memory": QUANTITY, "ephemeral-storage": QUANTITY})
        for k in ("requests", "limits")
    }
)
IMAGE = strict(
    {
        "repository": {"type": "string", "minLength": 1},
        "tag": {"type": "string"},
    }
)
WORKLOAD = strict(
    {
        "image": strict({"repository": {"type": "string"}, "tag": {"type": "string"}}),
        "env": str_map(ENV_KEY),
        "replicaCount": {"type": "integer", "minimum": 0},
    }
)
EXPERIMENTS = {
    "type": "array",
    "items": strict(
        {
            "name": {"type": "string", "pattern": DNS, "maxLength": 30},
            "salt": {"type": "string", "minLength": 1},
            "variants": {
                "type": "array",
                "minItems": 1,
                "items": strict(
                    {
                        "name": {"type": "string", "pattern": DNS, "maxLength": 20},
                        "weight": {"type": "integer", "minimum": 0, "maximum": 100},
                        "workloads": strict({"candidate-gen": WORKLOAD, "ranking": WORKLOAD}),
                    },
                    ["name", "weight"],
                ),
            },
        },
        ["name", "salt", "variants"],
    ),
}
WEIGHTS = {
    "type": "object",
    "patternProperties": {KEY: {"type": "number"}},
    "additionalProperties": False,
}
PROFILES = strict(
    {
        "profiles": {
            "type": "object",
            "patternProperties": {KEY: WEIGHTS},
            "additionalProperties": False,
        },
        "surface_defaults": str_map(),
        "cold_start_profile": {"type": "string"},
    }
)

# Overrides by dotted path ('*' matches one key).
OVERRIDES = {
    "imagePullPolicy": {"type": "string", "enum": ["Always", "IfNotPresent", "Never"]},
    "imagePullSecrets": {"type": "array", "items": strict({"name": {"type": "string"}}, ["name"])},
    "commonLabels": str_map(),
    "config.logLevel": {
        "type": "string",
        "enum": ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
    },
    "config.httpTimeoutSeconds": {"type": "number", "exclusiveMinimum": 0},
    "config.shutdownGraceSeconds": {"type": "number", "minimum": 0},
    "topologySpread.whenUnsatisfiable": {
        "type": "string",
        "enum": ["ScheduleAnyway", "DoNotSchedule"],
    },
    "services.*.image": IMAGE,
    "services.*.resources": RESOURCES,
    "services.*.env": str_map(ENV_KEY),
    "services.*.podAnnotations": str_map(),
    "services.*.nodeSelector": str_map(),
    "services.*.tolerations": TOLERATIONS,
    "services.*.pdb.maxUnavailable": {"type": ["integer", "string"]},
    "services.*.autoscaling.targetCPUUtilizationPercentage": {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
    },
    "rankingProfiles.overrides": PROFILES,
    "experiments": EXPERIMENTS,
    "mlflow.image": IMAGE,
    "mlflow.resources": RESOURCES,
    "mlflow.nodeSelector": str_map(),
    "mlflow.tolerations": TOLERATIONS,
    "jobs.image": IMAGE,
    "jobs.resources": RESOURCES,
    "jobs.nodeSelector": str_map(),
    "jobs.tolerations": TOLERATIONS,
    "jobs.*.schedule": {"type": "string", "minLength": 9},
    "istio.gateway.selector": str_map(),
    "serviceMonitor.labels": str_map(),
    "prometheusRule.labels": str_map(),
    "grafanaDashboards.labels": str_map(),
    "redis.image": IMAGE,
    "redis.resources": RESOURCES,
    "postgresql.image": IMAGE,
    "postgresql.resources": RESOURCES,
    "loadTest.image": IMAGE,
    "loadTest.resources": RESOURCES,
}

DESCRIPTIONS = {
    "nameOverride": "Replaces the chart name in object names.",
    "fullnameOverride": "Replaces the release-chart prefix of object names.",
    "imagePullPolicy": "Pull policy of every container.",
    "imagePullSecrets": "Image pull secrets (`[{name: ...}]`) for every pod.",
    "commonLabels": "Extra labels on every object.",
    "config": "Environment shared by the five services.",
    "config.logLevel": "`LOG_LEVEL` of services and jobs.",
    "config.redisPrefix": "`REDIS_PREFIX`: prefix of every Redis key.",
    "config.httpTimeoutSeconds": "`HTTP_TIMEOUT_SECONDS`: default per-call timeout.",
    "config.shutdownGraceSeconds": "`SHUTDOWN_GRACE_SECONDS`: drain time after SIGTERM (keep below terminationGracePeriodSeconds).",
    "config.otlpEndpoint": "When set, `OTEL_EXPORTER_OTLP_ENDPOINT` (and `OTEL_SERVICE_NAME`) of every service.",
    "secrets": "Where API keys and database/Redis URLs come from.",
    "secrets.create": "Create one development Secret from `secrets.dev` and use it instead of the existing Secrets below.",
    "secrets.dev": "Values of the development Secret (only with `secrets.create`).",
    "secrets.dev.apiKeys": "`RECSYS_API_KEYS`: comma-separated client API keys.",
    "secrets.dev.adminKey": "`RECSYS_ADMIN_KEY`: admin key (erasure, experiment changes).",
    "secrets.dev.databaseUrl": "`DATABASE_URL`; empty: the in-chart PostgreSQL.",
    "secrets.dev.redisUrl": "`REDIS_URL`; empty: the in-chart Redis.",
    "secrets.dev.mlflowBackendStoreUri": "MLflow backend store URI; empty: the `mlflow` database of the in-chart PostgreSQL.",
    "secrets.apiKeys": "Secret reference of `RECSYS_API_KEYS` (gateway).",
    "secrets.adminKey": "Secret reference of `RECSYS_ADMIN_KEY` (gateway).",
    "secrets.databaseUrl": "Secret reference of `DATABASE_URL` (event-ingest, feature-serving, candidate-gen, jobs).",
    "secrets.redisUrl": "Secret reference of `REDIS_URL` (gateway, event-ingest, feature-serving, candidate-gen, jobs).",
    "secrets.mlflowBackendStoreUri": "Secret reference of the MLflow backend store URI (Postgres).",
    "secrets.*.existingSecret": "Name of an existing Secret.",
    "secrets.*.key": "Key in that Secret.",
    "topologySpread": "Topology spread constraints of Deployments.",
    "topologySpread.enabled": "Spread pods over nodes (and zones).",
    "topologySpread.maxSkew": "maxSkew of each constraint.",
    "topologySpread.whenUnsatisfiable": "Node spread behaviour (zone spread is always ScheduleAnyway).",
    "topologySpread.zoneSpread": "Also spread over `topology.kubernetes.io/zone`.",
    "services": "The five services; every one listens on 8080 with /healthz, /readyz, /metrics.",
    "services.*": "One service: Deployment, Service, HPA, PDB, ServiceAccount.",
    "services.*.image": "Container image.",
    "services.*.image.repository": "Image repository.",
    "services.*.image.tag": "Image tag (or `sha256:` digest); empty: the chart appVersion.",
    "services.*.replicaCount": "Replicas when autoscaling is off.",
    "services.*.resources": "Container resources (requests/limits: cpu, memory, ephemeral-storage).",
    "services.*.autoscaling": "HorizontalPodAutoscaler (autoscaling/v2) on CPU.",
    "services.*.autoscaling.enabled": "Render the HPA (and leave replicas to it).",
    "services.*.autoscaling.minReplicas": "Minimum replicas.",
    "services.*.autoscaling.maxReplicas": "Maximum replicas.",
    "services.*.autoscaling.targetCPUUtilizationPercentage": "Target average CPU utilisation.",
    "services.*.pdb": "PodDisruptionBudget.",
    "services.*.pdb.enabled": "Render the PDB.",
    "services.*.pdb.maxUnavailable": "maxUnavailable (number or percentage).",
    "services.*.env": "Extra plain environment variables (name: value), e.g. `GATEWAY_CACHE_TTL_SECONDS`.",
    "services.*.podAnnotations": "Extra pod annotations.",
    "services.*.nodeSelector": "Pod nodeSelector.",
    "services.*.tolerations": "Pod tolerations.",
    "services.*.terminationGracePeriodSeconds": "Pod termination grace period.",
    "rankingProfiles": "Ranking weight profiles ConfigMap (`RANKING_PROFILES_PATH`).",
    "rankingProfiles.overrides": "Merged over files/ranking-profiles.json (`profiles`, `surface_defaults`, `cold_start_profile`).",
    "experiments": "A/B experiments: `[{name, salt, variants: [{name, weight, workloads?}]}]`; weights add up to 100. Feeds the gateway ConfigMap (`EXPERIMENTS_PATH`) and, with Istio VirtualService + DestinationRule, header routes and per-variant Deployments for `workloads` (`candidate-gen` / `ranking`: `image`, `env`, `replicaCount`).",
    "mlflow": "MLflow tracking server and model registry.",
    "mlflow.enabled": "Deploy the MLflow server.",
    "mlflow.image": "MLflow image (deploy/mlflow/Dockerfile).",
    "mlflow.image.repository": "Image repository.",
    "mlflow.image.tag": "Image tag; empty: the chart appVersion.",
    "mlflow.replicaCount": "Replicas (one with a ReadWriteOnce artifact PVC).",
    "mlflow.port": "Server and Service port.",
    "mlflow.resources": "Container resources.",
    "mlflow.artifacts": "Artifact store: a PVC, or an object store URI.",
    "mlflow.artifacts.uri": "Artifact destination URI (e.g. `s3://bucket/mlflow`); empty: a PVC at /mlflow/artifacts.",
    "mlflow.artifacts.s3EndpointUrl": "`MLFLOW_S3_ENDPOINT_URL` for S3-compatible stores.",
    "mlflow.artifacts.credentialsSecret": "Secret loaded as environment (e.g. AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).",
    "mlflow.artifacts.persistence": "The artifact PVC (when `uri` is empty).",
    "mlflow.artifacts.persistence.size": "PVC size.",
    "mlflow.artifacts.persistence.storageClass": "PVC storage class; empty: the cluster default.",
    "mlflow.nodeSelector": "Pod nodeSelector.",
    "mlflow.tolerations": "Pod tolerations.",
    "jobs": "Batch jobs from the jobs image (ml/Dockerfile, `recsys` CLI).",
    "jobs.image": "Jobs image.",
    "jobs.image.repository": "Image repository.",
    "jobs.image.tag": "Image tag; empty: the chart appVersion.",
    "jobs.resources": "Container resources of every job.",
    "jobs.nodeSelector": "Pod nodeSelector.",
    "jobs.tolerations": "Pod tolerations.",
    "jobs.migrate": "`recsys migrate` as a Helm hook (pre-install,pre-upgrade; post-install when the database or Secret is in-chart).",
    "jobs.migrate.enabled": "Run migrations.",
    "jobs.migrate.hookWeight": "helm.sh/hook-weight.",
    "jobs.train": "CronJob `recsys train` (daily).",
    "jobs.trending": "CronJob `recsys rebuild-realtime` (hourly trending refresh).",
    "jobs.materialize": "CronJob `recsys materialize` (Feast materialisation).",
    "jobs.*.enabled": "Render it.",
    "jobs.*.schedule": "Cron schedule.",
    "jobs.*.backoffLimit": "Job backoffLimit.",
    "jobs.*.activeDeadlineSeconds": "Job activeDeadlineSeconds.",
    "feast": "Feature store: the `recsys feast-apply` Job (post-install/post-upgrade hook) and the Feast settings of feature-serving, event-ingest and the jobs.",
    "feast.enabled": "Run feast apply.",
    "feast.project": "`FEAST_PROJECT`: the Feast project name.",
    "feast.backend": "`FEATURE_BACKEND` of feature-serving: `feast` (online store) or `redis` (interim direct reads).",
    "feast.repoPath": "`FEAST_REPO_PATH`: feature repo path inside the images.",
    "feast.hookWeight": "helm.sh/hook-weight.",
    "feast.backoffLimit": "Job backoffLimit.",
    "feast.activeDeadlineSeconds": "Job activeDeadlineSeconds.",
    "istio": "Optional Istio objects (need Istio's CRDs).",
    "istio.gateway": "Istio Gateway plus the public VirtualService to the gateway Service.",
    "istio.gateway.enabled": "Render them.",
    "istio.gateway.selector": "Ingress gateway pod selector.",
    "istio.gateway.hosts": "Public hosts.",
    "istio.gateway.tlsCredentialName": "TLS Secret of the ingress gateway; empty: plain HTTP on 80.",
    "istio.virtualService": "Mesh VirtualServices of the internal services (header routes per experiment variant).",
    "istio.virtualService.enabled": "Render them.",
    "istio.virtualService.timeoutSeconds": "Route timeout of the public VirtualService.",
    "istio.destinationRule": "DestinationRules (ISTIO_MUTUAL, outlier detection, `stable` + variant subsets).",
    "istio.destinationRule.enabled": "Render them.",
    "istio.peerAuthentication": "PeerAuthentication mTLS STRICT for the release's pods.",
    "istio.peerAuthentication.enabled": "Render it.",
    "istio.authorizationPolicy": "AuthorizationPolicies: only the ingress calls the gateway, only the gateway calls the internal services (and ranking calls feature-serving).",
    "istio.authorizationPolicy.enabled": "Render them.",
    "istio.authorizationPolicy.trustDomain": "Mesh trust domain of the principals.",
    "istio.authorizationPolicy.ingressPrincipals": "Principals allowed to call the gateway.",
    "istio.authorizationPolicy.monitoringNamespaces": "Namespaces allowed to GET /metrics.",
    "serviceMonitor": "Prometheus Operator ServiceMonitor of the five services.",
    "serviceMonitor.enabled": "Render it.",
    "serviceMonitor.interval": "Scrape interval.",
    "serviceMonitor.scrapeTimeout": "Scrape timeout.",
    "serviceMonitor.labels": "Extra labels (e.g. the Prometheus `release` selector).",
    "prometheusRule": "PrometheusRule from files/rules/*.yaml (monitoring/rules).",
    "prometheusRule.enabled": "Render it.",
    "prometheusRule.labels": "Extra labels.",
    "grafanaDashboards": 'One ConfigMap per files/dashboards/*.json (monitoring/dashboards), label `grafana_dashboard: "1"`.',
    "grafanaDashboards.enabled": "Render them.",
    "grafanaDashboards.labels": "Extra labels.",
    "networkPolicy": "NetworkPolicies: default deny, then the needed flows only.",
    "networkPolicy.enabled": "Render them.",
    "networkPolicy.ingressNamespaces": "Namespaces of the ingress controllers allowed to reach the gateway.",
    "networkPolicy.monitoringNamespaces": "Namespaces allowed to scrape the services (and to receive OTLP).",
    "networkPolicy.dnsNamespace": "Namespace of the cluster DNS.",
    "networkPolicy.externalPostgres": "External PostgreSQL (when `postgresql.enabled` is false).",
    "networkPolicy.externalPostgres.cidrs": "Allowed CIDRs; empty: any address on the port.",
    "networkPolicy.externalPostgres.port": "Port.",
    "networkPolicy.externalRedis": "External Redis (when `redis.enabled` is false).",
    "networkPolicy.externalRedis.cidrs": "Allowed CIDRs; empty: any address on the port.",
    "networkPolicy.externalRedis.port": "Port.",
    "networkPolicy.objectStore": "MLflow artifact store egress (when `mlflow.artifacts.uri` is set).",
    "networkPolicy.objectStore.cidrs": "Allowed CIDRs; empty: any address on the port.",
    "networkPolicy.objectStore.port": "Port.",
    "redis": "Development Redis StatefulSet.",
    "redis.enabled": "Deploy it (else `REDIS_URL` from the Secret).",
    "redis.image": "Pinned Redis image.",
    "redis.image.repository": "Image repository.",
    "redis.image.tag": "Image tag.",
    "redis.resources": "Container resources.",
    "redis.persistence": "Data volume.",
    "redis.persistence.size": "PVC size.",
    "redis.persistence.storageClass": "Storage class; empty: the cluster default.",
    "postgresql": "Development PostgreSQL StatefulSet (databases `recsys` and `mlflow`).",
    "postgresql.enabled": "Deploy it (else `DATABASE_URL` from the Secret).",
    "postgresql.image": "Pinned PostgreSQL image.",
    "postgresql.image.repository": "Image repository.",
    "postgresql.image.tag": "Image tag.",
    "postgresql.auth": "Credentials (development only).",
    "postgresql.auth.username": "Owner user.",
    "postgresql.auth.database": "Application database.",
    "postgresql.auth.password": "Password (stored in a chart Secret).",
    "postgresql.auth.mlflowDatabase": "MLflow backend database.",
    "postgresql.resources": "Container resources.",
    "postgresql.persistence": "Data volume.",
    "postgresql.persistence.size": "PVC size.",
    "postgresql.persistence.storageClass": "Storage class; empty: the cluster default.",
    "loadTest": "k6 Job running tests/load/home.js against the gateway Service.",
    "loadTest.enabled": "Render the Job (one per release revision).",
    "loadTest.image": "Pinned grafana/k6 image.",
    "loadTest.image.repository": "Image repository.",
    "loadTest.image.tag": "Image tag.",
    "loadTest.rate": "Requests per second (`RATE`).",
    "loadTest.duration": "Duration (`DURATION`).",
    "loadTest.users": "Known user ids (`USERS`).",
    "loadTest.apiKey": "API key sent by k6 (`API_KEY`).",
    "loadTest.backoffLimit": "Job backoffLimit.",
    "loadTest.resources": "Container resources.",
}


def lookup(table, path):
    if path in table:
        return table[path]
    parts = path.split(".")
    for i in range(len(parts)):
        cand = ".".join(parts[:i] + ["*"] + parts[i + 1 :])
        if cand in table:
            return table[cand]
    return None


def infer(value, path):
    o = lookup(OVERRIDES, path)
    if o is not None:
        return o
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "number"}
    if isinstance(value, str):
        return {"type": "string"}
    if isinstance(value, list):
        if (
            value
            and all(isinstance(v, str) for v in value)
            or path.endswith(("cidrs", "Namespaces", "Principals", "hosts"))
        ):
            return {"type": "array", "items": {"type": "string"}}
        raise SystemExit(f"no schema for list {path}")
    if isinstance(value, dict):
        if not value:
            raise SystemExit(f"no schema for empty map {path}")
        return strict({k: infer(v, f"{path}.{k}" if path else k) for k, v in value.items()})
    raise SystemExit(f"no schema for {path}")


def add_descriptions(schema, path=""):
    d = lookup(DESCRIPTIONS, path) if path else None
    if d:
        schema["description"] = d
    for k, sub in schema.get("properties", {}).items():
        if "description" not in sub or path:
            add_descriptions(sub, f"{path}.{k}" if path else k)


def rows(value, schema, path=""):
    out = []
    desc = lookup(DESCRIPTIONS, path)
    if desc is None:
        raise SystemExit(f"no description for {path}")
    typ = schema.get("type")
    typ = "/".join(typ) if isinstance(typ, list) else typ
    leaf = path.endswith(("resources", "overrides")) or not (
        isinstance(value, dict)
        and value
        and "properties" in schema
        and set(value) <= set(schema["properties"])
        and path not in ("rankingProfiles.overrides",)
    )
    if leaf:
        out.append((path, typ, json.dumps(value), desc))
    else:
        out.append((path, typ, "", desc))
        for k, v in value.items():
            out.extend(rows(v, schema["properties"][k], f"{path}.{k}"))
    return out


def main():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "recsys chart values",
        **strict({k: infer(v, k) for k, v in values.items()}),
    }
    # Names referenced by objects must be non-empty.
    for ref in ("apiKeys", "adminKey", "databaseUrl", "redisUrl", "mlflowBackendStoreUri"):
        p = schema["properties"]["secrets"]["properties"][ref]
        p["required"] = ["existingSecret", "key"]
    add_descriptions(schema)
    (CHART / "values.schema.json").write_text(json.dumps(schema, indent=2) + "\n")

    table = ["| key | type | default | description |", "| --- | --- | --- | --- |"]
    for k, v in values.items():
        for key, typ, default, desc in rows(v, schema["properties"][k], k):
            default = f"`{default}`" if default else ""
            cells = [f"`{key}`", typ, default, desc]
            table.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    readme = CHART / "README.md"
    text = readme.read_text()
    start, end = "<!-- values:start -->", "<!-- values:end -->"
    text = re.sub(
        re.escape(start) + ".*" + re.escape(end),
        start + "\n" + "\n".join(table) + "\n" + end,
        text,
        flags=re.S,
    )
    readme.write_text(text)


if __name__ == "__main__":
    main()
