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

if (!BASE || !KEY || !["states", "history"].includes(CHECK)) {
  console.error("page_check: set POSTERN_WEB_BASE, POSTERN_WEB_KEY and POSTERN_WEB_CHECK=states|history");
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
  await signIn(page);
  if (CHECK === "states") await checkStates(page);
  if (CHECK === "history") await checkHistory(page);
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
