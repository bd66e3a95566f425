#!/usr/bin/env python3
"""End-to-end ingest benchmark: raceway-loadgen -> raceway-ingest (a separate
process) -> storage, per backend, beside the raw bulk rate of the same
database measured in the same run.

For each backend (memory, sqlite, postgres, mysql):
  1. peak      loadgen as fast as it goes: committed events/s, ack latency;
  2. half      loadgen paced at half the peak: ack latency p50/p99;
  3. overload  many streams with deep pipelines (in-flight demand far above
               the ingest buffer bound): server refusals (RESOURCE_EXHAUSTED),
               ingest RSS sampled every 100 ms, every acked event verified
               in the database (not for memory: another process);
  4. raw       the raw bulk insert rate of the same database with rows of the
               same average size (storage_bench / sql_storage_bench), so the
               ratio ingest/raw is measured on the same machine state.

Usage: bench/ingest/ingest_bench.py [--build build] [--backends a,b]
         [--seconds 10] [--streams 4] [--json]
PostgreSQL and MySQL come from RACEWAY_TEST_*_URL (tests/support/testdb.sh
env.sh); without them the script starts its own throwaway servers.
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from harness import ROOT, Service, fresh_database, log, with_database, workspace  # noqa: E402


def loadgen(build, target, args):
    cmd = [os.path.join(build, "tools/loadgen/raceway-loadgen"), f"--target={target}",
           "--json", "--quiet"] + args
    out = subprocess.run(cmd, capture_output=True, text=True)
    lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
    if not lines:
        raise RuntimeError(f"loadgen failed ({out.returncode}): {out.stderr[-2000:]}")
    report = json.loads(lines[-1])
    report["exit_code"] = out.returncode
    return report


def google_benchmark(binary, regex, env):
    out = subprocess.run([binary, f"--benchmark_filter={regex}", "--benchmark_format=json"],
                         capture_output=True, text=True, env=env)
    try:
        # The binaries print a summary table after the JSON document.
        runs = json.JSONDecoder().raw_decode(out.stdout.lstrip())[0]["benchmarks"]
    except (ValueError, KeyError):
        raise RuntimeError(f"{binary} failed: {out.stderr[-2000:]}")
    # items_per_second is per CPU second of the benchmark thread; a client
    # of a database server mostly waits, so convert to wall-clock time.
    rates = [r["items_per_second"] * r["cpu_time"] / r["real_time"] for r in runs
             if "items_per_second" in r and r.get("real_time")]
    if not rates:
        raise RuntimeError(f"{binary} {regex}: no result ({out.stderr[-500:]})")
    return rates[0]


def raw_rate(build, backend, env):
    if backend == "sqlite":  # With checkpoints, as the service runs.
        return google_benchmark(os.path.join(build, "bench/storage/storage_bench"),
                                "BM_RawSqliteInsert/checkpoints:1/", env)
    if backend == "postgres":
        return google_benchmark(os.path.join(build, "bench/storage_sql/sql_storage_bench"),
                                "BM_RawCopy/postgres/", env)
    if backend == "mysql":
        return google_benchmark(os.path.join(build, "bench/storage_sql/sql_storage_bench"),
                                "BM_RawInsert/mysql/", env)
    return None


def run_backend(backend, args, env, tmp):
    flags = ["--ingest.listen=127.0.0.1:0", "--ingest.http_listen=", "--metrics.ingest_listen=",
             f"--ingest.max_buffered_bytes={args.buffer_mib << 20}"]
    verify = []
    if backend == "memory":
        flags += ["--storage.backend=memory", "--storage.max_events_in_memory=100000000"]
    elif backend == "sqlite":
        path = os.path.join(tmp, "ingest_bench.db")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.unlink(path + suffix)
        flags += ["--storage.backend=sqlite", f"--storage.sqlite.database_path={path}",
                  "--storage.create_if_missing=true"]
        verify = [f"--verify-storage=sqlite://{path}"]
    else:
        base = env["RACEWAY_TEST_POSTGRES_URL" if backend == "postgres" else "RACEWAY_TEST_MYSQL_URL"]
        url = with_database(base, "raceway_ingest_bench")
        fresh_database(backend, url)
        flags += [f"--storage.backend={backend}", f"--storage.{backend}.connection_string={url}"]
        verify = [f"--verify-storage={url}"]

    result = {"backend": backend}
    server = Service(os.path.join(args.build, "services/ingest/raceway-ingest"), flags,
                     "ingest started")
    target = server.address
    try:
        common = [f"--streams={args.streams}", f"--batch-size={args.batch_size}"]
        log(f"[{backend}] peak: {args.seconds} s as fast as possible")
        peak = loadgen(args.build, target, common + [f"--duration={args.seconds}"])
        result["peak_events_per_s"] = peak["committed_per_second"]
        result["peak_ack_p99_ms"] = peak["ack_p99_ms"]

        half_rate = max(1, int(peak["committed_per_second"] / 2))
        log(f"[{backend}] half: {half_rate} events/s")
        half = loadgen(args.build, target, common + [f"--duration={args.seconds}",
                                                     f"--rate={half_rate}",
                                                     "--linger-ms=2"])
        result["half_rate"] = half_rate
        result["half_events_per_s"] = half["committed_per_second"]
        result["half_ack_p50_ms"] = half["ack_p50_ms"]
        result["half_ack_p99_ms"] = half["ack_p99_ms"]

        log(f"[{backend}] overload: {args.overload_streams} streams x 64 in flight")
        rss_before = server.rss_kib()
        samples = []
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                samples.append(server.rss_kib())
                time.sleep(0.1)

        sampler = threading.Thread(target=sample)
        sampler.start()
        over = loadgen(args.build, target,
                       [f"--streams={args.overload_streams}", "--max-in-flight=64",
                        f"--batch-size={args.batch_size}", "--producers=2",
                        "--max-buffered-events=2000000", f"--duration={args.seconds}"] + verify)
        stop.set()
        sampler.join()
        half_n = max(1, len(samples) // 2)
        demand = args.overload_streams * 64 * args.batch_size
        result.update({
            "overload_in_flight_demand_events": demand,
            "overload_demand_over_peak_s": demand / max(1.0, peak["committed_per_second"]),
            "overload_events_per_s": over["committed_per_second"],
            "overload_server_refusals": over["server_refusals"],
            "overload_failed": over["failed"],
            "overload_missing": over["missing"],
            "overload_verified": over["verified"],
            "rss_before_mib": rss_before / 1024,
            "rss_peak_mib": max(samples) / 1024 if samples else 0,
            "rss_peak_first_half_mib": max(samples[:half_n]) / 1024 if samples else 0,
            "rss_peak_second_half_mib": max(samples[half_n:]) / 1024 if samples[half_n:] else 0,
            "buffer_bound_mib": args.buffer_mib,
        })
    finally:
        if server.stop() != 0:
            raise RuntimeError("raceway-ingest did not exit 0 on SIGTERM")

    log(f"[{backend}] raw bulk rate")
    raw = raw_rate(args.build, backend, env)
    result["raw_events_per_s"] = raw
    result["ratio_to_raw"] = result["peak_events_per_s"] / raw if raw else None
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build", default=os.path.join(ROOT, "build"))
    p.add_argument("--backends", default="memory,sqlite,postgres,mysql")
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--streams", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--overload-streams", type=int, default=40)
    p.add_argument("--buffer-mib", type=int, default=64)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    backends = args.backends.split(",")

    need_servers = any(b in ("postgres", "mysql") for b in backends)
    with workspace(need_servers) as (tmp, env):
        results = [run_backend(b, args, env, tmp) for b in backends]

    if args.json:
        for r in results:
            print(json.dumps(r))
        return 0
    print(f"load average at end: {os.getloadavg()}")
    header = ("backend", "peak ev/s", "raw ev/s", "ratio", "half p50 ms", "half p99 ms",
              "overload refusals", "RSS before/peak MiB (bound)", "acked missing")
    rows = []
    for r in results:
        rows.append((r["backend"], f"{r['peak_events_per_s']:.0f}",
                     f"{r['raw_events_per_s']:.0f}" if r["raw_events_per_s"] else "-",
                     f"{r['ratio_to_raw']:.0%}" if r["ratio_to_raw"] else "-",
                     f"{r['half_ack_p50_ms']:.1f}", f"{r['half_ack_p99_ms']:.1f}",
                     str(r["overload_server_refusals"]),
                     f"{r['rss_before_mib']:.0f}/{r['rss_peak_mib']:.0f} ({r['buffer_bound_mib']})",
                     str(r["overload_missing"]) if r["overload_verified"] else "not checked"))
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    for row in (header,) + tuple(rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    bad = [r for r in results if r["overload_missing"] or r["overload_failed"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
