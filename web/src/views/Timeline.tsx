// Canvas timeline: one lane per thread grouped by service, events at their
// timestamps with their durations, critical path and race links drawn on
// top. Wheel zooms around the pointer, drag pans, click selects (shift-click
// picks the event to compare). Per-lane arrays sorted by time and a
// one-pixel cull keep a frame cheap for 100k events.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { Event } from "../gen/raceway/v1/event_pb.js";
import { eventLabel, fmtNs, tsNanos } from "../format";

// A race: its two accesses' event ids.
export interface Link {
  a: string;
  b: string;
}

interface Lane {
  service: string;
  thread: string;
  events: Event[]; // By timestamp.
  starts: number[]; // ms from t0, parallel to events.
  rows: number[]; // Nesting depth, parallel to events: a call's children sit below it.
  locks: [number, number][]; // Lock held from acquire to release (ms), by start.
  depth: number; // Rows in the lane.
  y: number; // Top of the lane.
}

const ROW_H = 18;
const LANE_PAD = 8;
const HEADER_W = 170;
const TOP = 22;

const durMs = (e: Event) => Number(e.metadata?.durationNs ?? 0n) / 1e6;

export function Timeline(props: {
  events: Event[];
  t0: bigint;
  critical: Set<string>;
  races: Link[];
  highlight: string[];
  selected?: string;
  compare?: string;
  onSelect: (id: string, compare: boolean) => void;
}) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [width, setWidth] = useState(900);
  const drag = useRef<{ x: number; start: number; end: number; moved: boolean } | null>(null);

  const { lanes, byId, spanMs, height } = useMemo(() => {
    const m = new Map<string, Lane>();
    const byId = new Map<string, { lane: number; row: number; e: Event; start: number }>();
    for (const e of props.events) {
      const service = e.metadata?.serviceName ?? "";
      const thread = e.metadata?.threadId ?? "";
      const key = `${service}\u0000${thread}`;
      let l = m.get(key);
      if (!l) m.set(key, (l = { service, thread, events: [], starts: [], rows: [], locks: [], depth: 1, y: 0 }));
      l.events.push(e);
    }
    const lanes = [...m.values()].sort((a, b) => a.service.localeCompare(b.service) || a.thread.localeCompare(b.thread));
    let spanMs = 0.001;
    let y = TOP;
    lanes.forEach((l, i) => {
      // GetTrace returns events in (timestamp, id) order: each lane is sorted.
      l.starts = l.events.map((e) => Number(tsNanos(e.timestamp) - props.t0) / 1e6);
      // Depth = enclosing events still open at this one's start (capped so a
      // deep recursion does not make the lane huge).
      const open: number[] = [];
      l.rows = l.events.map((e, j) => {
        while (open.length && open[open.length - 1] <= l.starts[j]) open.pop();
        const row = Math.min(open.length, 5);
        const end = l.starts[j] + durMs(e);
        if (end > l.starts[j]) open.push(end);
        spanMs = Math.max(spanMs, end);
        return row;
      });
      const held = new Map<string, number>();
      l.events.forEach((e, j) => {
        if (e.kind.case === "lockAcquire") held.set(e.kind.value.lockId, l.starts[j]);
        else if (e.kind.case === "lockRelease" && held.has(e.kind.value.lockId)) {
          l.locks.push([held.get(e.kind.value.lockId)!, l.starts[j]]);
          held.delete(e.kind.value.lockId);
        }
      });
      l.locks.sort((a, b) => a[0] - b[0]);
      l.depth = l.rows.reduce((m, r) => Math.max(m, r), 0) + 1;
      l.y = y;
      y += l.depth * ROW_H + LANE_PAD;
      l.events.forEach((e, j) => byId.set(e.id, { lane: i, row: l.rows[j], e, start: l.starts[j] }));
    });
    return { lanes, byId, spanMs, height: y + 4 };
  }, [props.events, props.t0]);
  // view = [start, end) in ms from t0.
  const fit = () => ({ start: -spanMs * 0.02, end: spanMs * 1.02 });
  const [view, setView] = useState(fit);
  // More events arrived (or another trace): fit the whole span again.
  useEffect(() => setView(fit()), [spanMs]);

  useEffect(() => {
    const c = canvas.current;
    if (!c) return;
    const ro = new ResizeObserver(() => setWidth(c.parentElement!.clientWidth));
    ro.observe(c.parentElement!);
    return () => ro.disconnect();
  }, []);

  const plotW = Math.max(width - HEADER_W - 10, 100);
  const xOf = (ms: number) => HEADER_W + ((ms - view.start) / (view.end - view.start)) * plotW;

  useEffect(() => {
    const c = canvas.current;
    if (!c) return;
    const dpr = window.devicePixelRatio || 1;
    c.width = width * dpr;
    c.height = height * dpr;
    const g = c.getContext("2d")!;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    const t0 = performance.now();
    const css = getComputedStyle(c);
    const cache = new Map<string, string>();
    const col = (name: string) => {
      let v = cache.get(name);
      if (v === undefined) cache.set(name, (v = css.getPropertyValue(name).trim()));
      return v;
    };
    g.fillStyle = col("--bg");
    g.fillRect(0, 0, width, height);
    g.font = "12px system-ui, sans-serif";
    // Time axis.
    g.fillStyle = col("--muted");
    g.strokeStyle = col("--grid");
    const ticks = 8;
    for (let i = 0; i <= ticks; i++) {
      const ms = view.start + ((view.end - view.start) * i) / ticks;
      const x = xOf(ms);
      g.beginPath();
      g.moveTo(x, TOP - 4);
      g.lineTo(x, height);
      g.stroke();
      g.fillText(fmtNs(Math.round(ms * 1e6)), x + 2, 12);
    }
    let lastService = "";
    lanes.forEach((l) => {
      const y = l.y;
      const laneH = l.depth * ROW_H + LANE_PAD;
      if (l.service !== lastService) {
        g.strokeStyle = col("--fg");
        g.beginPath();
        g.moveTo(0, y);
        g.lineTo(width, y);
        g.stroke();
        lastService = l.service;
      }
      g.fillStyle = col("--fg");
      g.fillText(`${l.service} / ${l.thread}`.slice(0, 26), 4, y + 17);
      // Locks held: a thin bar from each acquire to its release, one per pixel.
      g.fillStyle = col("--lock");
      let lockX = -1;
      for (const [s, e] of l.locks) {
        if (s > view.end) break;
        if (e < view.start) continue;
        const x0 = Math.floor(xOf(s)), x1 = xOf(e);
        if (x1 <= lockX) continue;
        g.fillRect(Math.max(x0, lockX), y + laneH - 5, Math.max(x1 - Math.max(x0, lockX), 2), 3);
        lockX = Math.ceil(x1);
      }
      // Events: first index whose start is in view (minus the longest event).
      let lo = 0, hi = l.starts.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (l.starts[mid] < view.start - spanMs) lo = mid + 1;
        else hi = mid;
      }
      const lastX: number[] = [];
      const lastCrit: boolean[] = [];
      for (let j = lo; j < l.events.length && l.starts[j] <= view.end; j++) {
        const e = l.events[j];
        const x = xOf(l.starts[j]);
        const w = Math.max(((durMs(e) / (view.end - view.start)) * plotW), 3);
        const right = x + w;
        if (right < HEADER_W) continue;
        const marked = props.highlight.includes(e.id) || e.id === props.selected || e.id === props.compare;
        const crit = props.critical.has(e.id);
        const row = l.rows[j];
        const ry = y + 3 + row * ROW_H;
        // Same pixel as the last event drawn on this row: skip it unless it
        // is marked or puts the critical-path colour there.
        const px = Math.floor(x);
        if (!marked && w <= 3 && px === lastX[row] && (!crit || lastCrit[row])) continue;
        lastCrit[row] = px === lastX[row] ? lastCrit[row] || crit : crit;
        lastX[row] = px;
        g.fillStyle = crit ? col("--critical") : e.kind.case === "stateChange" ? col("--access") : col("--event");
        g.fillRect(x, ry, w, ROW_H - 4);
        if (marked) {
          g.strokeStyle = e.id === props.compare ? col("--compare") : props.highlight.includes(e.id) ? col("--race") : col("--fg");
          g.lineWidth = 3;
          g.strokeRect(x - 2, ry - 2, w + 4, ROW_H);
          g.lineWidth = 1;
        }
        if (w > 60) {
          g.fillStyle = col("--bg");
          g.fillText(eventLabel(e).slice(0, Math.floor(w / 7)), x + 3, ry + 11);
        }
      }
    });
    // Race links between the two accesses.
    for (const r of props.races) {
      const a = byId.get(r.a), b = byId.get(r.b);
      if (!a || !b) continue;
      const hl = props.highlight.includes(r.a) && props.highlight.includes(r.b);
      const ax = xOf(a.start), ay = lanes[a.lane].y + 3 + a.row * ROW_H + ROW_H / 2 - 2;
      const bx = xOf(b.start), by = lanes[b.lane].y + 3 + b.row * ROW_H + ROW_H / 2 - 2;
      g.strokeStyle = col("--race");
      g.lineWidth = hl ? 3 : 1.5;
      g.setLineDash(hl ? [] : [4, 3]);
      g.beginPath();
      g.moveTo(ax, ay);
      g.bezierCurveTo(ax + 30, ay, bx - 30, by, bx, by);
      g.stroke();
      g.setLineDash([]);
      g.lineWidth = 1;
    }
    c.dataset.drawMs = (performance.now() - t0).toFixed(1);
    // The trace view is interactive once its first events are drawn (the
    // browser test reads this mark for the large-trace benchmark).
    if (props.events.length > 0 && performance.getEntriesByName("raceway:timeline-drawn").length === 0)
      performance.mark("raceway:timeline-drawn");
  });

  const hit = (clientX: number, clientY: number): string | undefined => {
    const r = canvas.current!.getBoundingClientRect();
    const x = clientX - r.left, y = clientY - r.top;
    const lane = lanes.find((l) => y >= l.y && y < l.y + l.depth * ROW_H + LANE_PAD);
    if (!lane || x < HEADER_W) return undefined;
    const row = Math.min(Math.floor((y - lane.y - 3) / ROW_H), lane.depth - 1);
    let best: string | undefined, bestD = 6;
    lane.events.forEach((e, j) => {
      if (lane.rows[j] !== row) return;
      const x0 = xOf(lane.starts[j]);
      const x1 = x0 + Math.max((durMs(e) / (view.end - view.start)) * plotW, 3);
      const d = x < x0 ? x0 - x : x > x1 ? x - x1 : 0;
      if (d < bestD) {
        best = e.id;
        bestD = d;
      }
    });
    return best;
  };

  const onWheel = (e: WheelEvent) => {
    e.preventDefault();
    const r = canvas.current!.getBoundingClientRect();
    const frac = Math.min(Math.max((e.clientX - r.left - HEADER_W) / plotW, 0), 1);
    const at = view.start + frac * (view.end - view.start);
    const k = Math.exp(e.deltaY * 0.002);
    const w = Math.max((view.end - view.start) * k, 1e-6);
    setView({ start: at - frac * w, end: at + (1 - frac) * w });
  };
  const onDown = (e: MouseEvent) => {
    drag.current = { x: e.clientX, start: view.start, end: view.end, moved: false };
  };
  const onMove = (e: MouseEvent) => {
    const d = drag.current;
    if (!d) return;
    const dx = e.clientX - d.x;
    if (Math.abs(dx) > 3) d.moved = true;
    const shift = (-dx / plotW) * (d.end - d.start);
    setView({ start: d.start + shift, end: d.end + shift });
  };
  const onUp = (e: MouseEvent) => {
    const d = drag.current;
    drag.current = null;
    if (d && !d.moved) {
      const id = hit(e.clientX, e.clientY);
      if (id) props.onSelect(id, e.shiftKey);
    }
  };

  return (
    <div class="timeline">
      <div class="toolbar">
        <button aria-label="Zoom in" onClick={() => setView((v) => ({ start: v.start + (v.end - v.start) / 4, end: v.end - (v.end - v.start) / 4 }))}>+</button>
        <button aria-label="Zoom out" onClick={() => setView((v) => ({ start: v.start - (v.end - v.start) / 2, end: v.end + (v.end - v.start) / 2 }))}>−</button>
        <button aria-label="Fit whole trace" onClick={() => setView(fit())}>Fit</button>
        <span class="muted">wheel: zoom · drag: pan · click: select · shift-click: compare</span>
        <span class="legend">
          <i class="sw critical" /> critical path <i class="sw access" /> state change <i class="sw event" /> other
          <i class="sw race" /> race <i class="sw lock" /> lock held
        </span>
      </div>
      <canvas
        ref={canvas}
        role="img"
        aria-label={`Timeline of ${props.events.length} events on ${lanes.length} threads`}
        data-highlight={props.highlight.join(",")}
        data-selected={props.selected ?? ""}
        style={{ width: `${width}px`, height: `${height}px` }}
        onWheel={onWheel}
        onMouseDown={onDown}
        onMouseMove={onMove}
        onMouseUp={onUp}
        onMouseLeave={() => (drag.current = null)}
      />
    </div>
  );
}
