#!/usr/bin/env node
// The master's MCP endpoint driven by the official TypeScript SDK's client
// (@modelcontextprotocol/sdk: Client + StreamableHTTPClientTransport), as an agent would.
//
//     node tests/web/mcp_check.mjs <mcp url> <key> <listen port> <echo port> <second listen port>
//
// tests/integration/87_master_mcp_test.py starts a master on a fresh database and a TCP echo
// server on <echo port>, then runs this. It connects with the key (Authorization: Bearer),
// lists the tools, and calls every one against the live master: a forwarder
// client://127.0.0.1:<listen>/127.0.0.1:<echo>?mode=1 is created, read, fed real bytes
// (its counters must move), stopped, started, renamed, moved to <second listen port>, its
// logs read, deleted; bad arguments must be JSON-RPC errors -32602 naming the field, a
// missing instance a tool result with isError; a wrong key must be refused (HTTP 401).
// Prints "mcp_check: ok: N checks ..." and exits 0, or names the failed check and exits 1.
import { connect } from "node:net";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const TOOLS = ["list_instances", "get_instance", "create_instance", "update_instance",
  "delete_instance", "get_instance_logs", "get_metrics", "get_info"];
const WAIT_MS = 15000;

const [url, key, listenPort, echoPort, movedPort] = process.argv.slice(2);
if (!url || !key || !listenPort || !echoPort || !movedPort) {
  console.error("usage: mcp_check.mjs <mcp url> <key> <listen port> <echo port> <second listen port>");
  process.exit(2);
}
const overall = setTimeout(() => {
  console.error("mcp_check: FAILED: the whole run took more than 90 s");
  process.exit(1);
}, 90000);

let checks = 0;
function check(cond, what, detail) {
  if (!cond) {
    const extra = detail === undefined ? "" : `: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`;
    throw new Error(`${what}${extra}`);
  }
  checks++;
}

function newClient(withKey) {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${withKey}` } },
  });
  const client = new Client({ name: "postern-mcp-check", version: "1.0.0" });
  return { client, transport };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Call <name>; the result must not be an error; return its structuredContent (or the text).
async function call(client, name, args) {
  const res = await client.callTool({ name, arguments: args });
  check(Array.isArray(res.content) && res.content[0]?.type === "text", `${name}: text content`, res);
  check(res.isError !== true, `${name}(${JSON.stringify(args)}) succeeds`, res.content[0].text);
  return res.structuredContent ?? res.content[0].text;
}

async function until(what, fn) {
  const deadline = Date.now() + WAIT_MS;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last.ok) return last.value;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last?.value)}`);
}

// Send <size> bytes through 127.0.0.1:<port> and read them back (the echo server).
function echoThrough(port, size) {
  return new Promise((resolve, reject) => {
    const data = Buffer.alloc(size, 0x5a);
    let got = 0;
    const s = connect({ host: "127.0.0.1", port: Number(port) }, () => s.write(data));
    const t = setTimeout(() => { s.destroy(); reject(new Error(`echo through ${port}: timed out at ${got}/${size}`)); }, WAIT_MS);
    s.on("data", (b) => {
      got += b.length;
      if (got >= size) { clearTimeout(t); s.end(); resolve(got); }
    });
    s.on("error", (e) => { clearTimeout(t); reject(e); });
  });
}

// Echo <size> bytes through <port>, retrying while the listener is not up yet.
function echoUntil(port, size, what) {
  return until(what, async () => {
    try {
      return { ok: (await echoThrough(port, size)) === size, value: "echoed" };
    } catch (e) {
      return { ok: false, value: String(e) };
    }
  });
}

// The call must be refused as JSON-RPC invalid params naming <field>.
async function expectInvalid(client, name, args, field) {
  let err = null;
  try {
    await client.callTool({ name, arguments: args });
  } catch (e) {
    err = e;
  }
  check(err !== null, `${name}(${JSON.stringify(args)}) is refused`);
  check(err.code === -32602, `${name}(${JSON.stringify(args)}): code -32602`, `${err.code} ${err.message}`);
  check(err.message.includes(`${field}:`), `${name}: the message names ${field}`, err.message);
}

async function main() {
  const t0 = Date.now();
  const { client, transport } = newClient(key);
  await client.connect(transport);
  const server = client.getServerVersion();
  check(server?.name === "postern" && typeof server.version === "string", "serverInfo", server);
  check(client.getServerCapabilities()?.tools !== undefined, "the tools capability");
  await client.ping();
  checks++;

  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name).sort();
  check(JSON.stringify(names) === JSON.stringify([...TOOLS].sort()), "the tool list", names);
  for (const t of tools) {
    check(t.inputSchema?.type === "object" && typeof t.description === "string" && t.description,
      `${t.name}: an input schema and a description`, t);
  }

  const info = await call(client, "get_info", {});
  check(typeof info.ver === "string" && info.instances === 0, "get_info on a fresh master", info);

  const fwd = `client://127.0.0.1:${listenPort}/127.0.0.1:${echoPort}?mode=1`;
  const created = await call(client, "create_instance", { url: fwd, alias: "mcp-fwd" });
  const id = created.id;
  check(/^[0-9a-f]{8}$/.test(id) && created.url === fwd && created.alias === "mcp-fwd",
    "create_instance answers the instance", created);
  const listed = await call(client, "list_instances", {});
  check(listed.instances.length === 1 && listed.instances[0].id === id, "list_instances", listed);
  await until("the forwarder running", async () => {
    const v = await call(client, "get_instance", { id });
    return { ok: v.status === "running" && v.pid > 0, value: v };
  });

  // real bytes through it move its counters (CHECK_POINT every 200 ms)
  const SIZE = 256 * 1024;
  await echoUntil(listenPort, SIZE, "bytes echoed through the forwarder");
  checks++;
  const counters = await until("the forwarder's counters", async () => {
    const v = await call(client, "get_metrics", { id });
    return { ok: v.tcprx >= SIZE && v.tcptx >= SIZE, value: v };
  });
  check(counters.id === id && counters.status === "running", "get_metrics with id", counters);
  const prom = await call(client, "get_metrics", {});
  check(typeof prom === "string" && /^postern_instances[ {]/m.test(prom) && prom.includes(id),
    "get_metrics: the Prometheus page", prom.slice(0, 200));

  let v = await call(client, "update_instance", { id, action: "stop" });
  check(v.status === "stopped", "update_instance stop", v);
  await call(client, "update_instance", { id, action: "start" });
  await until("running again", async () => {
    const g = await call(client, "get_instance", { id });
    return { ok: g.status === "running" && g.pid > 0, value: g };
  });
  v = await call(client, "update_instance", { id, alias: "renamed", restart: false });
  check(v.alias === "renamed" && v.restart === false, "update_instance alias + restart", v);
  const moved = `client://127.0.0.1:${movedPort}/127.0.0.1:${echoPort}?mode=1`;
  v = await call(client, "update_instance", { id, url: moved, action: "restart" });
  check(v.url === moved, "update_instance url", v);
  await echoUntil(movedPort, 1024, "the forwarder on its new port");
  checks++;

  const logs = await call(client, "get_instance_logs", { id, lines: 3 });
  check(logs.id === id && Array.isArray(logs.logs) && logs.logs.length > 0 && logs.logs.length <= 3,
    "get_instance_logs with lines", logs);
  const all = await call(client, "get_instance_logs", { id });
  check(all.logs.length >= logs.logs.length && all.logs.includes(logs.logs.at(-1)),
    "get_instance_logs: the default count holds the last lines", all);

  // argument errors: JSON-RPC -32602 naming the field; nothing changes
  await expectInvalid(client, "get_instance_logs", { id, lines: 0 }, "lines");
  await expectInvalid(client, "update_instance", { id, action: "explode" }, "action");
  await expectInvalid(client, "update_instance", { id }, "arguments");
  await expectInvalid(client, "create_instance", { url: "client://127.0.0.1:99999/127.0.0.1:1" }, "url");
  await expectInvalid(client, "create_instance", {}, "url");
  await expectInvalid(client, "get_instance", { id, surplus: 1 }, "surplus");
  await expectInvalid(client, "no_such_tool", {}, "name");
  const after = await call(client, "get_instance", { id });
  check(after.url === moved && after.alias === "renamed", "refused calls changed nothing", after);

  // a tool failure is a result with isError
  const missing = await client.callTool({ name: "get_instance", arguments: { id: "0badc0de" } });
  check(missing.isError === true && /id: no such instance/.test(missing.content[0].text),
    "get_instance of a missing id: isError", missing);

  const del = await call(client, "delete_instance", { id });
  check(del.deleted === id, "delete_instance", del);
  const gone = await client.callTool({ name: "get_instance", arguments: { id } });
  check(gone.isError === true, "the deleted instance is gone", gone);
  check((await call(client, "list_instances", {})).instances.length === 0, "no instance left");
  await client.close();

  // a wrong key: refused at connect (HTTP 401), no tool runs
  const bad = newClient("0".repeat(64));
  let refused = null;
  try {
    await bad.client.connect(bad.transport);
  } catch (e) {
    refused = e;
  }
  check(refused !== null && /401/.test(`${refused.code} ${refused.message}`), "a wrong key is refused",
    refused && `${refused.code} ${refused.message}`);
  await bad.client.close().catch(() => {});

  clearTimeout(overall);
  console.log(`mcp_check: ok: ${checks} checks in ${((Date.now() - t0) / 1000).toFixed(1)} s ` +
    `(${server.name} ${server.version}, protocol ${transport.protocolVersion ?? "?"})`);
}

main().catch((e) => {
  console.error(`mcp_check: FAILED: ${e.stack || e}`);
  process.exit(1);
});
