// The dashboard in headless Chromium against a live `raceway serve`
// seeded by `raceway demo`. Run by run_browser_test.sh, which passes:
//   RACEWAY_PAGE_URL       origin serving web/dist (in the server's CORS list)
//   RACEWAY_API_URL        the query service's gRPC-Web origin (?api=)
//   RACEWAY_DEMO_TRACE     the demo trace id
//   RACEWAY_API_KEY        the query API key the server requires
//   RACEWAY_CHROMIUM       the Chromium binary
//   RACEWAY_PROFILE_DIR    a fresh --user-data-dir
//   RACEWAY_SCREENSHOT_DIR where the screenshots of the main views go
//   RACEWAY_LARGE_TRACE    a generated trace of RACEWAY_LARGE_EVENTS events
//                          (empty: the large-trace test is skipped)
// The expected values are the demo's (tools/raceway demo): a CRITICAL
// write/write race on `balance` between payments/ledger.rs:41 and :42, the
// slow `charge`, api -> payments over HTTP.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { chromium } from "playwright-core";

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run this through run_browser_test.sh)`);
  return v;
}
const PAGE = env("RACEWAY_PAGE_URL");
const API = env("RACEWAY_API_URL");
const TRACE = env("RACEWAY_DEMO_TRACE");
const KEY = env("RACEWAY_API_KEY");
const SHOTS = env("RACEWAY_SCREENSHOT_DIR");
for (const u of [PAGE, API]) assert.match(u, /^http:\/\/127\.0\.0\.1:\d+$/, "loopback only");
const url = (hash) => `${PAGE}/?api=${encodeURIComponent(API)}#${hash}`;

// The demo's race, from the query service's Connect JSON form (an
// independent path) so the page's values are checked against the server's.
async function rpc(method, body) {
  const r = await fetch(`${API}/raceway.v1.QueryService/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-raceway-key": KEY },
    body: JSON.stringify(body),
  });
  assert.equal(r.status, 200, `${method}: HTTP ${r.status}`);
  return r.json();
}

let context, page;
const problems = []; // Console errors, page errors, failed requests.

function watch(p) {
  p.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));
  p.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  p.on("requestfailed", (r) => {
    // A download's blob: URL and aborted superseded calls are not failures.
    const f = r.failure()?.errorText ?? "";
    if (!r.url().startsWith("blob:") && f !== "net::ERR_ABORTED") problems.push(`request failed: ${r.url()} ${f}`);
  });
  p.on("response", (r) => r.status() >= 400 && problems.push(`HTTP ${r.status()}: ${r.url()}`));
}

const shot = (name) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
const hash = () => page.evaluate(() => window.location.hash);

let race; // The demo's race pair from AnalyzeTrace.
let events; // The demo's events by label.

before(async () => {
  // Ingest commits asynchronously: wait until the demo trace is analysable.
  for (let i = 0; ; i++) {
    const a = await rpc("AnalyzeTrace", { traceId: TRACE }).catch(() => undefined);
    if (a && a.summary?.eventCount === "12" && a.races.length === 1) {
      race = a.races[0];
      break;
    }
    if (i > 100) throw new Error("the demo trace never became visible");
    await new Promise((r) => setTimeout(r, 100));
  }
  const t = await rpc("GetTrace", { traceId: TRACE });
  events = t.events;
  // A persistent context on a fresh, empty directory is Chromium's
  // --user-data-dir (Playwright refuses that flag in args).
  context = await chromium.launchPersistentContext(env("RACEWAY_PROFILE_DIR"), {
    executablePath: env("RACEWAY_CHROMIUM"),
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
    viewport: { width: 1400, height: 900 },
    acceptDownloads: true,
    timeout: 60_000,
  });
  page = context.pages()[0] ?? (await context.newPage());
  watch(page);
});

after(async () => {
  await context?.close();
});

describe("dashboard", () => {
  test("auth: the key prompt appears, a wrong key is refused, the right key works", async () => {
    await page.goto(url("/system"));
    const dialog = page.getByRole("dialog", { name: "API key required" });
    await dialog.waitFor();
    await dialog.getByLabel("API key").fill("wrong-key");
    await dialog.getByRole("button", { name: "Use key" }).click();
    await page.getByText("The query service refused this key").waitFor();
    await dialog.getByLabel("API key").fill(KEY);
    await dialog.getByRole("button", { name: "Use key" }).click();
    await dialog.waitFor({ state: "detached" });
    assert.equal(await page.evaluate(() => sessionStorage.getItem("raceway-key")), KEY);
    await page.getByRole("table", { name: "Services and health" }).locator("tbody tr").first().waitFor();
  });

  test("large trace: the view renders from the analysis and the first event page", { skip: !process.env.RACEWAY_LARGE_TRACE }, async () => {
    const big = process.env.RACEWAY_LARGE_TRACE;
    const n = process.env.RACEWAY_LARGE_EVENTS;
    // Cold: nothing has asked for this trace's analysis yet (the auth test
    // stays off the traces list). A deep link, timed from navigation start.
    // Interactive = header facts and the timeline's first events drawn.
    await page.goto("about:blank");
    await page.goto(url(`/trace/${big}/timeline`));
    const t0 = 0; // performance.now() counts from this navigation's start.
    await page.locator(`[data-fact="events"]:text-is("${n}")`).waitFor({ timeout: 120_000 });
    await page.locator("canvas").waitFor({ timeout: 120_000 });
    await page.locator("tr[data-event]").first().waitFor({ timeout: 120_000 });
    const interactive = await page.evaluate(() => performance.getEntriesByName("raceway:timeline-drawn")[0]?.startTime ?? NaN);
    assert.ok(interactive > t0, "the timeline-drawn mark is set");
    const analysed = await page.evaluate(() => performance.getEntriesByName("raceway:analysis-loaded")[0]?.startTime ?? NaN);
    // Where the time went: each RPC's start and end (Resource Timing).
    const calls = await page.evaluate(() =>
      performance.getEntriesByType("resource")
        .filter((r) => r.name.includes("QueryService"))
        .map((r) => `${r.name.split("/").pop()} ${r.startTime.toFixed(0)}-${r.responseEnd.toFixed(0)} ms`));
    console.log(`large trace RPCs until interactive: ${calls.join(", ")}`);
    await page.locator('[data-fact="threads"]:text-is("8")').waitFor({ timeout: 300_000 });
    const all = (await page.evaluate(() => performance.now())) - t0;
    assert.match(await page.locator('[data-fact="races"]').innerText(), /^[1-9]\d* /);
    await shot("large-trace");
    // Pan and zoom stay usable: a wheel zoom and a drag each redraw.
    const box = await page.locator("canvas").boundingBox();
    const t1 = await page.evaluate(() => performance.now());
    await page.mouse.move(box.x + 600, box.y + 40);
    await page.mouse.wheel(0, -400);
    await page.mouse.down();
    await page.mouse.move(box.x + 400, box.y + 40, { steps: 5 });
    await page.mouse.up();
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r())));
    const interaction = (await page.evaluate(() => performance.now())) - t1;
    const frame = await page.locator("canvas").getAttribute("data-draw-ms");
    console.log(
      `BENCHMARK large trace (${n} events, SQLite): trace view interactive in ${interactive.toFixed(0)} ms ` +
        `(analysis RPCs answered and decoded at ${analysed.toFixed(0)} ms), ` +
        `all events loaded in ${all.toFixed(0)} ms, zoom + 5-step pan in ${interaction.toFixed(0)} ms ` +
        `(driver round trips included; last canvas frame ${frame} ms)`,
    );
  });

  test("traces: the demo trace with its events, services, duration and race count", async () => {
    await page.goto(url("/traces"));
    const row = page.locator("tr", { has: page.locator(`a:text-is("${TRACE}")`) });
    await row.waitFor();
    const cells = await row.locator("td").allInnerTexts();
    assert.equal(cells[2], "12");
    assert.equal(cells[3], "api, payments");
    assert.equal(cells[4], "112.000 ms");
    await row.locator('td[data-races="1"]').waitFor();
    // Filters go to the URL: payments and at least 12 events leave only the
    // demo trace (the ten ordinary checkouts have 10 events).
    await page.getByLabel("Filter by service").selectOption("payments");
    await page.waitForFunction(() => window.location.hash.includes("service=payments"));
    await page.getByText("11 matching traces").waitFor();
    await page.getByLabel("Minimum events").fill("12");
    await page.getByLabel("Minimum events").press("Enter");
    await page.waitForFunction(() => window.location.hash.includes("min=12"));
    await page.getByText("1 matching traces").waitFor();
    await shot("traces");
    await page.goBack();
    await page.getByText("11 matching traces").waitFor();
    await page.goBack();
    await page.waitForFunction(() => window.location.hash === "#/traces");
  });

  test("trace header: events, services, races by severity, critical-path share, anomalies", async () => {
    await page.locator(`a:text-is("${TRACE}")`).click();
    await page.waitForFunction((t) => window.location.hash.startsWith(`#/trace/${t}`), TRACE);
    const fact = (f) => page.locator(`[data-fact="${f}"]`).innerText();
    await page.locator('[data-fact="events"]').waitFor();
    assert.equal(await fact("events"), "12");
    assert.equal(await fact("services"), "api, payments");
    assert.equal(await fact("duration"), "112.000 ms");
    assert.match(await fact("races"), /^1 1 critical 0 warning$/);
    assert.equal(await fact("critical-share"), "98.7 %");
    assert.equal(await fact("anomalies"), "3");
    await page.getByText("Events 1–12 of 12").waitFor();
    assert.equal(await fact("threads"), "4");
    await shot("timeline");
  });

  test("races: CRITICAL on balance with both locations; selecting a pair highlights both accesses", async () => {
    await page.getByRole("tab", { name: "Races" }).click();
    const group = page.locator('tbody[data-group="balance"] tr.group');
    await group.waitFor();
    const text = await group.innerText();
    assert.match(text, /payments\/ledger\.rs:41 ↔ payments\/ledger\.rs:42/);
    assert.match(text, /CRITICAL/);
    await page.locator('tr[data-race="0"]').waitFor();
    await shot("races");
    await page.locator('tr[data-race="0"]').click();
    await page.waitForFunction(() => window.location.hash.includes("/timeline") && window.location.hash.includes("race=0"));
    const canvas = page.locator("canvas");
    await page.waitForFunction(
      (ids) => document.querySelector("canvas")?.dataset.highlight === ids,
      `${race.first.eventId},${race.second.eventId}`,
    );
    assert.ok(await canvas.isVisible());
    const hl = await page.locator("tr.highlight").evaluateAll((rows) => rows.map((r) => r.dataset.event));
    assert.deepEqual(hl, [race.first.eventId, race.second.eventId]);
    // The two accesses are A and B of the detail panel: concurrent.
    await page.locator('[data-relation="CONCURRENT"]').waitFor();
    await shot("race-selected");
    // Back: the races tab again.
    await page.goBack();
    await page.waitForFunction(() => window.location.hash.includes("/races"));
    await page.locator('tbody[data-group="balance"]').waitFor();
    await page.goForward();
    await page.locator('[data-relation="CONCURRENT"]').waitFor();
  });

  test("event detail and happens-before: handle_checkout BEFORE the balance write, and AFTER reversed", async () => {
    const root = events.find((e) => e.functionCall?.functionName === "handle_checkout");
    const write = race.first.eventId;
    await page.goto(url(`/trace/${TRACE}/timeline`));
    await page.locator(`tr[data-event="${root.id}"]`).click();
    const detail = page.getByRole("complementary", { name: "Event detail" });
    await detail.getByText("FunctionCall(handle_checkout)").waitFor();
    await detail.getByText("api-main").first().waitFor();
    await page.locator(`tr[data-event="${write}"]`).click({ modifiers: ["Shift"] });
    await page.locator('[data-relation="BEFORE"]').waitFor();
    await shot("event-detail");
    await page.locator(`tr[data-event="${write}"]`).click();
    await page.locator(`tr[data-event="${root.id}"]`).click({ modifiers: ["Shift"] });
    await page.locator('[data-relation="AFTER"]').waitFor();
    // The computed vector clock lists the event's own thread.
    await detail.getByRole("table", { name: "Computed vector clock" }).getByText("pay-worker-1").waitFor();
    // A click on the canvas selects an event too (the lane of api-main).
    await page.goto(url(`/trace/${TRACE}/timeline`));
    const box = await page.locator("canvas").boundingBox();
    await page.mouse.click(box.x + 400, box.y + 22 + 13);
    await page.waitForFunction(() => window.location.hash.includes("event="));
    assert.ok(/event=[0-9a-f-]{36}/.test(await hash()));
  });

  test("critical path: the steps root first, their share and exclusive time", async () => {
    await page.goto(url(`/trace/${TRACE}/critical-path`));
    const steps = page.locator("tr[data-step]");
    await steps.first().waitFor();
    assert.deepEqual(await steps.evaluateAll((r) => r.map((x) => x.dataset.step)), [
      "FunctionCall(handle_checkout)", "HttpRequest(POST)", "FunctionCall(charge)",
      "StateChange(inventory)", "LockRelease(Mutex)", "StateChange(balance)",
    ]);
    assert.equal(await page.locator('[data-fact="path-share"]').innerText(), "98.7 %");
    const first = await steps.first().locator("td").allInnerTexts();
    assert.equal(first[4], "120.000 ms");
    assert.equal(first[6], "10.000 ms"); // 120 ms minus the nested 110 ms request.
    await shot("critical-path");
  });

  test("variables: the audit trail of balance with its race mark and old → new values", async () => {
    await page.goto(url(`/trace/${TRACE}/variables?var=balance`));
    const trail = page.getByRole("table", { name: "Audit trail of balance" });
    await trail.waitFor();
    const rows = await trail.locator("tbody tr").allInnerTexts();
    assert.equal(rows.length, 2);
    assert.match(rows[0], /pay-worker-1[\s\S]*100 → 90[\s\S]*payments\/ledger\.rs:41/);
    assert.match(rows[1], /pay-worker-2[\s\S]*100 → 80[\s\S]*payments\/ledger\.rs:42[\s\S]*races with earlier/);
    assert.doesNotMatch(rows[0], /races with earlier/);
    await shot("variables");
    await page.getByRole("link", { name: "across all traces →" }).click();
    await page.getByRole("table", { name: "Global audit trail of balance" }).locator("tbody tr").first().waitFor();
    await page.goBack();
    await trail.waitFor();
  });

  test("anomalies: the slow charge", async () => {
    await page.goto(url(`/trace/${TRACE}/anomalies`));
    const row = page.locator('tr[data-operation="FunctionCall(charge)"]');
    await row.waitFor();
    const cells = await row.locator("td").allInnerTexts();
    assert.equal(cells[1], "80.000 ms");
    assert.match(cells[2], /^5\.900 ms ± /);
    assert.equal(cells[4], "CRITICAL");
    assert.equal(cells[5], "slower");
    await shot("anomalies");
  });

  test("dependencies: api -> payments", async () => {
    await page.goto(url(`/trace/${TRACE}/dependencies`));
    const edge = page.locator('tr[data-edge="api->payments"]');
    await edge.waitFor();
    assert.deepEqual(await edge.locator("td").allInnerTexts(), ["api", "payments", "1"]);
    await page.getByRole("img", { name: "Services of this trace" }).waitFor();
    await shot("dependencies");
  });

  test("export: races CSV carries the balance race", async () => {
    await page.goto(url(`/trace/${TRACE}/export`));
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Download races CSV" }).click(),
    ]);
    const csv = await readFile(await download.path(), "utf8");
    const lines = csv.trim().split("\n");
    assert.equal(lines.length, 2);
    assert.match(lines[1], /^balance,CRITICAL,.*payments\/ledger\.rs:41,write,.*payments\/ledger\.rs:42,write$/);
    const [json] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: /Download trace JSON/ }).click(),
    ]);
    const doc = JSON.parse(await readFile(await json.path(), "utf8"));
    assert.equal(doc.events.length, 12);
    assert.equal(doc.analysis.raceCount, "1");
  });

  test("errors in words: an unknown trace id", async () => {
    await page.goto(url("/trace/00000000-0000-4000-8000-000000000000"));
    await page.getByRole("alert").getByText("no trace with this id").waitFor();
  });

  test("errors in words: an unreachable query service, retried", async () => {
    // A page of its own: its refused connections are the point, not failures
    // of the dashboard. A port just bound and closed: nothing listens there.
    const port = await new Promise((resolve) => {
      const srv = createServer().listen(0, "127.0.0.1", () => {
        const p = srv.address().port;
        srv.close(() => resolve(p));
      });
    });
    const down = await context.newPage();
    await down.goto(`${PAGE}/?api=${encodeURIComponent(`http://127.0.0.1:${port}`)}#/traces`);
    await down.getByRole("alert").getByText("query service unreachable, retrying").first().waitFor();
    await down.close();
  });

  test("system: services with health, dependencies, hotspots, global races, performance", async () => {
    await page.goto(url("/system"));
    const services = page.getByRole("table", { name: "Services and health" });
    await services.waitFor();
    await services.locator("tbody tr").first().waitFor();
    const rows = await services.locator("tbody tr").allInnerTexts();
    assert.ok(rows.some((r) => /^api\s+HEALTHY/.test(r)), rows.join("\n"));
    assert.ok(rows.some((r) => /^payments\s+HEALTHY/.test(r)), rows.join("\n"));
    await shot("system");
    await page.getByRole("tab", { name: "Dependencies" }).click();
    await page.locator('tr[data-edge="api->payments"]').waitFor();
    await page.getByRole("tab", { name: "Hotspots" }).click();
    await page.getByText("Variables by access count").waitFor();
    await page.locator(".bars td.mono", { hasText: "balance" }).first().waitFor();
    await page.getByRole("tab", { name: "Global races" }).click();
    await page.getByRole("table", { name: "Races across traces" }).waitFor();
    await page.getByRole("tab", { name: "Performance" }).click();
    await page.locator('[data-fact="latency"]').waitFor();
    await shot("performance");
    // Keyboard: arrow keys move between the tabs.
    await page.getByRole("tab", { name: "Performance" }).press("ArrowLeft");
    await page.waitForFunction(() => window.location.hash === "#/system/races");
  });

  test("theme toggle switches between dark and light", async () => {
    const before = await page.evaluate(() => document.documentElement.dataset.theme);
    assert.ok(["dark", "light"].includes(before));
    const now = before === "dark" ? "light" : "dark";
    await page.getByRole("button", { name: `Switch to ${now} theme` }).click();
    await page.waitForFunction((t) => document.documentElement.dataset.theme === t, now);
    await page.goto(url(`/trace/${TRACE}/timeline?race=0`));
    await page.locator("tr.highlight").first().waitFor();
    await shot(`timeline-${now}`);
  });

  test("no console errors or failed requests on any view", () => {
    assert.deepEqual(problems, []);
  });
});
