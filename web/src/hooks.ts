// Data loading with errors in words and automatic retry while the query
// service is unreachable.
import { useEffect, useState } from "preact/hooks";
import { describeError, isUnavailable } from "./api";

export interface Loaded<T> {
  data?: T;
  error?: string;
  loading: boolean;
}

export function useCall<T>(
  call: (signal: AbortSignal) => Promise<T>,
  deps: unknown[],
  what = "trace",
): Loaded<T> {
  const [state, setState] = useState<Loaded<T>>({ loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const ctl = new AbortController();
    let retry: number | undefined;
    setState((s) => ({ data: s.data, loading: true }));
    call(ctl.signal).then(
      (data) => !ctl.signal.aborted && setState({ data, loading: false }),
      (e) => {
        if (ctl.signal.aborted) return;
        setState({ error: describeError(e, what), loading: false });
        if (isUnavailable(e)) retry = window.setTimeout(() => setTick((t) => t + 1), 3000);
      },
    );
    return () => {
      ctl.abort();
      if (retry !== undefined) clearTimeout(retry);
    };
  }, [...deps, tick]);
  return state;
}
