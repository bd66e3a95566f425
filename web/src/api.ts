// The only way the page reaches the query service: gRPC-Web through
// @connectrpc/connect-web. Base URL = the page's origin (the query service
// serves the page), or ?api=http://HOST:PORT for development.
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { QueryService } from "./gen/raceway/v1/query_pb.js";

const KEY_STORAGE = "raceway-key";

export function apiBaseUrl(): string {
  const api = new URLSearchParams(window.location.search).get("api");
  return api ? api.replace(/\/+$/, "") : window.location.origin;
}

export function storedKey(): string {
  return sessionStorage.getItem(KEY_STORAGE) ?? "";
}

export function setStoredKey(key: string): void {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

// Listeners told when a call comes back UNAUTHENTICATED (the key prompt).
const authListeners = new Set<() => void>();
export function onUnauthenticated(listener: () => void): () => void {
  authListeners.add(listener);
  return () => authListeners.delete(listener);
}

const auth: Interceptor = (next) => async (req) => {
  const key = storedKey();
  if (key) req.header.set("x-raceway-key", key);
  try {
    return await next(req);
  } catch (e) {
    if (ConnectError.from(e).code === Code.Unauthenticated) authListeners.forEach((l) => l());
    throw e;
  }
};

export const client = createClient(
  QueryService,
  createGrpcWebTransport({ baseUrl: apiBaseUrl(), interceptors: [auth] }),
);

// fetch rejects with a TypeError when nothing answers (connection refused,
// CORS refused, server gone); connect-web passes that on as UNKNOWN.
function code(err: ConnectError): Code {
  return err.code === Code.Unknown && err.cause instanceof TypeError ? Code.Unavailable : err.code;
}

// A failed call in words a person can act on.
export function describeError(e: unknown, what = "trace"): string {
  const err = ConnectError.from(e);
  switch (code(err)) {
    case Code.NotFound:
      return `no ${what} with this id`;
    case Code.Unavailable:
      return "query service unreachable, retrying";
    case Code.Unauthenticated:
      return "the query service needs an API key";
    case Code.PermissionDenied:
      return "this API key is not allowed here";
    case Code.InvalidArgument:
      return `invalid request: ${err.rawMessage}`;
    case Code.DeadlineExceeded:
      return "the query service took too long";
    default:
      return `query failed (${Code[err.code] ?? err.code}): ${err.rawMessage}`;
  }
}

export function isUnavailable(e: unknown): boolean {
  return code(ConnectError.from(e)) === Code.Unavailable;
}
