#!/usr/bin/env node
// Checks of the dashboard against a master that a pytest test has set up (the instances
// and their traffic are the test's; this script only looks at the page, in headless
// Chromium through playwright-core).
//
//     POSTERN_WEB_BASE=http://127.0.0.1:<port> POSTERN_WEB_KEY=<key> \
//     POSTERN_WEB_CHECK=states POSTERN_WEB_EXPECT='[{"id":..,"state":..,"reason":..}]' \
//     node tests/web/page_check.mjs
//
// POSTERN_WEB_CHECK:
//   states   sign in; each expected row shows its state (data-health on the row; the badge
//            reads the state while the process runs) and the reason's text
//            (docs/master.md "States").
//   history  POSTERN_WEB_EXPECT='{"id":..,"bytes":N}': the traffic went through before the
//            page opened; sign in, chart that instance: the chart holds at least N bytes
//            (from the master's history, docs/master.md "History"); reload the page (the
//            key stays in sessionStorage): still; over 1 hour and 24 hours: still.
//   ui       the sign-in page at 360 px does not scroll sideways; with POSTERN_WEB_EXPECT=
//            '{"edit":{"id":..,"bad":..,"url":..},"pair":{"tunnel":"127.0.0.1:<p>",
//            "public":<p>,"target":"127.0.0.1:<p>"}}': the Edit dialog refuses the bad URL
//            next to its field, then saves the new one (the row shows it); the guided
//            builder makes a tunnel's server and client URLs and creates both
//            ("<alias>-server", "<alias>-client" rows appear).
//   fleet    POSTERN_WEB_EXPECT='{"user":{"name":..,"usage":N,"quota":Q},"node":{"address":..,
//            "port":..,"token":..},"add_user":{"name":..,"password":..,"quota_mib":M,"group"?:..}}': the
//            Users table shows the user's quota bar at N of Q; a node added from the form
//            appears and its push status becomes available; a user added from the form
//            appears, active, with a bar of M MiB (and its group); a bad node body shows the API's
//            "<field>: <reason>" (docs/master.md "Manager"). The token is never shown.
// The key comes in the environment, never on the command line. POSTERN_WEB_WAIT (seconds,
// default 20) bounds each wait; CHROMIUM names the browser (default /usr/bin/chromium).
// Exit 0 with one line "page_check: ok: ..."; 1 with the reason (and a screenshot path);
// 2 for a bad environment. The browser is stopped in `finally`.
import { existsSync, mkdtempSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const BROWSER = process.env.CHROMIUM || "/usr/bin/chromium";
const WAIT = Math.max(1, Number(process.env.POSTERN_WEB_WAIT) || 20) * 1000;
const BASE = process.env.POSTERN_WEB_BASE || "";
const KEY = process.env.POSTERN_WEB_KEY || "";
const CHECK = process.env.POSTERN_WEB_CHECK || "";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const redact = (s) => (KEY ? String(s).split(KEY).join("<key>") : String(s));
let step = "start";
let checks = 0;

if (!BASE || !KEY || !["states", "history", "ui", "fleet"].includes(CHECK)) {
  console.error("page_check: set POSTERN_WEB_BASE, POSTERN_WEB_KEY and POSTERN_WEB_CHECK=states|history|ui|fleet");
  process.exit(2);
}

async function waitFor(what, fn, ms = WAIT) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e.message.split("\n")[0];
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}; last: ${JSON.stringify(last)}`);
    await sleep(100);
  }
}

async function signIn(page) {
  step = "sign in";
  await page.goto(BASE + "/", { timeout: WAIT });
  await page.getByTestId("signin-key").fill(KEY);
  await page.getByTestId("signin-key").press("Enter");
  await waitFor("the event stream to be live", async () => (await page.getByTestId("conn-state").getAttribute("data-state")) === "live");
}

async function checkStates(page) {
  const expect = JSON.parse(process.env.POSTERN_WEB_EXPECT || "[]");
  if (!expect.length) throw new Error("POSTERN_WEB_EXPECT lists no instance");
  for (const e of expect) {
    step = `row ${e.id}: ${e.state}`;
    const row = page.locator(`[data-testid="instance-row"][data-id="${e.id}"]`);
    await row.waitFor({ state: "visible", timeout: WAIT });
    await waitFor(`row ${e.id} to show ${e.state} with "${e.reason}"`, async () => {
      const health = await row.getAttribute("data-health");
      const status = await row.getAttribute("data-status");
      const text = await row.textContent();
      if (health !== e.state || !text.includes(e.reason)) return false;
      if (status === "running") {
        const badge = row.getByTestId("health");
        if (!(await badge.isVisible()) || (await badge.textContent()).trim() !== e.state) return false;
        if (!(await row.getByTestId("reason").textContent()).includes(e.reason)) return false;
      } else if (!(await row.getByTestId("error").textContent()).includes(e.reason)) {
        return false;
      }
      return true;
    });
    checks++;
  }
}

async function chartHolds(page, id, bytes, what) {
  step = `the chart ${what}`;
  await page.locator(`[data-testid="instance-row"][data-id="${id}"]`).waitFor({ state: "visible", timeout: WAIT });
  await page.getByTestId("chart-select").selectOption(id);
  const shown = await waitFor(`the chart of ${id} ${what} to hold ${bytes} bytes`, async () => {
    const v = Number(await page.getByTestId("chart-canvas").getAttribute("data-window-bytes"));
    return v >= bytes ? v : false;
  });
  checks++;
  return shown;
}

async function checkHistory(page) {
  const e = JSON.parse(process.env.POSTERN_WEB_EXPECT || "{}");
  if (!e.id || !(e.bytes > 0)) throw new Error("POSTERN_WEB_EXPECT needs id and bytes");
  await chartHolds(page, e.id, e.bytes, "on opening the page");
  step = "reload the page";
  await page.reload({ timeout: WAIT });
  await waitFor("the event stream to be live after the reload", async () => (await page.getByTestId("conn-state").getAttribute("data-state")) === "live");
  await chartHolds(page, e.id, e.bytes, "after a reload");
  for (const [value, name] of [["3600", "over 1 hour"], ["86400", "over 24 hours"]]) {
    await page.getByTestId("chart-range").selectOption(value);
    await chartHolds(page, e.id, e.bytes, name);
  }
}

async function checkNarrowSignin(browser) {
  step = "the sign-in page at 360 px";
  const ctx = await browser.newContext({ viewport: { width: 360, height: 740 } });
  try {
    const page = await ctx.newPage();
    await page.goto(BASE + "/", { timeout: WAIT });
    await page.getByTestId("signin-key").waitFor({ state: "visible", timeout: WAIT });
    const m = await page.evaluate(() => ({
      sw: document.documentElement.scrollWidth, cw: document.documentElement.clientWidth,
      bw: document.body.scrollWidth,
    }));
    if (m.sw > m.cw || m.bw > m.cw) throw new Error(`the sign-in page scrolls sideways at 360 px: ${JSON.stringify(m)}`);
    checks++;
  } finally {
    await ctx.close();
  }
}

async function checkEdit(page, e) {
  step = `edit ${e.id}`;
  const row = page.locator(`[data-testid="instance-row"][data-id="${e.id}"]`);
  await row.waitFor({ state: "visible", timeout: WAIT });
  await row.getByTestId("action-edit").click();
  const dlg = page.getByTestId("edit-dialog");
  await dlg.waitFor({ state: "visible", timeout: WAIT });
  await page.getByTestId("edit-url").fill(e.bad);
  await page.getByTestId("edit-save").click();
  await waitFor("the API's 400 next to the edit dialog's URL field", async () => /^url: /.test((await page.getByTestId("edit-url-error").textContent()).trim()));
  if ((await page.getByTestId("edit-url").getAttribute("aria-invalid")) !== "true") throw new Error("the edit URL field is not marked invalid");
  await page.getByTestId("edit-url").fill(e.url);
  await page.getByTestId("edit-save").click();
  await dlg.waitFor({ state: "hidden", timeout: WAIT });
  await waitFor(`the row to show the new URL ${e.url}`, async () => (await row.getByTestId("url").textContent()).trim() === e.url);
  checks++;
}

async function checkPair(page, p) {
  step = "the guided tunnel pair";
  await page.getByTestId("builder").locator("summary").click();
  await page.getByTestId("b-kind").selectOption("pair");
  await page.getByTestId("b-tunnel").fill(p.tunnel);
  await page.getByTestId("b-public").fill(String(p.public));
  await page.getByTestId("b-target").fill(p.target);
  await page.getByTestId("b-key-new").click();
  const key = await page.getByTestId("b-key").inputValue();
  if (!/^[0-9a-f]{32}$/.test(key)) throw new Error(`the new tunnel key is ${JSON.stringify(key)}`);
  const port = p.tunnel.split(":").pop();
  const want = [`server://${key}@:${port}/:${p.public}`, `client://${key}@${p.tunnel}/${p.target}?mode=2`];
  const got = [await page.getByTestId("b-url").textContent(), await page.getByTestId("b-url2").textContent()];
  if (got[0] !== want[0] || got[1] !== want[1]) throw new Error(`the builder made ${JSON.stringify(got)}, not ${JSON.stringify(want)}`);
  await page.getByTestId("create-alias").fill("guided");
  await page.getByTestId("b-pair").click();
  for (const a of ["guided-server", "guided-client"]) {
    await page.locator('[data-testid="instance-row"]', { hasText: a }).waitFor({ state: "visible", timeout: WAIT });
  }
  // The raw URL stays available: "Use this URL" copies into the URL field.
  await page.getByTestId("b-kind").selectOption("forward");
  await page.getByTestId("b-listen").fill("18080");
  await page.getByTestId("b-target").fill("127.0.0.1:80");
  await page.getByTestId("b-use").click();
  const raw = await page.getByTestId("create-url").inputValue();
  if (raw !== "client://:18080/127.0.0.1:80?mode=1") throw new Error(`"Use this URL" put ${JSON.stringify(raw)} in the URL field`);
  checks++;
}

async function checkFleet(page) {
  const e = JSON.parse(process.env.POSTERN_WEB_EXPECT || "{}");
  if (!e.user || !e.node || !e.add_user) throw new Error("POSTERN_WEB_EXPECT needs user, node and add_user");
  step = `the quota bar of ${e.user.name}`;
  const urow = page.locator(`[data-testid="user-row"][data-name="${e.user.name}"]`);
  await urow.waitFor({ state: "visible", timeout: WAIT });
  await waitFor(`${e.user.name}'s bar at ${e.user.usage} of ${e.user.quota}`, async () => {
    const bar = urow.getByTestId("quota-bar");
    return Number(await bar.getAttribute("max")) === e.user.quota &&
      Number(await bar.evaluate((b) => b.value)) === Math.min(e.user.usage, e.user.quota);
  });
  checks++;
  step = "a bad node from the form";
  await page.getByTestId("node-address").fill("node.example");
  await page.getByTestId("node-port").fill(String(e.node.port));
  await page.getByTestId("node-token").fill(e.node.token);
  await page.getByTestId("node-add").click();
  await waitFor("the API's 400 naming address", async () => /^address: /.test((await page.getByTestId("node-error").textContent()).trim()));
  checks++;
  step = "a node added from the form";
  await page.getByTestId("node-address").fill(e.node.address);
  await page.getByTestId("node-token").fill(e.node.token);
  await page.getByTestId("node-add").click();
  const nrow = page.locator('[data-testid="node-row"]', { hasText: `${e.node.address}:${e.node.port}` });
  await nrow.waitFor({ state: "visible", timeout: WAIT });
  await waitFor("the new node's push status available", async () => (await nrow.getAttribute("data-push")) === "available" &&
    (await nrow.getByTestId("push-status").textContent()).trim() === "available");
  if ((await page.content()).includes(e.node.token)) throw new Error("the node's token is in the page");
  checks++;
  step = "a user added from the form";
  await page.getByTestId("user-name").fill(e.add_user.name);
  await page.getByTestId("user-password").fill(e.add_user.password);
  await page.getByTestId("user-quota").fill(String(e.add_user.quota_mib));
  await page.getByTestId("user-group").fill(e.add_user.group || "");
  await page.getByTestId("user-add").click();
  const arow = page.locator(`[data-testid="user-row"][data-name="${e.add_user.name}"]`);
  await arow.waitFor({ state: "visible", timeout: WAIT });
  await waitFor("the new user active with its bar and group", async () => (await arow.getAttribute("data-active")) === "true" &&
    Number(await arow.getByTestId("quota-bar").getAttribute("max")) === e.add_user.quota_mib * 1048576 &&
    (await arow.getAttribute("data-group")) === (e.add_user.group || ""));
  checks++;
}

const started = {};
let code = 0;
try {
  step = "start Chromium";
  if (!existsSync(BROWSER)) throw new Error(`no browser at ${BROWSER}`);
  const args = ["--disable-dev-shm-usage", "--disable-gpu"];
  if (process.getuid && process.getuid() === 0) args.push("--no-sandbox");
  started.browser = await chromium.launch({ executablePath: BROWSER, headless: true, args, timeout: WAIT * 2 });
  const ctx = await started.browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  started.page = page;
  page.setDefaultTimeout(WAIT);
  const problems = [];
  page.on("pageerror", (e) => problems.push(`uncaught exception in the page: ${e.message}`));
  if (CHECK === "ui") await checkNarrowSignin(started.browser);
  await signIn(page);
  if (CHECK === "states") await checkStates(page);
  if (CHECK === "history") await checkHistory(page);
  if (CHECK === "fleet") await checkFleet(page);
  if (CHECK === "ui") {
    const e = JSON.parse(process.env.POSTERN_WEB_EXPECT || "{}");
    if (!e.edit || !e.pair) throw new Error("POSTERN_WEB_EXPECT needs edit and pair");
    await checkEdit(page, e.edit);
    await checkPair(page, e.pair);
  }
  if (problems.length) throw new Error(problems.join("; "));
  console.log(`page_check: ok: ${CHECK}: ${checks} checks`);
} catch (e) {
  code = 1;
  console.error(`page_check: FAILED at "${step}": ${redact(e && e.message ? e.message : e)}`);
  if (started.page) {
    try {
      const shot = join(mkdtempSync(join(os.tmpdir(), "postern-page-check-")), "page.png");
      await Promise.race([started.page.screenshot({ path: shot, fullPage: true }), sleep(5000)]);
      if (existsSync(shot)) console.error(`  screenshot: ${shot}`);
    } catch (err) {
      console.error(`  (no screenshot: ${err.message})`);
    }
  }
} finally {
  if (started.browser) await Promise.race([started.browser.close(), sleep(10000)]).catch(() => {});
}
process.exit(code);
