// Traces list: newest first, ListTraces filters and page tokens, search by
// id, auto-refresh. Race counts come per row from GetRaces (total_count),
// a few at a time, so the list itself shows at once.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { useEffect, useState } from "preact/hooks";
import { client } from "../api";
import { ErrorBox, Loading, listKeys } from "../components";
import { TimeRangeSchema, type TraceSummary } from "../gen/raceway/v1/query_pb.js";
import { fmtNs, fmtTime, tsNanos } from "../format";
import { useCall } from "../hooks";
import { href, navigate, type Route } from "../router";

const PAGE_SIZE = 25;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function rangeOf(from: string, to: string) {
  if (!from && !to) return undefined;
  return create(TimeRangeSchema, {
    start: from ? timestampFromDate(new Date(from)) : undefined,
    end: to ? timestampFromDate(new Date(to)) : undefined,
  });
}

export function TracesView({ route }: { route: Route }) {
  const p = route.params;
  const service = p.get("service") ?? "";
  const minEvents = p.get("min") ?? "";
  const from = p.get("from") ?? "";
  const to = p.get("to") ?? "";
  const page = p.get("page") ?? "";
  const [prevTokens, setPrevTokens] = useState<string[]>([]);
  const [auto, setAuto] = useState(false);
  const [search, setSearch] = useState("");
  const [searchError, setSearchError] = useState("");
  const [tick, setTick] = useState(0);

  const services = useCall((signal) => client.listServices({}, { signal }), []);
  const list = useCall(
    (signal) =>
      client.listTraces(
        {
          pageSize: PAGE_SIZE,
          pageToken: page,
          service,
          minEvents: minEvents ? BigInt(minEvents) : 0n,
          timeRange: rangeOf(from, to),
        },
        { signal },
      ),
    [service, minEvents, from, to, page, tick],
    "page",
  );
  const [total, setTotal] = useState<bigint | undefined>();
  useEffect(() => {
    if (list.data && !page) setTotal(list.data.totalCount);
  }, [list.data, page]);

  useEffect(() => {
    if (!auto) return;
    const t = window.setInterval(() => setTick((n) => n + 1), 5000);
    return () => clearInterval(t);
  }, [auto]);

  const setFilter = (k: string, v: string) => {
    const q: Record<string, string> = { service, min: minEvents, from, to };
    q[k] = v;
    setPrevTokens([]);
    navigate(href(["traces"], q));
  };
  const goPage = (token: string, back: boolean) => {
    setPrevTokens((s) => (back ? s.slice(0, -1) : [...s, page]));
    navigate(href(["traces"], { service, min: minEvents, from, to, page: token }));
  };
  const onSearch = (e: Event) => {
    e.preventDefault();
    const id = search.trim().toLowerCase();
    if (!UUID.test(id)) {
      setSearchError("a trace id is a UUID (8-4-4-4-12 hex digits)");
      return;
    }
    setSearchError("");
    navigate(href(["trace", id]));
  };

  return (
    <section aria-labelledby="traces-h">
      <h1 id="traces-h">Traces</h1>
      <div class="filters">
        <form class="filters" onSubmit={onSearch} role="search">
          <label>
            Trace id
            <input
              aria-label="Search by trace id"
              placeholder="trace id"
              value={search}
              onInput={(e) => setSearch(e.currentTarget.value)}
            />
          </label>
          <button type="submit">Open</button>
        </form>
        <label>
          Service
          <select aria-label="Filter by service" value={service} onChange={(e) => setFilter("service", e.currentTarget.value)}>
            <option value="">all</option>
            {services.data?.services.map((s) => <option value={s.name}>{s.name}</option>)}
          </select>
        </label>
        <label>
          Min events
          <input
            aria-label="Minimum events"
            type="number"
            min="0"
            value={minEvents}
            onChange={(e) => setFilter("min", e.currentTarget.value)}
          />
        </label>
        <label>
          From
          <input aria-label="From time" type="datetime-local" value={from} onChange={(e) => setFilter("from", e.currentTarget.value)} />
        </label>
        <label>
          To
          <input aria-label="To time" type="datetime-local" value={to} onChange={(e) => setFilter("to", e.currentTarget.value)} />
        </label>
        <label class="check">
          <input type="checkbox" aria-label="Auto-refresh" checked={auto} onChange={(e) => setAuto(e.currentTarget.checked)} />
          auto-refresh (5 s)
        </label>
      </div>
      <ErrorBox error={searchError || services.error} />
      <ErrorBox error={list.error} />
      {list.loading && !list.data && <Loading what="traces" />}
      {list.data && (
        <>
          <p class="muted">
            {total !== undefined && `${total} matching traces`}
            {list.loading && " · refreshing…"}
          </p>
          <table class="list" aria-label="Traces, newest first" onKeyDown={listKeys}>
            <thead>
              <tr>
                <th>Trace</th><th>Last event</th><th>Events</th><th>Services</th><th>Duration</th><th>Races</th>
              </tr>
            </thead>
            <tbody>
              {list.data.traces.map((t) => <TraceRow key={t.traceId} t={t} />)}
              {list.data.traces.length === 0 && (
                <tr><td colSpan={6}>No traces match. Send some with <code>raceway demo</code>.</td></tr>
              )}
            </tbody>
          </table>
          <nav class="pager" aria-label="Pages">
            <button disabled={!page} onClick={() => goPage(prevTokens[prevTokens.length - 1] ?? "", true)}>
              ← Newer
            </button>
            <button disabled={!list.data.nextPageToken} onClick={() => goPage(list.data!.nextPageToken, false)}>
              Older →
            </button>
          </nav>
        </>
      )}
    </section>
  );
}

// At most a few GetRaces calls in flight: each runs the trace's analysis.
let inFlight = 0;
const waiting: (() => void)[] = [];
async function limited<T>(f: () => Promise<T>): Promise<T> {
  if (inFlight >= 3) await new Promise<void>((r) => waiting.push(r));
  inFlight++;
  try {
    return await f();
  } finally {
    inFlight--;
    waiting.shift()?.();
  }
}

function TraceRow({ t }: { t: TraceSummary }) {
  const races = useCall(
    (signal) => limited(() => client.getRaces({ traceId: t.traceId, pageSize: 1 }, { signal })),
    [t.traceId, t.eventCount],
  );
  const link = href(["trace", t.traceId]);
  return (
    <tr
      data-row
      tabIndex={0}
      class="clickable"
      onClick={() => navigate(link)}
      onKeyDown={(e) => e.key === "Enter" && navigate(link)}
    >
      <td><a href={link} class="mono">{t.traceId}</a></td>
      <td>{fmtTime(t.lastTimestamp)}</td>
      <td class="num">{String(t.eventCount)}</td>
      <td>{t.services.join(", ")}</td>
      <td class="num">{fmtNs(tsNanos(t.lastTimestamp) - tsNanos(t.firstTimestamp))}</td>
      <td class="num" data-races={races.data ? String(races.data.totalCount) : ""}>
        {races.data ? String(races.data.totalCount) : races.error ? "?" : "…"}
      </td>
    </tr>
  );
}
