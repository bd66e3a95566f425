// One trace: the analysis first, events through GetTrace pages in the
// background, so a large trace shows its header, races and critical path
// before its events have arrived. The analysis comes from the per-part RPCs
// (first page of races, critical path, anomalies, dependencies; audit
// trails per variable on demand), not AnalyzeTrace: for a 100k-event trace
// AnalyzeTrace returns every audit trail and 10,000 races (~19 MB as JSON).
// The server analyses the trace once for all of them (single flight cache).
import { toJson } from "@bufbuild/protobuf";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { client, describeError } from "../api";
import { Badge, ErrorBox, Loading, Tabs, listKeys } from "../components";
import { EventSchema, type Event } from "../gen/raceway/v1/event_pb.js";
import {
  AnalyzeTraceResponseSchema,
  DiagnosticKind,
  RaceSeverity,
  type AnalyzeTraceResponse,
  type CriticalPathStep,
} from "../gen/raceway/v1/query_pb.js";
import {
  accessName, anomalySeverityName, csvCell, download, eventLabel, fmtNs, fmtTime, fmtValue, severityName, shortId, tsNanos,
} from "../format";
import { useCall } from "../hooks";
import { href, navigate, type Route } from "../router";
import { EventDetail } from "./EventDetail";
import { Timeline } from "./Timeline";
import { DependencyGraph } from "./Graph";

const EVENT_PAGE = 5000;
const RACE_PAGE = 1000;
const TABS = [
  { id: "timeline", label: "Timeline" },
  { id: "races", label: "Races" },
  { id: "critical-path", label: "Critical path" },
  { id: "variables", label: "Variables" },
  { id: "anomalies", label: "Anomalies" },
  { id: "dependencies", label: "Dependencies" },
  { id: "export", label: "Export" },
] as const;
type Tab = (typeof TABS)[number]["id"];

interface Events {
  events: Event[];
  done: boolean;
  error?: string;
}

// Every page of the trace's events, appended as they arrive. The first page
// is asked for at once; the rest only once `ready` (the analysis is shown),
// so they compete neither with the server's analysis nor with the first
// render, and the state is published at most twice a second (each publish
// re-lays out the timeline).
function useEvents(traceId: string, ready: boolean): Events {
  const [st, setSt] = useState<Events>({ events: [], done: false });
  const readyRef = useRef<{ ready: boolean; wake?: () => void }>({ ready });
  readyRef.current.ready = ready;
  useEffect(() => {
    if (ready) readyRef.current.wake?.();
  }, [ready]);
  useEffect(() => {
    const ctl = new AbortController();
    setSt({ events: [], done: false });
    (async () => {
      let token = "";
      let all: Event[] = [];
      let published = 0;
      for (let page = 0; ; page++) {
        if (page === 1) {
          if (!readyRef.current.ready) await new Promise<void>((r) => (readyRef.current.wake = r));
          // Let the analysis render and paint first.
          await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
        }
        let res;
        for (let attempt = 0; ; attempt++) {
          try {
            res = await client.getTrace({ traceId, pageSize: EVENT_PAGE, pageToken: token }, { signal: ctl.signal });
            break;
          } catch (e) {
            if (ctl.signal.aborted) return;
            setSt({ events: all, done: false, error: describeError(e) });
            if (attempt > 20) return;
            await new Promise((r) => setTimeout(r, 3000));
          }
        }
        all = all.concat(res.events);
        token = res.nextPageToken;
        if (ctl.signal.aborted) return;
        if (!token || page === 0 || performance.now() - published > 500) {
          published = performance.now();
          setSt({ events: all, done: !token });
        }
        if (!token) return;
      }
    })();
    return () => ctl.abort();
  }, [traceId]);
  return st;
}

// The parts of AnalyzeTraceResponse the views need, audit trails left empty
// (VariablesTab loads them). Diagnostics: GetRaces carries every kind but
// MISSING_DURATIONS, which the critical path carries.
async function loadAnalysis(traceId: string, signal: AbortSignal): Promise<AnalyzeTraceResponse> {
  const [races, cp, anomalies, deps, head] = await Promise.all([
    client.getRaces({ traceId, pageSize: RACE_PAGE }, { signal }),
    client.getCriticalPath({ traceId }, { signal }),
    client.getAnomalies({ traceId }, { signal }),
    client.getDependencies({ traceId }, { signal }),
    client.getTrace({ traceId, pageSize: 1 }, { signal }),
  ]);
  performance.mark("raceway:analysis-loaded");
  // A plain object, not create(): that would copy every step and race.
  return {
    $typeName: "raceway.v1.AnalyzeTraceResponse",
    summary: head.summary,
    races: races.races,
    raceGroups: races.groups,
    criticalPath: cp,
    anomalies: anomalies.anomalies,
    dependencies: deps,
    raceCount: races.totalCount,
    diagnostics: [...races.diagnostics, ...cp.diagnostics.filter((d) => d.kind === DiagnosticKind.MISSING_DURATIONS)],
    auditTrails: [],
    vectorClocks: [],
  };
}

export function TraceView({ route }: { route: Route }) {
  const traceId = route.path[1] ?? "";
  const tab = (TABS.some((t) => t.id === route.path[2]) ? route.path[2] : "timeline") as Tab;
  const p = route.params;
  const selected = p.get("event") ?? undefined;
  const compare = p.get("cmp") ?? undefined;
  const race = p.get("race");
  const variable = p.get("var") ?? undefined;

  const analysis = useCall((signal) => loadAnalysis(traceId, signal), [traceId]);
  const a = analysis.data;
  const ev = useEvents(traceId, a !== undefined);

  // Keeps the other parameters; `replace` for selection changes would lose
  // history, so every change is a new entry (the back button undoes it).
  const go = (t: Tab, q: Record<string, string | undefined>) =>
    navigate(href(["trace", traceId, t], { event: selected, cmp: compare, race: race ?? undefined, var: variable, ...q }));
  const select = (id: string, cmp: boolean) => go(tab, cmp ? { cmp: id } : { event: id });

  const highlight = useMemo(() => {
    const r = a && race !== null ? a.races[Number(race)] : undefined;
    return r ? [r.first!.eventId, r.second!.eventId] : [];
  }, [a, race]);

  if (analysis.error && !a) return <ErrorBox error={analysis.error} />;
  if (!a) return <Loading what="trace analysis" />;

  return (
    <section aria-labelledby="trace-h" class="trace">
      <Header a={a} ev={ev} />
      <Tabs label="Trace views" tabs={[...TABS]} active={tab} onSelect={(t) => go(t, {})} />
      <div class="trace-body">
        <div class="panel" role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
          {tab === "timeline" && (
            <TimelineTab a={a} ev={ev} highlight={highlight} selected={selected} compare={compare} onSelect={select} />
          )}
          {tab === "races" && <RacesTab a={a} race={race} onPick={(i) => {
            const r = a.races[i];
            go("timeline", { race: String(i), event: r.first!.eventId, cmp: r.second!.eventId });
          }} />}
          {tab === "critical-path" && <CriticalPathTab a={a} onSelect={(id) => go(tab, { event: id })} />}
          {tab === "variables" && <VariablesTab a={a} ev={ev} variable={variable} onVar={(v) => go(tab, { var: v })} onSelect={(id) => go(tab, { event: id })} />}
          {tab === "anomalies" && <AnomaliesTab a={a} onSelect={(id) => go(tab, { event: id })} />}
          {tab === "dependencies" && <DependencyGraph services={a.dependencies?.services.map((s) => ({ name: s.name, label: `${s.eventCount} events` })) ?? []}
            edges={a.dependencies?.edges.map((e) => ({ from: e.from, to: e.to, count: e.callCount })) ?? []} label="Services of this trace" />}
          {tab === "export" && <ExportTab a={a} ev={ev} />}
        </div>
        {selected && (
          <EventDetail
            traceId={traceId}
            eventId={selected}
            compareId={compare}
            events={ev.events}
            a={a}
            onSelect={(id) => go(tab, { event: id })}
            onClose={() => go(tab, { event: "", cmp: "" })}
            onClearCompare={() => go(tab, { cmp: "" })}
          />
        )}
      </div>
    </section>
  );
}

function Header({ a, ev }: { a: AnalyzeTraceResponse; ev: Events }) {
  const s = a.summary!;
  const threads = new Set(ev.events.map((e) => e.metadata?.threadId)).size;
  // Group counts cover every race, not just the loaded page.
  const bySev = (sev: RaceSeverity) =>
    a.raceGroups.filter((g) => g.severity === sev).reduce((n, g) => n + Number(g.count), 0);
  const cp = a.criticalPath;
  return (
    <header class="trace-header">
      <h1 id="trace-h">
        Trace <span class="mono">{s.traceId}</span>
      </h1>
      <dl class="facts">
        <div><dt>Events</dt><dd data-fact="events">{String(s.eventCount)}</dd></div>
        <div><dt>Threads</dt><dd data-fact="threads">{ev.done ? threads : `≥ ${threads}`}</dd></div>
        <div><dt>Services</dt><dd data-fact="services">{s.services.join(", ")}</dd></div>
        <div><dt>Duration</dt><dd data-fact="duration">{fmtNs(tsNanos(s.lastTimestamp) - tsNanos(s.firstTimestamp))}</dd></div>
        <div>
          <dt>Races</dt>
          <dd data-fact="races">
            {String(a.raceCount)} <Badge kind="critical">{bySev(RaceSeverity.CRITICAL)} critical</Badge>{" "}
            <Badge kind="warning">{bySev(RaceSeverity.WARNING)} warning</Badge>
          </dd>
        </div>
        <div><dt>Critical path</dt><dd data-fact="critical-share">{cp ? `${cp.percentage.toFixed(1)} %` : "—"}</dd></div>
        <div><dt>Anomalies</dt><dd data-fact="anomalies">{a.anomalies.length}</dd></div>
        <div><dt>First event</dt><dd>{fmtTime(s.firstTimestamp)}</dd></div>
      </dl>
      {a.diagnostics.length > 0 && (
        <ul class="diagnostics" aria-label="Analysis diagnostics">
          {a.diagnostics.map((d) => <li>note: {d.message} ({String(d.count)})</li>)}
        </ul>
      )}
      {!ev.done && (
        <p class="muted" role="status">
          {ev.events.length} of {String(s.eventCount)} events loaded…
        </p>
      )}
      <ErrorBox error={ev.error} />
    </header>
  );
}

function TimelineTab(props: {
  a: AnalyzeTraceResponse;
  ev: Events;
  highlight: string[];
  selected?: string;
  compare?: string;
  onSelect: (id: string, cmp: boolean) => void;
}) {
  const s = props.a.summary!;
  const t0 = tsNanos(s.firstTimestamp);
  const critical = useMemo(() => new Set(props.a.criticalPath?.steps.map((x) => x.eventId)), [props.a]);
  const races = useMemo(() => props.a.races.map((r) => ({ a: r.first!.eventId, b: r.second!.eventId })), [props.a]);
  // The accessible list under the canvas: the events around the selection
  // (or the first ones), never thousands of rows.
  const rows = useMemo(() => {
    const es = props.ev.events;
    const focus = props.selected ?? props.highlight[0];
    const i = focus ? Math.max(0, es.findIndex((e) => e.id === focus)) : 0;
    const from = Math.max(0, i - 100);
    return { from, list: es.slice(from, from + 200) };
  }, [props.ev.events, props.selected, props.highlight]);
  return (
    <div>
      <Timeline
        events={props.ev.events}
        t0={t0}
        critical={critical}
        races={races}
        highlight={props.highlight}
        selected={props.selected}
        compare={props.compare}
        onSelect={props.onSelect}
      />
      <h2>Events {rows.from + 1}–{rows.from + rows.list.length} of {props.ev.events.length}</h2>
      <div class="scroll">
      <table class="list events" aria-label="Events in time order" onKeyDown={listKeys}>
        <thead>
          <tr><th>Time (from start)</th><th>Service</th><th>Thread</th><th>Event</th><th>Duration</th><th>Marks</th></tr>
        </thead>
        <tbody>
          {rows.list.map((e) => {
            const cls = [
              "clickable",
              props.highlight.includes(e.id) ? "highlight" : "",
              e.id === props.selected ? "selected" : "",
              e.id === props.compare ? "compare" : "",
            ].join(" ");
            return (
              <tr
                data-row
                data-event={e.id}
                tabIndex={0}
                class={cls}
                aria-selected={e.id === props.selected}
                onMouseDown={(m) => m.shiftKey && m.preventDefault() /* No text selection. */}
                onClick={(m) => props.onSelect(e.id, m.shiftKey)}
                onKeyDown={(k) => k.key === "Enter" && props.onSelect(e.id, k.shiftKey)}
              >
                <td class="num">{fmtNs(tsNanos(e.timestamp) - t0)}</td>
                <td>{e.metadata?.serviceName}</td>
                <td>{e.metadata?.threadId}</td>
                <td>{eventLabel(e)}</td>
                <td class="num">{e.metadata?.durationNs !== undefined ? fmtNs(e.metadata.durationNs) : "—"}</td>
                <td>
                  {critical.has(e.id) && <Badge kind="path">critical path</Badge>}
                  {props.highlight.includes(e.id) && <Badge kind="critical">race</Badge>}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      </div>
    </div>
  );
}

function RacesTab({ a, race, onPick }: { a: AnalyzeTraceResponse; race: string | null; onPick: (i: number) => void }) {
  const [open, setOpen] = useState<Set<number>>(() => new Set(a.raceGroups.length === 1 ? [0] : []));
  if (a.raceGroups.length === 0) return <p>No races in this trace.</p>;
  return (
    <div>
      {a.races.length < Number(a.raceCount) && (
        <p class="muted">Showing {a.races.length} of {String(a.raceCount)} races (the analysis keeps the first ones).</p>
      )}
      <table class="list" aria-label="Races grouped by variable and location pair" onKeyDown={listKeys}>
        <thead>
          <tr><th /><th>Variable</th><th>Locations</th><th>Severity</th><th>Count</th><th>Threads</th></tr>
        </thead>
        {a.raceGroups.map((g, gi) => {
          const pairs = a.races
            .map((r, i) => ({ r, i }))
            .filter(({ r }) => {
              const [x, y] = [r.first!.location, r.second!.location].sort();
              return r.variable === g.variable && x === g.locationA && y === g.locationB;
            });
          const isOpen = open.has(gi);
          const toggle = () => setOpen((s) => { const n = new Set(s); n.has(gi) ? n.delete(gi) : n.add(gi); return n; });
          return (
            <tbody data-group={g.variable}>
              <tr data-row tabIndex={0} class="clickable group" aria-expanded={isOpen} onClick={toggle} onKeyDown={(e) => e.key === "Enter" && toggle()}>
                <td>{isOpen ? "▾" : "▸"}</td>
                <td class="mono">{g.variable}</td>
                <td class="mono">{g.locationA} ↔ {g.locationB}</td>
                <td><Badge kind={severityName(g.severity)}>{severityName(g.severity)}</Badge></td>
                <td class="num">{String(g.count)}</td>
                <td>{g.threadIds.join(", ")}</td>
              </tr>
              {isOpen && pairs.map(({ r, i }) => (
                <tr data-row tabIndex={0} data-race={i} class={`clickable pair ${race === String(i) ? "selected" : ""}`}
                  onClick={() => onPick(i)} onKeyDown={(e) => e.key === "Enter" && onPick(i)}
                  aria-label={`Show race ${i + 1} on the timeline`}>
                  <td />
                  <td colSpan={5}>
                    <span class="mono">{r.first!.threadId}</span> {accessName(r.first!.accessType)} {fmtValue(r.first!.oldValue)} → {fmtValue(r.first!.newValue)} at{" "}
                    <span class="mono">{r.first!.location}</span> ‖ <span class="mono">{r.second!.threadId}</span> {accessName(r.second!.accessType)}{" "}
                    {fmtValue(r.second!.oldValue)} → {fmtValue(r.second!.newValue)} at <span class="mono">{r.second!.location}</span>
                    <div class="muted">{r.description}</div>
                  </td>
                </tr>
              ))}
            </tbody>
          );
        })}
      </table>
    </div>
  );
}

// Exclusive time: a step's duration minus the next step's when that one
// runs inside it (the path descends into it).
function exclusive(steps: CriticalPathStep[], i: number): bigint {
  const s = steps[i], n = steps[i + 1];
  if (!n) return s.durationNs;
  const s0 = tsNanos(s.timestamp), n0 = tsNanos(n.timestamp);
  const inside = n0 >= s0 && n0 + n.durationNs <= s0 + s.durationNs;
  return inside ? s.durationNs - n.durationNs : s.durationNs;
}

function CriticalPathTab({ a, onSelect }: { a: AnalyzeTraceResponse; onSelect: (id: string) => void }) {
  const cp = a.criticalPath;
  if (!cp || cp.steps.length === 0) return <p>No critical path (no events with durations).</p>;
  const total = Number(cp.totalDurationNs) || 1;
  return (
    <div>
      <p>
        Path total <b>{fmtNs(cp.totalDurationNs)}</b> of {fmtNs(cp.traceTotalDurationNs)} summed over all events:{" "}
        <b data-fact="path-share">{cp.percentage.toFixed(1)} %</b>.
      </p>
      {cp.diagnostics.map((d) => <p class="muted">note: {d.message}</p>)}
      <table class="list" aria-label="Critical path steps, root first" onKeyDown={listKeys}>
        <thead>
          <tr><th>#</th><th>Step</th><th>Location</th><th>Service / thread</th><th>Duration</th><th>Share</th><th>Exclusive</th><th /></tr>
        </thead>
        <tbody>
          {cp.steps.map((s, i) => (
            <tr data-row tabIndex={0} class="clickable" data-step={s.kind} onClick={() => onSelect(s.eventId)} onKeyDown={(e) => e.key === "Enter" && onSelect(s.eventId)}>
              <td class="num">{i + 1}</td>
              <td class="mono">{s.kind}</td>
              <td class="mono">{s.location || "—"}</td>
              <td>{s.serviceName} / {s.threadId}</td>
              <td class="num">{fmtNs(s.durationNs)}</td>
              <td class="num">{((100 * Number(s.durationNs)) / total).toFixed(1)} %</td>
              <td class="num">{fmtNs(exclusive(cp.steps, i))}</td>
              <td><span class="bar" style={{ width: `${(100 * Number(s.durationNs)) / total}px` }} /></td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function VariablesTab(props: {
  a: AnalyzeTraceResponse;
  ev: Events;
  variable?: string;
  onVar: (v: string) => void;
  onSelect: (id: string) => void;
}) {
  // Variable names from the race groups and the state changes loaded so far.
  const names = useMemo(() => {
    const n = new Set(props.a.raceGroups.map((g) => g.variable));
    for (const e of props.ev.events) if (e.kind.case === "stateChange") n.add(e.kind.value.variable);
    return [...n].sort();
  }, [props.a, props.ev.events]);
  const racy = new Set(props.a.raceGroups.map((g) => g.variable));
  const cur = props.variable && names.includes(props.variable) ? props.variable : names[0];
  const traceId = props.a.summary!.traceId;
  const trail = useCall(
    (signal) => (cur ? client.getAuditTrail({ traceId, variable: cur }, { signal }) : Promise.resolve(undefined)),
    [traceId, cur],
    "variable",
  );
  if (names.length === 0)
    return <p>{props.ev.done ? "No variables (no state changes) in this trace." : "Loading the variables…"}</p>;
  const accesses = trail.data?.trail?.accesses ?? [];
  return (
    <div class="split">
      <ul class="menu" role="listbox" aria-label="Variables" onKeyDown={listKeys}>
        {names.map((v) => (
          <li data-row tabIndex={0} role="option" aria-selected={v === cur} class={v === cur ? "active" : ""}
            onClick={() => props.onVar(v)} onKeyDown={(e) => e.key === "Enter" && props.onVar(v)}>
            <span class="mono">{v}</span> {racy.has(v) && <Badge kind="critical">race</Badge>}
          </li>
        ))}
      </ul>
      <div>
        <h2>
          Audit trail of <span class="mono">{cur}</span>{" "}
          <a href={href(["variable", cur])}>across all traces →</a>
        </h2>
        <ErrorBox error={trail.error} />
        {trail.loading && !trail.data && <Loading what="audit trail" />}
        {trail.data && (
          <table class="list" aria-label={`Audit trail of ${cur}`} onKeyDown={listKeys}>
            <thead>
              <tr><th>#</th><th>Thread</th><th>Service</th><th>Access</th><th>Old → new</th><th>Location</th><th>Time</th><th>Causal link</th><th>Race</th></tr>
            </thead>
            <tbody>
              {accesses.slice(0, 2000).map((x, i) => (
                <tr data-row tabIndex={0} class="clickable" onClick={() => props.onSelect(x.eventId)} onKeyDown={(e) => e.key === "Enter" && props.onSelect(x.eventId)}>
                  <td class="num">{i + 1}</td>
                  <td>{x.threadId}</td>
                  <td>{x.serviceName}</td>
                  <td>{accessName(x.accessType)}</td>
                  <td class="mono">{fmtValue(x.oldValue)} → {fmtValue(x.newValue)}</td>
                  <td class="mono">{x.location}</td>
                  <td>{fmtTime(x.timestamp)}</td>
                  <td>{i === 0 ? "—" : x.hasCausalLinkToPrevious ? "ordered after previous" : "no"}</td>
                  <td>{x.isRace ? <Badge kind="critical">races with earlier</Badge> : ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {accesses.length > 2000 && <p class="muted">First 2000 of {accesses.length} accesses shown.</p>}
      </div>
    </div>
  );
}

function AnomaliesTab({ a, onSelect }: { a: AnalyzeTraceResponse; onSelect: (id: string) => void }) {
  if (a.anomalies.length === 0) return <p>No anomalies: every operation is within its baseline.</p>;
  return (
    <table class="list" aria-label="Anomalies" onKeyDown={listKeys}>
      <thead>
        <tr><th>Operation</th><th>Duration</th><th>Expected</th><th>σ</th><th>Severity</th><th>Direction</th><th>Samples</th></tr>
      </thead>
      <tbody>
        {a.anomalies.map((x) => (
          <tr data-row tabIndex={0} class="clickable" data-operation={x.operation} title={x.description}
            onClick={() => onSelect(x.eventId)} onKeyDown={(e) => e.key === "Enter" && onSelect(x.eventId)}>
            <td class="mono">{x.operation}</td>
            <td class="num">{fmtNs(x.durationNs)}</td>
            <td class="num">{fmtNs(Math.round(x.expectedMeanNs))} ± {fmtNs(Math.round(x.expectedStddevNs))}</td>
            <td class="num">{x.sigma.toFixed(1)}</td>
            <td><Badge kind={anomalySeverityName(x.severity)}>{anomalySeverityName(x.severity)}</Badge></td>
            <td>{x.slower ? "slower" : "faster"}</td>
            <td class="num">{String(x.baselineSamples)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function ExportTab({ a, ev }: { a: AnalyzeTraceResponse; ev: Events }) {
  const id = a.summary!.traceId;
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  // The whole analysis bundle, asked for only when exporting.
  const exportJson = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const full = await client.analyzeTrace({ traceId: id });
      const doc = { events: ev.events.map((e) => toJson(EventSchema, e)), analysis: toJson(AnalyzeTraceResponseSchema, full) };
      download(`trace-${shortId(id)}.json`, "application/json", JSON.stringify(doc, null, 2));
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };
  // Every race, page by page (the view holds only the first page).
  const exportCsv = async () => {
    setBusy(true);
    setError(undefined);
    try {
      let races = [...a.races];
      for (let token = a.races.length < Number(a.raceCount) ? "" : undefined; token !== undefined; ) {
        const page = await client.getRaces({ traceId: id, pageSize: RACE_PAGE, pageToken: token });
        if (token === "") races = [];
        races = races.concat(page.races);
        token = page.nextPageToken || undefined;
      }
      download(`races-${shortId(id)}.csv`, "text/csv", csv(races));
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };
  const csv = (races: typeof a.races) => {
    const head = "variable,severity,first_event,first_thread,first_location,first_access,second_event,second_thread,second_location,second_access";
    const rows = races.map((r) =>
      [r.variable, severityName(r.severity), r.first!.eventId, r.first!.threadId, r.first!.location, accessName(r.first!.accessType),
        r.second!.eventId, r.second!.threadId, r.second!.location, accessName(r.second!.accessType)].map(csvCell).join(","),
    );
    return [head, ...rows].join("\n") + "\n";
  };
  return (
    <div class="export">
      <p>
        <button disabled={!ev.done || busy} onClick={exportJson}>
          Download trace JSON (events + analysis)
        </button>{" "}
        {!ev.done && <span class="muted">waiting for all events…</span>}
      </p>
      <ErrorBox error={error} />
      <p>
        <button disabled={busy} onClick={exportCsv}>Download races CSV</button> <span class="muted">{String(a.raceCount)} races</span>
      </p>
    </div>
  );
}
