#!/usr/bin/env node
// Validate Istio and Prometheus Operator objects against their CRD schemas with the
// @kubernetes-models packages (installed by `make tools` into .tools/node, pinned by
// deploy/tools/package.json + package-lock.json).
//
//   node deploy/tools/validate_crds.mjs objects.json      # a JSON array of objects
//   node deploy/tools/validate_crds.mjs - < objects.json  # the same on stdin
//   node deploy/tools/validate_crds.mjs --kinds           # the apiVersion/kind it knows
//
// Prints one JSON document: {"results": [{"index", "apiVersion", "kind", "name", "ok",
// "supported", "error"}...]}; exits 1 when an object is invalid or of an unknown kind.
// The modules are imported from RECSYS_NODE_MODULES (default <repo>/.tools/node/node_modules)
// by the same subpaths as `import {VirtualService} from
// "@kubernetes-models/istio/networking.istio.io/v1beta1"`, resolved through each
// package's "exports" map, so this script needs no node_modules folder beside it.

import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const NODE_MODULES = resolve(
  process.env.RECSYS_NODE_MODULES ?? join(HERE, "..", "..", ".tools", "node", "node_modules"),
);

// Every group/version whose kinds we validate.
const MODULES = [
  "@kubernetes-models/istio/networking.istio.io/v1",
  "@kubernetes-models/istio/networking.istio.io/v1beta1",
  "@kubernetes-models/istio/networking.istio.io/v1alpha3",
  "@kubernetes-models/istio/security.istio.io/v1",
  "@kubernetes-models/istio/security.istio.io/v1beta1",
  "@kubernetes-models/istio/telemetry.istio.io/v1",
  "@kubernetes-models/istio/telemetry.istio.io/v1alpha1",
  "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
  "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1alpha1",
];

function resolveExport(specifier) {
  const parts = specifier.split("/");
  const pkgName = parts.slice(0, 2).join("/");
  const subpath = parts.length > 2 ? `./${parts.slice(2).join("/")}` : ".";
  const pkgDir = join(NODE_MODULES, pkgName);
  const pkgJson = join(pkgDir, "package.json");
  if (!existsSync(pkgJson)) {
    throw new Error(`${pkgName} is not installed in ${NODE_MODULES}: run \`make tools\``);
  }
  const entry = JSON.parse(readFileSync(pkgJson, "utf8")).exports?.[subpath];
  const target = typeof entry === "string" ? entry : entry?.import ?? entry?.default;
  if (!target) return null; // this package version has no such group/version
  return pathToFileURL(join(pkgDir, target)).href;
}

async function loadModels() {
  const models = new Map();
  for (const specifier of MODULES) {
    const url = resolveExport(specifier);
    if (!url) continue;
    const mod = await import(url);
    for (const value of Object.values(mod)) {
      if (typeof value === "function" && value.apiVersion && value.kind) {
        models.set(`${value.apiVersion}/${value.kind}`, value);
      }
    }
  }
  return models;
}

function readInput(arg) {
  const text = arg === "-" || arg === undefined ? readFileSync(0, "utf8") : readFileSync(arg, "utf8");
  const data = JSON.parse(text);
  return Array.isArray(data) ? data : [data];
}

function describe(err) {
  if (Array.isArray(err?.errors) && err.errors.length) {
    return err.errors
      .map((e) => `${e.instancePath || "/"} ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ""}`)
      .join("; ");
  }
  return String(err?.message ?? err);
}

async function main() {
  const models = await loadModels();
  const arg = process.argv[2];
  if (arg === "--kinds") {
    console.log(JSON.stringify([...models.keys()].sort(), null, 1));
    return 0;
  }
  const objects = readInput(arg);
  const results = objects.map((obj, index) => {
    const key = `${obj?.apiVersion}/${obj?.kind}`;
    const base = { index, apiVersion: obj?.apiVersion, kind: obj?.kind, name: obj?.metadata?.name };
    const Model = models.get(key);
    if (!Model) return { ...base, ok: false, supported: false, error: `no model for ${key}` };
    try {
      new Model(obj).validate();
      return { ...base, ok: true, supported: true, error: null };
    } catch (err) {
      return { ...base, ok: false, supported: true, error: describe(err) };
    }
  });
  console.log(JSON.stringify({ results }, null, 1));
  return results.every((r) => r.ok) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(String(err?.stack ?? err));
    process.exit(2);
  },
);
