// Every field of the selected event, its computed vector clock and lock
// set, and the happens-before relation to a second event (HappensBefore).
import { toJson } from "@bufbuild/protobuf";
import { useState } from "preact/hooks";
import { client } from "../api";
import { ErrorBox } from "../components";
import { EventSchema, type Event } from "../gen/raceway/v1/event_pb.js";
import { HappensBeforeRelation, type AnalyzeTraceResponse } from "../gen/raceway/v1/query_pb.js";
import { eventLabel, fmtNs, fmtTime, shortId } from "../format";
import { useCall } from "../hooks";

const RELATION: Record<number, string> = {
  [HappensBeforeRelation.BEFORE]: "BEFORE",
  [HappensBeforeRelation.AFTER]: "AFTER",
  [HappensBeforeRelation.CONCURRENT]: "CONCURRENT",
  [HappensBeforeRelation.SAME]: "SAME",
  [HappensBeforeRelation.NOT_COMPARABLE]: "NOT COMPARABLE",
};

// Locks this thread holds at the event, from its acquire/release events.
function locksHeld(events: Event[], e: Event): string[] {
  const held = new Set<string>();
  for (const x of events) {
    if (x.metadata?.threadId !== e.metadata?.threadId) continue;
    if (x.id === e.id) break;
    if (x.kind.case === "lockAcquire") held.add(x.kind.value.lockId);
    else if (x.kind.case === "lockRelease") held.delete(x.kind.value.lockId);
  }
  return [...held].sort();
}

export function EventDetail(props: {
  traceId: string;
  eventId: string;
  compareId?: string;
  events: Event[];
  a: AnalyzeTraceResponse;
  onSelect: (id: string) => void;
  onClose: () => void;
  onClearCompare: () => void;
}) {
  const e = props.events.find((x) => x.id === props.eventId);
  const other = props.compareId ? props.events.find((x) => x.id === props.compareId) : undefined;
  // HappensBefore(e, e) returns e's computed vector clock without asking
  // AnalyzeTrace for every event's clock.
  const hb = useCall(
    (signal) => client.happensBefore({ eventA: props.eventId, eventB: props.compareId || props.eventId }, { signal }),
    [props.eventId, props.compareId],
    "event",
  );
  const [raw, setRaw] = useState(false);
  const raceLocks = props.a.races
    .flatMap((r) => [r.first!, r.second!])
    .find((x) => x.eventId === props.eventId)?.lockSet;
  const rel = hb.data && props.compareId && props.compareId !== props.eventId ? RELATION[hb.data.relation] : undefined;

  return (
    <aside class="detail" aria-label="Event detail">
      <div class="detail-head">
        <h2>Event <span class="mono">{shortId(props.eventId)}</span></h2>
        <button aria-label="Close event detail" onClick={props.onClose}>×</button>
      </div>
      {!e && <p class="muted">Event not loaded yet (events arrive page by page).</p>}
      {e && (
        <>
          <h3>{eventLabel(e)}</h3>
          <dl class="fields">
            <dt>id</dt><dd class="mono">{e.id}</dd>
            <dt>parent</dt>
            <dd class="mono">{e.parentId ? <a href="#" onClick={(m) => { m.preventDefault(); props.onSelect(e.parentId); }}>{e.parentId}</a> : "— (root)"}</dd>
            <dt>timestamp</dt><dd>{fmtTime(e.timestamp)}</dd>
            <dt>service</dt><dd>{e.metadata?.serviceName}</dd>
            <dt>thread</dt><dd>{e.metadata?.threadId}</dd>
            <dt>process</dt><dd>{e.metadata?.processId || "—"}</dd>
            <dt>environment</dt><dd>{e.metadata?.environment || "—"}</dd>
            <dt>instance</dt><dd>{e.metadata?.instanceId || "—"}</dd>
            <dt>duration</dt><dd>{e.metadata?.durationNs !== undefined ? fmtNs(e.metadata.durationNs) : "none"}</dd>
            <dt>span</dt><dd class="mono">{e.metadata?.distributedSpanId || "—"}</dd>
            <dt>upstream span</dt><dd class="mono">{e.metadata?.upstreamSpanId || "—"}</dd>
            <dt>tags</dt><dd class="mono">{JSON.stringify(e.metadata?.tags ?? {})}</dd>
            <dt>client lock set</dt><dd class="mono">{e.lockSet.join(", ") || "—"}</dd>
            <dt>locks held</dt><dd class="mono" data-field="locks">{(raceLocks ?? locksHeld(props.events, e)).join(", ") || "none"}</dd>
            <dt>client clock</dt><dd class="mono">{e.causalityVector.map((c) => `${c.component}:${c.clock}`).join(" ") || "—"}</dd>
          </dl>
          <h3>{e.kind.case}</h3>
          <pre class="json">{JSON.stringify((toJson(EventSchema, e) as Record<string, unknown>)[e.kind.case ?? ""] ?? {}, null, 2)}</pre>
          <button class="link" onClick={() => setRaw(!raw)} aria-expanded={raw}>{raw ? "hide" : "show"} the whole event as JSON</button>
          {raw && <pre class="json">{JSON.stringify(toJson(EventSchema, e), null, 2)}</pre>}
        </>
      )}
      <h3>Vector clock</h3>
      <ErrorBox error={hb.error} />
      {hb.data && (
        <table class="list small" aria-label="Computed vector clock">
          <tbody>
            {hb.data.clockA?.entries.map((c) => <tr><td>{c.component}</td><td class="num">{String(c.clock)}</td></tr>)}
          </tbody>
        </table>
      )}
      <h3>Happens-before</h3>
      {!props.compareId && <p class="muted">Shift-click a second event (timeline or list) to compare.</p>}
      {props.compareId && (
        <div class="hb" aria-live="polite">
          <p>
            A = <span class="mono">{shortId(props.eventId)}</span> {e && eventLabel(e)}<br />
            B = <span class="mono">{shortId(props.compareId)}</span> {other && eventLabel(other)}
          </p>
          {rel && (
            <p class="relation" data-relation={rel}>
              <b>{rel}</b>:{" "}
              {rel === "BEFORE" ? "A happens before B" : rel === "AFTER" ? "B happens before A" : rel === "CONCURRENT" ? "neither is ordered before the other" : ""}
            </p>
          )}
          <button onClick={props.onClearCompare}>Clear B</button>
        </div>
      )}
    </aside>
  );
}
