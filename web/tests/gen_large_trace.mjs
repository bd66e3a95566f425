// Writes one large trace as JSON Lines for `raceway import` (the format of
// `raceway export`): 8 threads over 2 services, each a root call followed by
// locked and unlocked state changes of a few shared variables, so the trace
// has races, an audit trail per variable and a critical path. Its operation
// names (run_N, step, SpinLock, counter_N) are its own, so it does not
// change the anomaly baselines of the demo's operations.
//   node gen_large_trace.mjs EVENTS OUT.jsonl   -> prints the trace id
import { randomUUID } from "node:crypto";
import { createWriteStream } from "node:fs";

const total = Number(process.argv[2]);
const out = createWriteStream(process.argv[3]);
const trace = randomUUID();
const threads = 8;
const start = BigInt(Date.now() - 60_000) * 1_000_000n;
const stamp = (ns) => {
  const s = start + ns;
  const d = new Date(Number(s / 1_000_000n));
  return `${d.toISOString().slice(0, 19)}.${String(s % 1_000_000_000n).padStart(9, "0")}Z`;
};
const perThread = Math.floor(total / threads);
const lines = [];
for (let t = 0; t < threads; t++) {
  const service = t < threads / 2 ? "frontend" : "backend";
  const thread = `worker-${t}`;
  const root = randomUUID();
  const meta = (dur) => ({ thread_id: thread, service_name: service, duration_ns: String(dur) });
  const rootDur = BigInt(perThread) * 10_000n;
  lines.push({ id: root, trace_id: trace, timestamp: stamp(BigInt(t) * 1000n),
    metadata: meta(rootDur), function_call: { function_name: `run_${t}`, file: "worker.rs", line: 1 } });
  for (let i = 1; i < perThread; i++) {
    const ns = BigInt(t) * 1000n + BigInt(i) * 10_000n;
    const base = { id: randomUUID(), trace_id: trace, parent_id: root, timestamp: stamp(ns), metadata: meta(5_000) };
    const k = i % 4;
    if (k === 1) lines.push({ ...base, lock_acquire: { lock_id: "counter_mutex", lock_type: "SpinLock" } });
    else if (k === 2) lines.push({ ...base, state_change: { variable: `counter_${i % 16}`, new_value: i, location: "worker.rs:20", access_type: "ACCESS_TYPE_WRITE" } });
    else if (k === 3) lines.push({ ...base, lock_release: { lock_id: "counter_mutex", lock_type: "SpinLock" } });
    // Unlocked: races with the other threads' writes now and then.
    else if (i % 400 === 0) lines.push({ ...base, state_change: { variable: "shared_total", old_value: i - 1, new_value: i, location: `worker.rs:${40 + (t % 2)}`, access_type: "ACCESS_TYPE_WRITE" } });
    else lines.push({ ...base, function_call: { function_name: "step", file: "worker.rs", line: 30 } });
  }
}
for (const l of lines) out.write(JSON.stringify(l) + "\n");
out.end(() => console.log(trace));
