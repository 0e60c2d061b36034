#!/usr/bin/env node
// Check postern's OpenAPI document.
//
//     node tests/web/openapi_check.mjs [file]      (default: src/master/openapi.json)
//
// 1. It must be valid OpenAPI 3.0 (@seriousme/openapi-schema-validator, the JSON schema
//    of the specification).
// 2. Every "$ref" must be local ("#/...") and point at something that exists.
// 3. Every operation must have an operationId (unique) and at least one 4xx response,
//    and every {name} in a path template must be declared as a path parameter. The one
//    exception: a public operation (`security: []`) that takes no parameters and no body
//    has no client error to document (postern's GET /openapi.json and /docs); it is
//    listed on stdout instead.
//
// Prints each problem on stderr and exits 1 when there is any; 2 when the file cannot be
// read or parsed; 0 (with a one-line summary on stdout) when the document is good.
import { readFileSync } from "node:fs";
import { resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { Validator } from "@seriousme/openapi-schema-validator";

const HERE = dirname(fileURLToPath(import.meta.url));
const DEFAULT = resolve(HERE, "..", "..", "src", "master", "openapi.json");
const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

const file = process.argv[2] ? resolve(process.argv[2]) : DEFAULT;

let doc;
try {
  doc = JSON.parse(readFileSync(file, "utf8"));
} catch (e) {
  console.error(`openapi_check: ${file}: ${e.message}`);
  process.exit(2);
}

const problems = [];

// ---- 1. the OpenAPI schema ----------------------------------------------------------
if (typeof doc.openapi !== "string" || !/^3\.0\.\d+$/.test(doc.openapi)) {
  problems.push(`openapi: expected a 3.0.x version, got ${JSON.stringify(doc.openapi)}`);
}
const validator = new Validator();
const res = await validator.validate(structuredClone(doc));
if (!res.valid) {
  const errs = Array.isArray(res.errors) ? res.errors : [res.errors];
  for (const e of errs) {
    if (e && typeof e === "object") {
      const where = e.instancePath || e.dataPath || "";
      const extra = e.params ? " " + JSON.stringify(e.params) : "";
      problems.push(`schema: ${where || "/"} ${e.message || ""}${extra}`.trim());
    } else {
      problems.push(`schema: ${String(e)}`);
    }
  }
}

// ---- 2. every $ref resolves -----------------------------------------------------------
function pointer(root, ref) {
  // "#/a/b~1c" -> root.a["b/c"]; undefined when any step is missing
  const parts = ref.slice(2).split("/").map((p) => decodeURIComponent(p).replace(/~1/g, "/").replace(/~0/g, "~"));
  let cur = root;
  for (const p of parts) {
    if (cur === null || typeof cur !== "object" || !Object.prototype.hasOwnProperty.call(cur, p)) return undefined;
    cur = cur[p];
  }
  return cur;
}

let refCount = 0;
(function walk(node, path) {
  if (Array.isArray(node)) {
    node.forEach((v, i) => walk(v, `${path}/${i}`));
    return;
  }
  if (node === null || typeof node !== "object") return;
  for (const [k, v] of Object.entries(node)) {
    const here = `${path}/${k.replace(/~/g, "~0").replace(/\//g, "~1")}`;
    if (k === "$ref" && typeof v === "string") {
      refCount++;
      if (!v.startsWith("#/")) problems.push(`$ref: ${here}: ${v} is not a local reference`);
      else if (pointer(doc, v) === undefined) problems.push(`$ref: ${here}: ${v} does not resolve`);
    } else {
      walk(v, here);
    }
  }
})(doc, "#");

// ---- 3. operations ---------------------------------------------------------------------
const seenIds = new Map();
const exempt = [];
let opCount = 0;
for (const [path, item] of Object.entries(doc.paths || {})) {
  if (!item || typeof item !== "object") continue;
  const templ = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
  const deref = (p) => (p && p.$ref ? pointer(doc, p.$ref) : p);
  const itemParams = (item.parameters || []).map(deref).filter(Boolean);
  for (const method of METHODS) {
    const op = item[method];
    if (!op) continue;
    opCount++;
    const name = `${method.toUpperCase()} ${path}`;
    if (typeof op.operationId !== "string" || op.operationId === "") {
      problems.push(`${name}: no operationId`);
    } else if (seenIds.has(op.operationId)) {
      problems.push(`${name}: operationId ${op.operationId} is also used by ${seenIds.get(op.operationId)}`);
    } else {
      seenIds.set(op.operationId, name);
    }
    const codes = Object.keys(op.responses || {});
    const params0 = itemParams.concat(op.parameters || []);
    const inputless = Array.isArray(op.security) && op.security.length === 0 &&
      params0.length === 0 && !op.requestBody;
    if (!codes.some((c) => /^4(\d\d|XX)$/.test(c))) {
      if (inputless) exempt.push(name);
      else problems.push(`${name}: no 4xx response (has ${codes.join(", ") || "none"})`);
    }
    const params = itemParams.concat((op.parameters || []).map(deref).filter(Boolean));
    for (const t of templ) {
      if (!params.some((p) => p.in === "path" && p.name === t && p.required === true)) {
        problems.push(`${name}: path parameter {${t}} is not declared (in: path, required: true)`);
      }
    }
  }
}
if (opCount === 0) problems.push("paths: no operations");

if (problems.length) {
  console.error(`openapi_check: ${file}: ${problems.length} problem(s)`);
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
console.log(`openapi_check: ${file}: valid OpenAPI ${validator.version}, ` +
  `${opCount} operations, ${refCount} $refs resolved` +
  (exempt.length ? `; no 4xx needed (public, no input): ${exempt.join(", ")}` : ""));
