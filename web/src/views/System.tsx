// System-wide views: services and health, the global dependency graph,
// hotspots, global races and performance.
import { client } from "../api";
import { Badge, ErrorBox, Loading, Tabs, listKeys } from "../components";
import { HealthStatus } from "../gen/raceway/v1/query_pb.js";
import { fmtTime, fmtValue, severityName } from "../format";
import { useCall } from "../hooks";
import { href, navigate, type Route } from "../router";
import { DependencyGraph } from "./Graph";

const TABS = [
  { id: "services", label: "Services" },
  { id: "dependencies", label: "Dependencies" },
  { id: "hotspots", label: "Hotspots" },
  { id: "races", label: "Global races" },
  { id: "performance", label: "Performance" },
] as const;
type Tab = (typeof TABS)[number]["id"];

export function SystemView({ route }: { route: Route }) {
  const tab = (TABS.some((t) => t.id === route.path[1]) ? route.path[1] : "services") as Tab;
  return (
    <section aria-labelledby="system-h">
      <h1 id="system-h">System</h1>
      <Tabs label="System views" tabs={[...TABS]} active={tab} onSelect={(t) => navigate(href(["system", t]))} />
      <div class="panel" role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
        {tab === "services" && <Services />}
        {tab === "dependencies" && <Dependencies />}
        {tab === "hotspots" && <Hotspots />}
        {tab === "races" && <GlobalRaces window={route.params.get("window") ?? "1000"} />}
        {tab === "performance" && <Performance />}
      </div>
    </section>
  );
}

const HEALTH: Record<number, string> = {
  [HealthStatus.HEALTHY]: "HEALTHY",
  [HealthStatus.WARNING]: "WARNING",
  [HealthStatus.CRITICAL]: "CRITICAL",
};

function Services() {
  const r = useCall((signal) => client.getServiceHealth({}, { signal }), [], "service");
  if (r.error) return <ErrorBox error={r.error} />;
  if (!r.data) return <Loading what="services" />;
  return (
    <table class="list" aria-label="Services and health" onKeyDown={listKeys}>
      <thead><tr><th>Service</th><th>Health</th><th>Last activity</th><th>Traces</th><th>Events</th></tr></thead>
      <tbody>
        {r.data.services.map((s) => (
          <tr data-row tabIndex={0} class="clickable" onClick={() => navigate(href(["traces"], { service: s.service }))}>
            <td>{s.service}</td>
            <td><Badge kind={HEALTH[s.status] === "HEALTHY" ? "ok" : HEALTH[s.status] ?? "warning"}>{HEALTH[s.status] ?? "UNKNOWN"}</Badge></td>
            <td>{fmtTime(s.lastActivity)} ({String(s.secondsSinceLastActivity)} s ago)</td>
            <td class="num">{String(s.traceCount)}</td>
            <td class="num">{String(s.eventCount)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Dependencies() {
  const r = useCall((signal) => client.getServiceDependencies({}, { signal }), [], "service");
  if (r.error) return <ErrorBox error={r.error} />;
  if (!r.data) return <Loading what="dependencies" />;
  const edges = r.data.services.flatMap((s) => s.callsTo.map((c) => ({ from: s.service, to: c.service, count: c.callCount })));
  return <DependencyGraph services={r.data.services.map((s) => ({ name: s.service }))} edges={edges} label="Service dependencies across all traces" />;
}

function Bars({ rows, unit }: { rows: { name: string; value: number; link?: string }[]; unit: string }) {
  const max = Math.max(...rows.map((r) => r.value), 1e-9);
  return (
    <table class="list bars">
      <tbody>
        {rows.map((r) => (
          <tr>
            <td class="mono">{r.link ? <a href={r.link}>{r.name}</a> : r.name}</td>
            <td class="num">{r.value.toFixed(unit === "" ? 0 : 3)} {unit}</td>
            <td><span class="bar" style={{ width: `${(200 * r.value) / max}px` }} /></td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Hotspots() {
  const r = useCall((signal) => client.getHotspots({ limit: 20 }, { signal }), []);
  if (r.error) return <ErrorBox error={r.error} />;
  if (!r.data) return <Loading what="hotspots" />;
  return (
    <div class="split2">
      <div>
        <h2>Variables by access count</h2>
        <Bars rows={r.data.variables.map((v) => ({ name: v.variable, value: Number(v.accessCount) }))} unit="" />
      </div>
      <div>
        <h2>Service calls</h2>
        <Bars rows={r.data.serviceCalls.map((c) => ({ name: `${c.from} → ${c.to}`, value: Number(c.callCount) }))} unit="" />
      </div>
    </div>
  );
}

function GlobalRaces({ window: win }: { window: string }) {
  const r = useCall((signal) => client.findGlobalRaces({ windowMs: BigInt(win || "1000"), pageSize: 100 }, { signal }), [win]);
  return (
    <div>
      <label>
        Window (ms){" "}
        <input aria-label="Global race window in milliseconds" type="number" min="1" value={win}
          onChange={(e) => navigate(href(["system", "races"], { window: e.currentTarget.value }))} />
      </label>
      <ErrorBox error={r.error} />
      {!r.data && !r.error && <Loading what="global races" />}
      {r.data && (
        <table class="list" aria-label="Races across traces" onKeyDown={listKeys}>
          <thead><tr><th>Variable</th><th>Severity</th><th>First</th><th>Second</th><th>Gap</th></tr></thead>
          <tbody>
            {r.data.races.map((g) => (
              <tr data-row tabIndex={0}>
                <td class="mono"><a href={href(["variable", g.variable])}>{g.variable}</a></td>
                <td><Badge kind={severityName(g.severity)}>{severityName(g.severity)}</Badge></td>
                <td><a href={href(["trace", g.first!.traceId, "timeline"], { event: g.first!.eventId })}>{g.first!.serviceName}/{g.first!.threadId}</a> {fmtValue(g.first!.newValue)}</td>
                <td><a href={href(["trace", g.second!.traceId, "timeline"], { event: g.second!.eventId })}>{g.second!.serviceName}/{g.second!.threadId}</a> {fmtValue(g.second!.newValue)}</td>
                <td class="num">{(Number(g.gapNs) / 1e6).toFixed(3)} ms</td>
              </tr>
            ))}
            {r.data.races.length === 0 && <tr><td colSpan={5}>No races across traces in this window.</td></tr>}
          </tbody>
        </table>
      )}
    </div>
  );
}

function Performance() {
  const r = useCall((signal) => client.getPerformanceMetrics({ slowestLimit: 10 }, { signal }), []);
  if (r.error) return <ErrorBox error={r.error} />;
  if (!r.data) return <Loading what="performance" />;
  const l = r.data.traceLatency;
  return (
    <div>
      <dl class="facts">
        <div><dt>Traces</dt><dd>{String(r.data.traceCount)}</dd></div>
        <div><dt>Events</dt><dd>{String(r.data.eventCount)}</dd></div>
        <div><dt>Throughput</dt><dd>{r.data.eventsPerSecond.toFixed(1)} events/s</dd></div>
        <div><dt>Latency p50 / p95 / p99</dt><dd data-fact="latency">{l ? `${l.p50Ms.toFixed(1)} / ${l.p95Ms.toFixed(1)} / ${l.p99Ms.toFixed(1)} ms` : "—"}</dd></div>
      </dl>
      <div class="split2">
        <div>
          <h2>Durations by event type</h2>
          <Bars rows={r.data.byEventType.map((t) => ({ name: t.name, value: t.avgDurationMs }))} unit="ms" />
        </div>
        <div>
          <h2>Durations by service</h2>
          <Bars rows={r.data.byService.map((t) => ({ name: t.name, value: t.avgDurationMs }))} unit="ms" />
        </div>
      </div>
      <h2>Slowest traces</h2>
      <Bars rows={r.data.slowestTraces.map((t) => ({ name: `${t.traceId.slice(0, 8)} ${t.services.join(",")}`, value: t.durationMs, link: href(["trace", t.traceId]) }))} unit="ms" />
    </div>
  );
}

// The global audit trail of one variable across traces.
export function VariableView({ route }: { route: Route }) {
  const variable = route.path[1] ?? "";
  const r = useCall((signal) => client.getAuditTrail({ variable, pageSize: 200 }, { signal }), [variable], "variable");
  return (
    <section aria-labelledby="var-h">
      <h1 id="var-h">Variable <span class="mono">{variable}</span> across traces</h1>
      <ErrorBox error={r.error} />
      {!r.data && !r.error && <Loading what="audit trail" />}
      {r.data && (
        <table class="list" aria-label={`Global audit trail of ${variable}`} onKeyDown={listKeys}>
          <thead><tr><th>#</th><th>Trace</th><th>Service / thread</th><th>Old → new</th><th>Location</th><th>Time</th><th>Race</th></tr></thead>
          <tbody>
            {r.data.trail?.accesses.map((x, i) => (
              <tr data-row tabIndex={0}>
                <td class="num">{i + 1}</td>
                <td><a class="mono" href={href(["trace", x.traceId, "variables"], { var: variable, event: x.eventId })}>{x.traceId.slice(0, 8)}</a></td>
                <td>{x.serviceName} / {x.threadId}</td>
                <td class="mono">{fmtValue(x.oldValue)} → {fmtValue(x.newValue)}</td>
                <td class="mono">{x.location}</td>
                <td>{fmtTime(x.timestamp)}</td>
                <td>{x.isRace ? <Badge kind="critical">races with earlier</Badge> : ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
