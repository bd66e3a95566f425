// The query service's HTTP port seen by an independent client:
// @connectrpc/connect-web's createGrpcWebTransport (what a browser
// dashboard uses), its createConnectTransport with JSON (the Connect unary
// JSON form curl and scripts use) and plain fetch for CORS and the raw
// Connect wire format. Run by run_grpc_web_test.sh,
// which starts `raceway serve`, seeds it with `raceway demo` and passes:
//   RACEWAY_WEB_URL         http://127.0.0.1:<grpc_web_port>
//   RACEWAY_GEN_DIR         protoc-gen-es output (target=js)
//   RACEWAY_DEMO_TRACE      the demo trace id
//   RACEWAY_API_KEY         the query API key the server requires
//   RACEWAY_ORIGIN_ALLOWED  an origin in query.cors_origins
//   RACEWAY_ORIGIN_OTHER    an origin that is not
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run this through run_grpc_web_test.sh)`);
  return v;
}
const BASE_URL = env("RACEWAY_WEB_URL");
const TRACE = env("RACEWAY_DEMO_TRACE");
const KEY = env("RACEWAY_API_KEY");
const ORIGIN = env("RACEWAY_ORIGIN_ALLOWED");
const OTHER_ORIGIN = env("RACEWAY_ORIGIN_OTHER");
assert.match(BASE_URL, /^http:\/\/127\.0\.0\.1:\d+$/, "loopback only");

const gen = (file) => import(pathToFileURL(join(env("RACEWAY_GEN_DIR"), file)).href);
const q = await gen("raceway/v1/query_pb.js");
const { QueryService, RaceSeverity, EdgeLinkType, HappensBeforeRelation } = q;

const MS = 1_000_000n;
const withKey = (next) => async (req) => {
  req.header.set("authorization", `Bearer ${KEY}`);
  return next(req);
};
// defaultTimeoutMs: every call also sends grpc-timeout (the gateway turns
// it into the forwarded call's deadline) and cannot hang the test.
const transport = (interceptors) =>
  createGrpcWebTransport({ baseUrl: BASE_URL, interceptors, defaultTimeoutMs: 15_000 });
const client = createClient(QueryService, transport([withKey]));
const anonymous = createClient(QueryService, transport([]));
// The same RPCs as Connect unary JSON (POST application/json; Connect-Timeout-Ms).
const jsonTransport = (interceptors) =>
  createConnectTransport({
    baseUrl: BASE_URL,
    useBinaryFormat: false,
    interceptors,
    defaultTimeoutMs: 15_000,
  });
const jsonClient = createClient(QueryService, jsonTransport([withKey]));
const jsonAnonymous = createClient(QueryService, jsonTransport([]));

async function rejectsWith(promise, code) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof ConnectError, `expected a ConnectError, got ${err}`);
    assert.equal(err.code, code, `code ${Code[err.code]} (${err.rawMessage}), want ${Code[code]}`);
    return true;
  });
}

// gRPC-Web frames: 1 flag byte, 4-byte big-endian length, payload.
function frame(flag, payload) {
  const out = new Uint8Array(5 + payload.length);
  out[0] = flag;
  new DataView(out.buffer).setUint32(1, payload.length);
  out.set(payload, 5);
  return out;
}
function parseFrames(bytes) {
  const frames = [];
  for (let i = 0; i < bytes.length; ) {
    assert.ok(i + 5 <= bytes.length, "truncated frame header");
    const len = new DataView(bytes.buffer, bytes.byteOffset + i + 1, 4).getUint32(0);
    assert.ok(i + 5 + len <= bytes.length, "truncated frame");
    frames.push({ flag: bytes[i], payload: bytes.subarray(i + 5, i + 5 + len) });
    i += 5 + len;
  }
  return frames;
}
const headerList = (h) => (h ?? "").split(",").map((s) => s.trim().toLowerCase()).filter(Boolean);

// The demo's concrete answers, checked through each transport.
async function checkListTraces(client) {
  const r = await client.listTraces({ pageSize: 100 });
  assert.equal(r.totalCount, 11n);
  assert.equal(r.traces.length, 11);
  assert.equal(r.nextPageToken, "");
  const demo = r.traces[0]; // newest first: the demo trace is the last one sent
  assert.equal(demo.traceId, TRACE);
  assert.equal(demo.eventCount, 12n);
  assert.deepEqual(demo.services, ["api", "payments"]);
  // The demo checkout spans 0 .. 112 ms (the response at 32 + 80 ms).
  const ns = (ts) => ts.seconds * 1_000_000_000n + BigInt(ts.nanos);
  assert.equal(ns(demo.lastTimestamp) - ns(demo.firstTimestamp), 112n * MS);
  for (const t of r.traces.slice(1)) {
    assert.equal(t.eventCount, 10n, `baseline trace ${t.traceId}`);
    assert.ok(ns(t.lastTimestamp) <= ns(demo.lastTimestamp), "newest first");
  }
  // Filters and paging go through the same path.
  const big = await client.listTraces({ minEvents: 11n });
  assert.deepEqual(big.traces.map((t) => t.traceId), [TRACE]);
  const page = await client.listTraces({ pageSize: 4 });
  assert.equal(page.traces.length, 4);
  assert.notEqual(page.nextPageToken, "");
  const next = await client.listTraces({ pageSize: 4, pageToken: page.nextPageToken });
  assert.equal(next.traces.length, 4);
  assert.ok(!next.traces.some((t) => page.traces.some((p) => p.traceId === t.traceId)));
}

function checkDemoAnalysis(a) {
  assert.equal(a.summary.traceId, TRACE);
  assert.equal(a.summary.eventCount, 12n);

  // Races: the two unsynchronised writes of `balance`; `inventory` is
  // written under inventory_mutex and does not race.
  assert.equal(a.raceCount, 1n);
  assert.equal(a.races.length, 1);
  const race = a.races[0];
  assert.equal(race.variable, "balance");
  assert.equal(race.severity, RaceSeverity.CRITICAL);
  assert.deepEqual(
    [race.first.threadId, race.second.threadId].sort(),
    ["pay-worker-1", "pay-worker-2"],
  );
  assert.deepEqual(
    [race.first.location, race.second.location].sort(),
    ["payments/ledger.rs:41", "payments/ledger.rs:42"],
  );
  assert.equal(race.first.serviceName, "payments");
  assert.equal(race.first.lockSet.length, 0);
  assert.equal(race.second.lockSet.length, 0);
  assert.equal(race.first.oldValue.kind.case, "numberValue");
  assert.equal(race.first.oldValue.kind.value, 100);
  assert.equal(a.raceGroups.length, 1);
  assert.equal(a.raceGroups[0].variable, "balance");
  assert.equal(a.raceGroups[0].locationA, "payments/ledger.rs:41");
  assert.equal(a.raceGroups[0].locationB, "payments/ledger.rs:42");
  assert.equal(a.raceGroups[0].count, 1n);
  assert.equal(a.raceGroups[0].severity, RaceSeverity.CRITICAL);

  // Audit trails: one per variable.
  const trails = Object.fromEntries(a.auditTrails.map((t) => [t.variable, t]));
  assert.deepEqual(Object.keys(trails).sort(), ["balance", "inventory"]);
  assert.equal(trails.balance.accesses.length, 2);
  assert.deepEqual(trails.balance.accesses.map((x) => x.isRace), [false, true]);
  assert.equal(trails.balance.accesses[1].hasCausalLinkToPrevious, false);
  assert.equal(trails.inventory.accesses.length, 2);
  assert.ok(trails.inventory.accesses.every((x) => !x.isRace));

  // Critical path: from the root handle_checkout through the 80 ms charge.
  const cp = a.criticalPath;
  assert.equal(cp.traceId, TRACE);
  assert.ok(cp.steps.length >= 2, `critical path of ${cp.steps.length} steps`);
  assert.equal(cp.steps[0].kind, "FunctionCall(handle_checkout)");
  assert.equal(cp.steps[0].serviceName, "api");
  assert.equal(cp.steps[0].durationNs, 120n * MS);
  const charge = cp.steps.find((s) => s.kind === "FunctionCall(charge)");
  assert.ok(charge, `charge on the path: ${cp.steps.map((s) => s.kind).join(" -> ")}`);
  assert.equal(charge.durationNs, 80n * MS);
  assert.equal(charge.serviceName, "payments");
  assert.equal(cp.totalDurationNs, cp.steps.reduce((sum, s) => sum + s.durationNs, 0n));
  assert.ok(cp.totalDurationNs <= cp.traceTotalDurationNs);
  assert.ok(cp.percentage > 0 && cp.percentage <= 100, `percentage ${cp.percentage}`);

  // Anomalies: the charge is ~13x slower than the ten baselines.
  const slow = a.anomalies.find((x) => x.operation === "FunctionCall(charge)");
  assert.ok(slow, `anomalies: ${a.anomalies.map((x) => x.operation).join(", ")}`);
  assert.equal(slow.slower, true);
  assert.equal(slow.durationNs, 80n * MS);
  assert.equal(slow.baselineSamples, 10n);
  assert.ok(slow.expectedMeanNs > 5e6 && slow.expectedMeanNs < 7e6, `mean ${slow.expectedMeanNs}`);

  // Dependencies: api calls payments over HTTP.
  assert.deepEqual(a.dependencies.services.map((s) => s.name).sort(), ["api", "payments"]);
  const edge = a.dependencies.edges.find((e) => e.from === "api" && e.to === "payments");
  assert.ok(edge, "edge api -> payments");
  assert.equal(edge.linkType, EdgeLinkType.HTTP_CALL);

  // Vector clocks: one per event.
  assert.equal(a.vectorClocks.length, 12);
}

async function checkErrors(client, anonymous) {
  await rejectsWith(client.analyzeTrace({ traceId: randomUUID() }), Code.NotFound);
  await rejectsWith(client.analyzeTrace({ traceId: "not-a-trace-id" }), Code.InvalidArgument);
  await rejectsWith(client.analyzeTrace({ traceId: "" }), Code.InvalidArgument);
  await rejectsWith(anonymous.listTraces({}), Code.Unauthenticated);
  await rejectsWith(
    anonymous.listTraces({}, { headers: { authorization: "Bearer wrong-key" } }),
    Code.Unauthenticated,
  );
  const r = await anonymous.listTraces({}, { headers: { authorization: `Bearer ${KEY}` } });
  assert.equal(r.totalCount, 11n);
}

describe("gRPC-Web through @connectrpc/connect-web", () => {
  before(async () => {
    // Ingest commits asynchronously (group commit): wait until the demo
    // trace is readable, at most 15 s.
    const deadline = Date.now() + 15_000;
    for (;;) {
      const r = await client.listTraces({ pageSize: 100 });
      if (r.traces.some((t) => t.traceId === TRACE && t.eventCount === 12n)) return;
      if (Date.now() > deadline) throw new Error(`demo trace ${TRACE} not visible after 15 s`);
      await new Promise((ok) => setTimeout(ok, 100));
    }
  });

  test("ListTraces: the demo trace and the ten baseline checkouts", async () => {
    await checkListTraces(client);
  });

  test("AnalyzeTrace: the race on balance, the slow charge, api -> payments", async () => {
    checkDemoAnalysis(await client.analyzeTrace({ traceId: TRACE, includeVectorClocks: true }));
  });

  test("errors: NotFound, InvalidArgument; API key: none or wrong -> Unauthenticated", async () => {
    await checkErrors(client, anonymous);
  });
});

describe("CORS", () => {
  const url = `${BASE_URL}/raceway.v1.QueryService/AnalyzeTrace`;
  const preflight = (origin) =>
    fetch(url, {
      method: "OPTIONS",
      headers: {
        Origin: origin,
        "Access-Control-Request-Method": "POST",
        // What connect-web sends, our authorization header, and a custom
        // header of the dashboard's own (forwarded as call metadata).
        "Access-Control-Request-Headers":
          "content-type,x-grpc-web,x-user-agent,authorization,x-request-id",
      },
    });

  test("preflight from an allowed origin", async () => {
    const res = await preflight(ORIGIN);
    assert.ok(res.status >= 200 && res.status < 300, `status ${res.status}`);
    assert.equal(res.headers.get("access-control-allow-origin"), ORIGIN);
    const allowed = headerList(res.headers.get("access-control-allow-headers"));
    for (const h of ["content-type", "x-grpc-web", "x-user-agent", "authorization", "grpc-timeout",
                     "x-request-id"]) {
      assert.ok(allowed.includes(h), `Access-Control-Allow-Headers lacks ${h}: ${allowed}`);
    }
    assert.ok(headerList(res.headers.get("access-control-allow-methods")).includes("post"));
    assert.ok(headerList(res.headers.get("vary")).includes("origin"), "Vary: Origin");
  });

  test("preflight from another origin gets no Access-Control-Allow-Origin", async () => {
    const res = await preflight(OTHER_ORIGIN);
    assert.equal(res.headers.get("access-control-allow-origin"), null);
    assert.equal(res.headers.get("access-control-allow-headers"), null);
  });

  test("a real POST: CORS + exposed grpc-status, frames decode", async () => {
    const body = toBinary(
      q.AnalyzeTraceRequestSchema,
      create(q.AnalyzeTraceRequestSchema, { traceId: TRACE }),
    );
    const res = await fetch(url, {
      method: "POST",
      headers: {
        Origin: ORIGIN,
        "Content-Type": "application/grpc-web+proto",
        "X-Grpc-Web": "1",
        Authorization: `Bearer ${KEY}`,
      },
      body: frame(0, body),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/grpc-web+proto");
    assert.equal(res.headers.get("access-control-allow-origin"), ORIGIN);
    const exposed = headerList(res.headers.get("access-control-expose-headers"));
    for (const h of ["grpc-status", "grpc-message"]) {
      assert.ok(exposed.includes(h), `Access-Control-Expose-Headers lacks ${h}: ${exposed}`);
    }
    const frames = parseFrames(new Uint8Array(await res.arrayBuffer()));
    assert.deepEqual(frames.map((f) => f.flag), [0x00, 0x80]);
    const reply = fromBinary(q.AnalyzeTraceResponseSchema, frames[0].payload);
    assert.equal(reply.summary.traceId, TRACE);
    assert.equal(reply.raceCount, 1n);
    assert.match(new TextDecoder().decode(frames[1].payload), /^grpc-status:0\r\n/);

    // Another origin: the call runs, but the browser may not read it.
    const other = await fetch(url, {
      method: "POST",
      headers: {
        Origin: OTHER_ORIGIN,
        "Content-Type": "application/grpc-web+proto",
        "X-Grpc-Web": "1",
        Authorization: `Bearer ${KEY}`,
      },
      body: frame(0, body),
    });
    await other.arrayBuffer();
    assert.equal(other.headers.get("access-control-allow-origin"), null);
  });
});

describe("Connect unary JSON through createConnectTransport (useBinaryFormat: false)", () => {
  const url = (method) => `${BASE_URL}/raceway.v1.QueryService/${method}`;
  const post = (method, body, headers = {}) =>
    fetch(url(method), {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${KEY}`, ...headers },
      body,
    });

  test("ListTraces: the same answers as gRPC-Web", async () => {
    await checkListTraces(jsonClient);
    assert.deepEqual(
      await jsonClient.listTraces({ pageSize: 100 }),
      await client.listTraces({ pageSize: 100 }),
    );
  });

  test("AnalyzeTrace: the same answers as gRPC-Web", async () => {
    const a = await jsonClient.analyzeTrace({ traceId: TRACE, includeVectorClocks: true });
    checkDemoAnalysis(a);
    assert.deepEqual(a, await client.analyzeTrace({ traceId: TRACE, includeVectorClocks: true }));
  });

  test("HappensBefore: the two writes of balance are concurrent", async () => {
    const [race] = (await jsonClient.getRaces({ traceId: TRACE })).races;
    const r = await jsonClient.happensBefore({
      eventA: race.first.eventId,
      eventB: race.second.eventId,
    });
    assert.equal(r.relation, HappensBeforeRelation.CONCURRENT);
  });

  test("errors: NotFound, InvalidArgument; API key: none or wrong -> Unauthenticated", async () => {
    await checkErrors(jsonClient, jsonAnonymous);
  });

  test("the wire: proto3 JSON in and out, Connect JSON errors with HTTP statuses", async () => {
    let res = await post("AnalyzeTrace", JSON.stringify({ traceId: TRACE }), {
      "Connect-Protocol-Version": "1",
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/json");
    const reply = await res.json();
    assert.equal(reply.summary.traceId, TRACE);
    assert.equal(reply.raceCount, "1"); // uint64 as a string, as proto3 JSON prints it
    assert.equal(reply.races[0].severity, "RACE_SEVERITY_CRITICAL");

    const cases = [
      [JSON.stringify({ traceId: randomUUID() }), 404, "not_found", /not found/i],
      [JSON.stringify({ traceId: "nope" }), 400, "invalid_argument", /trace_id/],
      [JSON.stringify({ traceId: TRACE, extra: 1 }), 400, "invalid_argument", /extra/],
      ["{", 400, "invalid_argument", /AnalyzeTraceRequest/],
    ];
    for (const [body, status, code, message] of cases) {
      res = await post("AnalyzeTrace", body);
      assert.equal(res.status, status, body);
      const error = await res.json();
      assert.equal(error.code, code, body);
      assert.match(error.message, message, body);
    }
    res = await post("NoSuchMethod", "{}");
    assert.equal(res.status, 404);
    assert.equal((await res.json()).code, "unimplemented");
    res = await post("ListTraces", "{}", { "Content-Type": "text/plain" });
    assert.equal(res.status, 415);
    await res.arrayBuffer();
  });

  test("CORS: preflight for application/json and a readable reply", async () => {
    const pre = await fetch(url("ListTraces"), {
      method: "OPTIONS",
      headers: {
        Origin: ORIGIN,
        "Access-Control-Request-Method": "POST",
        // What createConnectTransport sends, and our authorization header.
        "Access-Control-Request-Headers":
          "content-type,connect-protocol-version,connect-timeout-ms,authorization",
      },
    });
    assert.ok(pre.status >= 200 && pre.status < 300, `status ${pre.status}`);
    assert.equal(pre.headers.get("access-control-allow-origin"), ORIGIN);
    const allowed = headerList(pre.headers.get("access-control-allow-headers"));
    for (const h of ["content-type", "connect-protocol-version", "connect-timeout-ms",
                     "authorization"]) {
      assert.ok(allowed.includes(h), `Access-Control-Allow-Headers lacks ${h}: ${allowed}`);
    }
    const res = await post("ListTraces", "{}", { Origin: ORIGIN });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("access-control-allow-origin"), ORIGIN);
    assert.equal((await res.json()).totalCount, "11");
  });
});
