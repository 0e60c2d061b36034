#!/usr/bin/env node
// The dashboard of `postern master://`, in a real browser against the real binary.
//
//     node tests/web/dashboard.test.mjs            (from the repository root)
//
// Environment:
//   POSTERN_BIN        the postern binary (default: build/postern in the repository)
//   CHROMIUM           the browser (default: /usr/bin/chromium), driven by playwright-core
//   POSTERN_WEB_WAIT   seconds for each wait (default 20: generous for a loaded 2-core box)
//
// It starts `postern master://127.0.0.1:<free port>?db=<tmp>/m.db` with
// POSTERN_REPORT_INTERVAL=200ms, reads the key from its "API key: ..." line, starts a TCP
// echo server on loopback, then in headless Chromium: a wrong key is refused, the right one
// signs in, a bad URL shows the API's 400 message next to the field, an instance
// `client://127.0.0.1:<p>/127.0.0.1:<echo>?mode=1` is created and seen running, a few MiB
// pushed through it move its counters and the chart, its log shows lines (then live ones),
// it is stopped, its counters reset, it is deleted; then a hub instance is created in the
// page and a real agent (started here) attaches to it: the hub's panel shows the agent's
// client, its routes and its account's bytes; and the user signs out.
// Every wait is bounded, everything started is stopped by PID in `finally`, any failure
// exits 1 with a message (and a screenshot path); success prints one summary line.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, mkdirSync, existsSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, "..", "..");
const BIN = resolve(process.env.POSTERN_BIN || join(REPO, "build", "postern"));
const BROWSER = process.env.CHROMIUM || "/usr/bin/chromium";
const WAIT = Math.max(1, Number(process.env.POSTERN_WEB_WAIT) || 20) * 1000;
const OVERALL = WAIT * 12; // the whole run, however it goes
const MIB = 1024 * 1024;
const PUSH = 4 * MIB;
const HUB_TOKEN = "5f0c2a9e8b7d4c3a1e6f9b2d0c8a7e41"; // the hub's one account (docs/hub.md §3)

const t0 = Date.now();
let step = "start";
let checks = 0;
let key = "";
const masterOut = [];
const pageProblems = [];
const warnings = [];
let restarting = false;
const started = { master: null, agent: null, redis: null, browserServer: null, browser: null, echo: null, sockets: new Set() };
const agentOut = [];

const redact = (s) => (key ? String(s).split(key).join("<key>") : String(s));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function ok(what) {
  checks++;
  if (process.env.POSTERN_WEB_VERBOSE) console.log(`  ok ${checks} ${what} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}

/** Poll `fn` until it returns a truthy value; throw a clear error after `ms`. */
async function waitFor(what, fn, ms = WAIT) {
  const end = Date.now() + ms;
  let last;
  let lastErr;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > end) {
      const detail = lastErr ? `; last error: ${lastErr.message.split("\n")[0]}` : last !== undefined ? `; last value: ${JSON.stringify(last)}` : "";
      throw new Error(`timed out after ${ms / 1000} s waiting for ${what}${detail}`);
    }
    await sleep(100);
  }
}

function freePort() {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.on("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

function keep(line) {
  masterOut.push(line);
  if (masterOut.length > 400) masterOut.splice(0, masterOut.length - 400);
}

function alive(pid) {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

async function stopPid(pid, name, graceMs) {
  if (!pid || !alive(pid)) return;
  try { process.kill(pid, "SIGTERM"); } catch { /* gone */ }
  const end = Date.now() + graceMs;
  while (alive(pid) && Date.now() < end) await sleep(50);
  if (alive(pid)) {
    console.error(`dashboard.test: ${name} (pid ${pid}) ignored SIGTERM for ${graceMs / 1000} s; SIGKILL`);
    try { process.kill(-pid, "SIGKILL"); } catch { try { process.kill(pid, "SIGKILL"); } catch { /* gone */ } }
  }
}

/** A TCP echo server on loopback. */
function startEcho() {
  return new Promise((res, rej) => {
    const srv = net.createServer((c) => {
      started.sockets.add(c);
      c.on("close", () => started.sockets.delete(c));
      c.on("error", () => {});
      c.pipe(c);
    });
    srv.on("error", rej);
    srv.listen(0, "127.0.0.1", () => res(srv));
  });
}

/** Connect to port (retrying while the instance starts listening), send n bytes, read them back. */
async function pushThrough(port, n) {
  const sock = await waitFor(`a connection to the instance on 127.0.0.1:${port}`, () => new Promise((res) => {
    const s = net.connect(port, "127.0.0.1");
    s.once("connect", () => res(s));
    s.once("error", () => { s.destroy(); res(null); });
  }));
  started.sockets.add(sock);
  return new Promise((res, rej) => {
    const timer = setTimeout(() => { sock.destroy(); rej(new Error(`echo through the instance: ${got} of ${n} bytes back after ${WAIT / 1000} s`)); }, WAIT);
    let got = 0;
    let sent = 0;
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    sock.on("data", (d) => {
      got += d.length;
      if (got >= n) { clearTimeout(timer); sock.end(); started.sockets.delete(sock); res(got); }
    });
    sock.on("error", (e) => { clearTimeout(timer); rej(new Error(`echo through the instance: ${e.message}`)); });
    const write = () => {
      while (sent < n) {
        const part = Math.min(chunk.length, n - sent);
        sent += part;
        if (!sock.write(part === chunk.length ? chunk : chunk.subarray(0, part))) { sock.once("drain", write); return; }
      }
    };
    write();
  });
}

async function startMaster(port, dbDir, first = true) {
  if (!existsSync(BIN)) throw new Error(`no postern binary at ${BIN} (build it, or set POSTERN_BIN)`);
  const url = `master://127.0.0.1:${port}?db=${join(dbDir, "m.db")}`;
  const child = spawn(BIN, [url], {
    env: { ...process.env, POSTERN_REPORT_INTERVAL: "200ms" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true, // its own process group, so a stuck master and its instances can be killed together
  });
  started.master = child;
  let exited = null;
  child.on("exit", (code, sig) => { exited = sig || `code ${code}`; });
  const keyLine = new Promise((res) => {
    let buf = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i).replace(/\r$/, "");
        buf = buf.slice(i + 1);
        const m = /^API key: ([0-9A-Za-z]+)\s*$/.exec(line);
        if (m && !key) { key = m[1]; res(key); }
        keep(line);
      }
    });
  });
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (d) => { for (const l of d.split("\n")) if (l) keep(l); });
  if (first) {
    await waitFor("the master's \"API key: ...\" line on stdout", async () => {
      if (exited) throw new Error(`the master exited (${exited}) before printing its key`);
      return Promise.race([keyLine, sleep(100).then(() => "")]);
    });
    if (!/^[0-9a-f]{64}$/.test(key)) throw new Error("the API key is not 64 lowercase hex characters");
    ok("master printed a 64-hex API key");
  }
  const base = `http://127.0.0.1:${port}`;
  await waitFor(`the master to answer GET ${base}/`, async () => {
    if (exited) throw new Error(`the master exited (${exited})`);
    const r = await fetch(base + "/");
    return r.status === 200;
  });
  return base;
}

async function apiGet(base, path) {
  const r = await fetch(`${base}/api/v1${path}`, { headers: { "X-API-Key": key } });
  if (!r.ok) throw new Error(`GET ${path}: ${r.status}`);
  return r.json();
}

async function main() {
  const work = mkdtempSync(join(os.tmpdir(), "postern-web-"));
  started.work = work;

  step = "start the master";
  const masterPort = await freePort();
  const base = await startMaster(masterPort, work);

  step = "start the echo backend";
  started.echo = await startEcho();
  const echoPort = started.echo.address().port;
  const listenPort = await freePort();

  step = "start Chromium";
  if (!existsSync(BROWSER)) throw new Error(`no browser at ${BROWSER} (apt-get install chromium, or set CHROMIUM)`);
  const args = ["--disable-dev-shm-usage", "--disable-gpu"];
  if (process.getuid && process.getuid() === 0) args.push("--no-sandbox");
  started.browserServer = await chromium.launchServer({ executablePath: BROWSER, headless: true, args, timeout: WAIT * 2 });
  started.browser = await chromium.connect(started.browserServer.wsEndpoint(), { timeout: WAIT });
  const ctx = await started.browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  started.page = page;
  page.setDefaultTimeout(WAIT);
  page.on("pageerror", (e) => pageProblems.push(`uncaught exception in the page: ${e.message}`));
  page.on("console", (m) => {
    if (key && m.text().includes(key)) pageProblems.push("the API key was written to the console");
    // the browser logs every 4xx answer; the page expects some (wrong key, bad URL)
    if (m.type() === "error" && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())
        && !(restarting && /^Failed to load resource: (net::ERR_|the server responded with a status of 503)/.test(m.text()))) {
      pageProblems.push(`console error: ${redact(m.text())}`);
    }
  });
  page.on("request", (r) => { if (key && r.url().includes(key)) pageProblems.push(`the API key appeared in a URL: ${redact(r.url())}`); });
  const tid = (id) => page.getByTestId(id);
  const shots = process.env.POSTERN_WEB_SHOTS; // a folder: save screenshots along the way
  const shot = async (name) => { if (shots) { mkdirSync(shots, { recursive: true }); await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true }); } };

  step = "open the dashboard";
  await page.goto(base + "/", { timeout: WAIT });
  await tid("signin-key").waitFor({ state: "visible" });
  await shot("signin");
  ok("sign-in form shown");

  step = "sign in with a wrong key";
  await tid("signin-key").fill("0".repeat(64));
  await tid("signin-submit").click();
  await waitFor("the sign-in error for a wrong key", async () => /not accepted/i.test(await tid("signin-error").textContent()));
  if (await tid("instances-table").isVisible()) throw new Error("the dashboard is shown after a wrong key");
  if (await page.evaluate(() => sessionStorage.length + localStorage.length)) throw new Error("a wrong key was stored");
  ok("wrong key refused with a message");

  step = "sign in with the right key";
  await tid("signin-key").fill(key);
  await tid("signin-key").press("Enter"); // the keyboard path
  await waitFor("the event stream to be live", async () => (await tid("conn-state").getAttribute("data-state")) === "live");
  const stored = await page.evaluate(() => ({ s: sessionStorage.getItem("postern.key"), l: localStorage.length, u: location.href }));
  if (stored.s !== key) throw new Error("the key is not in sessionStorage after signing in");
  if (stored.l) throw new Error("something was written to localStorage");
  if (stored.u.includes(key)) throw new Error("the key is in the page URL");
  await waitFor("master info (version) shown", async () => !/^[–-]?$/.test((await tid("info-ver").textContent()).trim()));
  await waitFor("the instance count shown as 0", async () => (await tid("info-instances").textContent()).trim() === "0");
  ok("signed in, stream live, master info shown");

  step = "a bad URL is refused next to the field";
  await tid("create-url").fill("bogus://127.0.0.1:1/x");
  await tid("create-submit").click();
  const badMsg = await waitFor("the API's 400 message next to the URL field", async () => (await tid("create-url-error").textContent()).trim());
  if ((await tid("create-url").getAttribute("aria-invalid")) !== "true") throw new Error("the URL field is not marked invalid");
  if (await page.locator('[data-testid="instance-row"]').count()) throw new Error("a row appeared for a refused URL");
  ok(`bad URL refused: "${badMsg}"`);

  step = "create an instance";
  const target = `client://127.0.0.1:${listenPort}/127.0.0.1:${echoPort}?mode=1`;
  await tid("create-url").fill(target);
  await tid("create-alias").fill("web-test");
  await tid("create-submit").click();
  const row = page.locator('[data-testid="instance-row"]', { hasText: "web-test" });
  await row.waitFor({ state: "visible" });
  const id = await row.getAttribute("data-id");
  if (!/^[0-9a-f]{8}$/.test(id || "")) throw new Error(`the new row's id is ${JSON.stringify(id)}, not 8 hex characters`);
  if ((await tid("create-url-error").textContent()).trim()) throw new Error("the URL error was not cleared after a good create");
  const status = () => row.getByTestId("status").textContent();
  await waitFor("the instance to be running", async () => (await status()) === "running" && (await status()));
  ok(`instance ${id} created and running`);

  step = "push traffic through the instance";
  const bytes = async (k) => Number(await row.getByTestId(k).getAttribute("data-bytes"));
  const before = { rx: await bytes("tcprx"), tx: await bytes("tcptx") };
  await tid("chart-select").selectOption(id);
  await pushThrough(listenPort, PUSH);
  await pushThrough(listenPort, PUSH / 2);
  const want = PUSH + PUSH / 2;
  const moved = await waitFor(`the row's TCP counters to reach ${want} bytes each way`, async () => {
    const rx = await bytes("tcprx");
    const tx = await bytes("tcptx");
    return rx - before.rx >= want && tx - before.tx >= want ? { rx, tx } : false;
  });
  const shown = await row.getByTestId("tcprx").textContent();
  if (!/^\d+(\.\d+)? MiB$/.test(shown)) throw new Error(`tcprx shown as ${JSON.stringify(shown)}, expected a MiB figure`);
  await waitFor("the chart's current rate to be above zero", async () => {
    const rx = (await tid("rate-rx").textContent()).trim();
    const tx = (await tid("rate-tx").textContent()).trim();
    return (rx !== "0 B/s" || tx !== "0 B/s") && `${rx} ${tx}`;
  });
  ok(`counters moved (tcprx ${moved.rx}, tcptx ${moved.tx}, shown "${shown}") and the chart rate is non-zero`);

  step = "open the instance's log";
  await row.getByTestId("action-logs").click();
  const logLines = tid("log-lines").locator("li:not(.lvl-system)");
  await waitFor("at least one log line in the log panel", async () => (await logLines.count()) > 0);
  const firstLine = await logLines.first().textContent();
  const linesBefore = await logLines.count();
  ok(`log panel shows ${linesBefore} line(s), the first: "${firstLine.slice(0, 80)}"`);
  await shot("running-1280");
  await page.setViewportSize({ width: 390, height: 844 });
  await shot("running-390");
  await page.setViewportSize({ width: 1280, height: 900 });

  step = "stop the instance";
  await row.getByTestId("action-stop").click();
  await waitFor("the instance to be stopped", async () => (await status()) === "stopped");
  await waitFor("the stop button to be disabled and start enabled", async () =>
    (await row.getByTestId("action-stop").isDisabled()) && (await row.getByTestId("action-start").isEnabled()));
  ok("instance stopped from the page");
  await waitFor("a live log line to be appended (the instance's shutdown output)", async () => (await logLines.count()) > linesBefore);
  ok("live log events appended");

  step = "reset its counters";
  await row.getByTestId("action-reset").click();
  await waitFor("the counters to be zero after reset", async () => (await bytes("tcprx")) === 0 && (await bytes("tcptx")) === 0);
  ok("counters reset");

  step = "restart the master: the page shows it and reconnects";
  restarting = true; // connection errors and "shutting down" 503s (the pages poll) are expected now
  await stopPid(started.master.pid, "the master", 10000);
  await waitFor("the page to show the master went away", async () =>
    (await tid("conn-state").getAttribute("data-state")) !== "live");
  // docs/master.md: a `shutdown` event precedes the end of the stream; the page shows a notice.
  await waitFor("the shutdown notice", async () =>
    (await tid("app-error").isVisible()) && /shutting down/i.test(await tid("app-error").textContent()));
  await startMaster(masterPort, work, false);
  await waitFor("the event stream to be live again (after the retry: delay)", async () =>
    (await tid("conn-state").getAttribute("data-state")) === "live");
  await waitFor("the instance replayed after the reconnect, still stopped", async () =>
    (await row.count()) === 1 && (await status()) === "stopped");
  if (await tid("app-error").isVisible()) throw new Error("the shutdown notice stayed after the reconnect");
  restarting = false;
  ok("master restart: shutdown shown, stream reconnected, instance replayed");

  step = "delete the instance";
  await row.getByTestId("action-delete").click();
  await tid("confirm-dialog").waitFor({ state: "visible" });
  await tid("confirm-ok").click();
  await waitFor("the row to disappear", async () => (await row.count()) === 0);
  const list = await apiGet(base, "/instances");
  if (!Array.isArray(list) || list.some((i) => i.id === id)) throw new Error("the API still lists the deleted instance");
  await waitFor("the instance count shown as 0", async () => (await tid("info-instances").textContent()).trim() === "0");
  ok("instance deleted (dialog confirmed; gone from the API)");

  step = "a hub's panel shows its agent's client and routes";
  const hubPort = await freePort();
  const hubHttpPort = await freePort();
  const routePort = await freePort();
  const accounts = join(work, "accounts.json");
  writeFileSync(accounts, JSON.stringify({ accounts: [{ name: "webtest", token: HUB_TOKEN }] }));
  await tid("create-url").fill(`hub://127.0.0.1:${hubPort}?accounts=${accounts}&http=127.0.0.1:${hubHttpPort}&ports=${routePort}-${routePort}`);
  await tid("create-alias").fill("web-hub");
  await tid("create-submit").click();
  const hubRow = page.locator('[data-testid="instance-row"]', { hasText: "web-hub" });
  await hubRow.waitFor({ state: "visible" });
  await waitFor("the hub to be running", async () => (await hubRow.getByTestId("status").textContent()) === "running");
  if ((await hubRow.getByTestId("type").textContent()) !== "hub") throw new Error("the hub's row does not say its type is hub");
  if (await tid("hub-panel").isVisible()) throw new Error("the hub panel is shown before a hub is selected");
  await hubRow.getByTestId("alias").click(); // select the row (its detail: chart, hub panel)
  await tid("hub-panel").waitFor({ state: "visible" });
  await waitFor("the hub panel to show the hub's first report", async () => /^updated /.test((await tid("hub-updated").textContent()).trim()));
  if (!/web-hub/.test(await tid("hub-which").textContent())) throw new Error("the hub panel does not name the hub");
  if ((await tid("hub-clients-count").textContent()).trim() !== "0") throw new Error("the hub panel lists a client before any agent came");
  const agentUrl = `agent://${HUB_TOKEN}@127.0.0.1:${hubPort}?tcp=127.0.0.1:${echoPort},port=${routePort}&http=127.0.0.1:${echoPort},host=app.test`;
  started.agent = spawn(BIN, [agentUrl], {
    env: { ...process.env, POSTERN_REPORT_INTERVAL: "200ms" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  for (const stream of [started.agent.stdout, started.agent.stderr]) {
    stream.setEncoding("utf8");
    stream.on("data", (d) => { for (const l of d.split("\n")) if (l) agentOut.push(l); if (agentOut.length > 200) agentOut.splice(0, agentOut.length - 200); });
  }
  const hubPanel = tid("hub-panel");
  const clientRow = hubPanel.locator('[data-testid="hub-client-row"]');
  await waitFor("the agent's client in the hub panel", async () => (await clientRow.count()) === 1);
  if ((await clientRow.getByTestId("account").textContent()) !== "webtest") throw new Error("the client row does not name its account");
  const tcpRoute = hubPanel.locator(`[data-testid="hub-route-row"][data-type="tcp"][data-key="${routePort}"]`);
  const httpRoute = hubPanel.locator('[data-testid="hub-route-row"][data-type="http"][data-key="app.test"]');
  await waitFor("the tcp and http routes in the hub panel", async () => (await tcpRoute.count()) === 1 && (await httpRoute.count()) === 1);
  for (const r of [tcpRoute, httpRoute]) {
    const online = (await r.getByTestId("online").textContent()).trim();
    if (online !== "1 / 1") throw new Error(`a route shows ${JSON.stringify(online)} online / members, expected "1 / 1"`);
  }
  await pushThrough(routePort, MIB);
  const acct = hubPanel.locator('[data-testid="hub-account-row"][data-name="webtest"]');
  await waitFor("the account's bytes from and to users (1 MiB each way) in the hub panel", async () =>
    Number(await acct.getByTestId("rx").getAttribute("data-bytes")) >= MIB && Number(await acct.getByTestId("tx").getAttribute("data-bytes")) >= MIB);
  await shot("hub-1280");
  ok(`hub panel shows the agent's client, its tcp:${routePort} and http:app.test routes, and its account's bytes`);

  step = "the cluster card shows a hub of a cluster";
  if (await tid("cluster-card").isVisible()) throw new Error("the cluster card is shown while no hub is in a cluster");
  const redisPort = await freePort();
  started.redis = spawn("redis-server", ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "",
                                         "--appendonly", "no", "--dir", work], { stdio: "ignore", detached: true });
  await tid("create-url").fill(`hub://127.0.0.1:${await freePort()}?accounts=${accounts}&cluster=redis://127.0.0.1:${redisPort}&id=web-cluster-hub`);
  await tid("create-alias").fill("web-cluster");
  await tid("create-submit").click();
  const clRow = page.locator('[data-testid="cluster-row"][data-hub="web-cluster-hub"]');
  await waitFor("the clustered hub, live, in the cluster card", async () =>
    (await clRow.count()) === 1 && (await clRow.getByTestId("cluster-state").textContent()).trim() === "live"
    && (await clRow.getByTestId("cluster-redis").textContent()).trim() === "up");
  if ((await clRow.getByTestId("cluster-instance").textContent()).trim() !== "web-cluster") throw new Error("the cluster row does not name its instance's alias");
  await shot("cluster-1280");
  ok("cluster card lists the clustered hub: live, Redis up, its instance");

  step = "the phone layout";
  await page.setViewportSize({ width: 390, height: 844 });
  await shot("hub-390");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  if (overflow > 2) throw new Error(`the page scrolls sideways by ${overflow} px at 390 px wide`);
  await page.setViewportSize({ width: 1280, height: 900 });
  ok("no sideways scrolling at 390 px");

  step = "sign out";
  await tid("signout").click();
  await tid("signin-key").waitFor({ state: "visible" });
  if (await page.evaluate(() => sessionStorage.getItem("postern.key"))) throw new Error("the key is still in sessionStorage after signing out");
  ok("signed out, key forgotten");

  if (pageProblems.length) throw new Error(pageProblems.join("; "));
  return { id, moved };
}

async function cleanup() {
  const tasks = [];
  if (started.browser) tasks.push(Promise.race([started.browser.close().catch(() => {}), sleep(5000)]));
  await Promise.all(tasks);
  if (started.browserServer) {
    const pid = started.browserServer.process()?.pid;
    await Promise.race([started.browserServer.close().catch(() => {}), sleep(5000)]);
    if (pid && alive(pid)) { try { process.kill(-pid, "SIGKILL"); } catch { try { process.kill(pid, "SIGKILL"); } catch { /* gone */ } } }
  }
  for (const s of started.sockets) s.destroy();
  if (started.echo) started.echo.close();
  if (started.agent) await stopPid(started.agent.pid, "the agent", 5000);
  if (started.redis) await stopPid(started.redis.pid, "redis-server", 5000);
  if (started.master) await stopPid(started.master.pid, "the master", 10000);
  if (started.work) rmSync(started.work, { recursive: true, force: true });
}

let code = 0;
let watchdog;
try {
  const result = await Promise.race([
    main(),
    new Promise((_, rej) => { watchdog = setTimeout(() => rej(new Error(`the whole test took over ${OVERALL / 1000} s`)), OVERALL); }),
  ]);
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  for (const w of warnings) console.log(`dashboard.test: warning: ${w}`);
  console.log(`dashboard.test: ok: ${checks} checks${warnings.length ? `, ${warnings.length} warning(s)` : ""} in ${secs} s (instance ${result.id}, ${(result.moved.rx / MIB).toFixed(1)} MiB through it; ${BIN})`);
} catch (e) {
  code = 1;
  console.error(`dashboard.test: FAILED at "${step}": ${redact(e && e.message ? e.message : e)}`);
  for (const p of pageProblems) console.error(`  page: ${p}`);
  if (started.page) {
    try {
      const dir = mkdtempSync(join(os.tmpdir(), "postern-web-fail-"));
      mkdirSync(dir, { recursive: true });
      const shot = join(dir, "dashboard.png");
      await Promise.race([started.page.screenshot({ path: shot, fullPage: true }), sleep(5000)]);
      if (existsSync(shot)) console.error(`  screenshot: ${shot}`);
    } catch (err) {
      console.error(`  (no screenshot: ${err.message})`);
    }
  }
  if (agentOut.length && step.startsWith("a hub's panel")) {
    console.error("  last lines from the agent:");
    for (const l of agentOut.slice(-15)) console.error(`    ${l}`);
  }
  if (masterOut.length) {
    console.error("  last lines from the master:");
    for (const l of masterOut.slice(-25)) console.error(`    ${redact(l)}`);
  }
} finally {
  clearTimeout(watchdog);
  try { await cleanup(); } catch (e) { console.error(`dashboard.test: cleanup: ${e.message}`); code = 1; }
}
process.exit(code);
