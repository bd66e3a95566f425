// Display helpers shared by the views.
import { toJson } from "@bufbuild/protobuf";
import { ValueSchema, timestampDate, type Timestamp, type Value } from "@bufbuild/protobuf/wkt";
import { AccessType, type Event } from "./gen/raceway/v1/event_pb.js";
import { RaceSeverity, AnomalySeverity } from "./gen/raceway/v1/query_pb.js";

export function tsNanos(t?: Timestamp): bigint {
  return t ? t.seconds * 1_000_000_000n + BigInt(t.nanos) : 0n;
}

export function fmtTime(t?: Timestamp): string {
  if (!t) return "—";
  const d = timestampDate(t);
  const ns = String(t.nanos).padStart(9, "0");
  return `${d.toISOString().slice(0, 19).replace("T", " ")}.${ns} UTC`;
}

export function fmtNs(ns: bigint | number): string {
  const n = Number(ns);
  if (n < 0) return `-${fmtNs(-n)}`;
  if (n >= 1e9) return `${(n / 1e9).toFixed(3)} s`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(3)} ms`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(3)} µs`;
  return `${n} ns`;
}

export function fmtValue(v?: Value): string {
  return v ? JSON.stringify(toJson(ValueSchema, v)) : "—";
}

export function prettyValue(v?: Value): string {
  return v ? JSON.stringify(toJson(ValueSchema, v), null, 2) : "—";
}

export const severityName = (s: RaceSeverity): string =>
  (RaceSeverity[s] as string | undefined) ?? "UNSPECIFIED";

export const anomalySeverityName = (s: AnomalySeverity): string =>
  (AnomalySeverity[s] as string | undefined) ?? "UNSPECIFIED";

export const accessName = (a: AccessType): string =>
  (AccessType[a] ?? "UNSPECIFIED").replace(/_/g, " ").toLowerCase();

// "FunctionCall(handle_checkout)"-style label, as the server's kind labels.
export function eventLabel(e: Event): string {
  const k = e.kind;
  switch (k.case) {
    case "functionCall": return `FunctionCall(${k.value.functionName})`;
    case "stateChange": return `StateChange(${k.value.variable})`;
    case "lockAcquire": return `LockAcquire(${k.value.lockId})`;
    case "lockRelease": return `LockRelease(${k.value.lockId})`;
    case "httpRequest": return `HttpRequest(${k.value.method})`;
    case "httpResponse": return `HttpResponse(${k.value.status})`;
    case "asyncSpawn": return `AsyncSpawn(${k.value.taskId})`;
    case "asyncAwait": return `AsyncAwait(${k.value.futureId})`;
    case "memoryFence": return "MemoryFence";
    case "databaseQuery": return "DatabaseQuery";
    case "databaseResult": return "DatabaseResult";
    case "error": return `Error(${k.value.errorType})`;
    case "custom": return `Custom(${k.value.name})`;
    default: return "Unknown";
  }
}

export function shortId(id: string): string {
  return id.slice(0, 8);
}

export function download(name: string, type: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function csvCell(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
