#!/usr/bin/env node
// The web checks' npm packages must run on the oldest Node.js that package.json's
// "engines" allows (>=18.19: Debian 12's nodejs, 18.20.4, is what scripts/deps.sh installs
// on a fresh machine), whatever Node.js runs this check (a machine with Node.js 20 would
// never notice a package that refuses 18 otherwise).
//
//     node tests/web/check_engines.mjs        (after `npm ci` in tests/web)
//
// For every package in package-lock.json that declares engines.node, the range must
// accept the minimum version of package.json's engines.node; this Node.js must satisfy
// package.json's range too. Each problem goes to stderr and the exit status is 1; on
// success one line on stdout. Version ranges are read with `semver`, npm's own parser.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import semver from "semver";

const HERE = dirname(fileURLToPath(import.meta.url));
const pkg = JSON.parse(readFileSync(join(HERE, "package.json"), "utf8"));
const lock = JSON.parse(readFileSync(join(HERE, "package-lock.json"), "utf8"));

const problems = [];
const range = pkg.engines && pkg.engines.node;
const floor = range && semver.validRange(range) ? semver.minVersion(range) : null;
if (!floor) {
  console.error(`check_engines: package.json: engines.node must be a version range, got ${JSON.stringify(range)}`);
  process.exit(1);
}
if (!semver.satisfies(process.version, range)) {
  problems.push(`this Node.js ${process.version} is outside package.json's engines.node ${range}`);
}

let checked = 0;
let declared = 0;
for (const [where, meta] of Object.entries(lock.packages || {})) {
  if (!where.startsWith("node_modules/")) continue;
  checked++;
  const eng = meta.engines;
  // engines is an object in any current package; an old array form names no node range
  const want = eng && !Array.isArray(eng) && typeof eng === "object" ? eng.node : undefined;
  if (want === undefined) continue;
  declared++;
  const name = `${where.slice("node_modules/".length)}@${meta.version}`;
  if (!semver.validRange(want)) {
    problems.push(`${name}: engines.node ${JSON.stringify(want)} is not a version range`);
  } else if (!semver.satisfies(floor, want)) {
    problems.push(`${name} wants Node.js ${want}: it refuses ${floor.version} (package.json: ${range})`);
  }
}
if (checked === 0) problems.push("package-lock.json lists no package");

if (problems.length) {
  console.error(`check_engines: ${problems.length} problem(s); pin versions that run on Node.js ${floor.version}:`);
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
console.log(`check_engines: ${checked} locked packages (${declared} declare engines.node) accept Node.js ` +
  `${floor.version} (package.json: ${range}); running on ${process.version}`);
