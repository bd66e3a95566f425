#!/usr/bin/env python3
"""Local proof of independent scaling: one PostgreSQL, then 1 -> 2 ingest
replicas and 1 -> 2 query replicas of the real binaries on loopback.

For each configuration (ingest x query) it drives one raceway-loadgen per
ingest replica and one raceway-querygen across all query replicas at the
same time, then prints aggregate committed events/s, query p99, and the CPU
each process used (to locate the bottleneck). It checks what matters when
replicas share one database:
  * no lost acked events: every loadgen verifies its acked events in the DB;
  * no duplicates: the events table grew by exactly the events reported as
    newly stored (accepted), and no loadgen saw a duplicate;
  * consistent query results: every query replica returns the same trace
    list and the same analysis for the same traces.
Exit code 0 only when every check passed.

Usage: deploy/local/multi_replica.py [--build build] [--seconds 15]
         [--configs 1x1,2x1,2x2] [--json]
PostgreSQL comes from RACEWAY_TEST_POSTGRES_URL (tests/support/testdb.sh);
without it the script starts a throwaway server.
"""

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench",
                                "support"))
from harness import ROOT, Service, fresh_database, log, with_database, workspace  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of a process and its reaped children, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return sum(int(x) for x in fields[11:15]) / CLK_TCK
    except OSError:
        return 0.0


def psql(url, sql):
    out = subprocess.run(["psql", url, "-qAtc", sql], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def postgres_pids(url):
    """Server processes of the test cluster (its postmaster and backends)."""
    port = re.search(r":(\d+)/", url).group(1)
    out = subprocess.run(["pgrep", "-f", f"postgres.*{port}|postgres: "], capture_output=True,
                         text=True)
    return [int(p) for p in out.stdout.split()]


def cli_json(build, *args):
    out = subprocess.run([os.path.join(build, "tools/raceway/raceway")] + list(args) + ["--json"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"raceway {' '.join(args)}: exit {out.returncode}: {out.stderr}")
    return out.stdout


def run_config(args, url, n_ingest, n_query):
    build = args.build
    name = f"{n_ingest}x{n_query}"
    storage = ["--storage.backend=postgres", f"--storage.postgres.connection_string={url}",
               "--storage.postgres.auto_migrate=false"]
    ingests = [Service(os.path.join(build, "services/ingest/raceway-ingest"),
                       storage + ["--ingest.listen=127.0.0.1:0", "--ingest.http_listen=",
                                  "--metrics.ingest_listen="], "ingest started")
               for _ in range(n_ingest)]
    queries = [Service(os.path.join(build, "services/query/raceway-query"),
                       storage + ["--query.listen=127.0.0.1:0", "--query.grpc_web_listen=",
                                  "--metrics.query_listen="], "query started")
               for _ in range(n_query)]
    result = {"config": name, "ingest_replicas": n_ingest, "query_replicas": n_query}
    failures = []
    try:
        events_before = int(psql(url, "SELECT count(*) FROM events"))
        pg = postgres_pids(url)
        cpu0 = {p.proc.pid: cpu_seconds(p.proc.pid) for p in ingests + queries}
        pg0 = sum(cpu_seconds(p) for p in pg)
        gen0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.time()
        # Load: one loadgen per ingest replica, one querygen across the
        # query replicas, all at once.
        loads = [subprocess.Popen(
            [os.path.join(build, "tools/loadgen/raceway-loadgen"), f"--target={i.address}",
             f"--duration={args.seconds}", f"--streams={args.streams}", f"--seed={k + 1}",
             f"--verify-storage={url}", "--json", "--quiet"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for k, i in enumerate(ingests)]
        querygen = subprocess.Popen(
            [os.path.join(build, "tools/querygen/raceway-querygen"),
             "--targets=" + ",".join(q.address for q in queries), f"--workers={args.workers}",
             f"--duration={args.seconds}", "--json", "--quiet"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        load_reports = []
        for p in loads:
            out, err = p.communicate()
            lines = [l for l in out.splitlines() if l.startswith("{")]
            if p.returncode != 0 or not lines:
                failures.append(f"loadgen exit {p.returncode}: {err[-500:]}")
            if lines:
                load_reports.append(json.loads(lines[-1]))
        qout, qerr = querygen.communicate()
        wall = time.time() - t0
        gen1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # The reaped generators.
        qlines = [l for l in qout.splitlines() if l.startswith("{")]
        if querygen.returncode != 0 or not qlines:
            failures.append(f"querygen exit {querygen.returncode}: {qerr[-500:]}")
        qreport = json.loads(qlines[-1]) if qlines else {}

        acked = sum(r["acked"] for r in load_reports)
        accepted = sum(r["accepted"] for r in load_reports)
        duplicates = sum(r["duplicate"] for r in load_reports)
        missing = sum(r["missing"] for r in load_reports)
        events_after = int(psql(url, "SELECT count(*) FROM events"))
        result.update({
            "committed_events_per_s": sum(r["committed_per_second"] for r in load_reports),
            "ack_p99_ms": max((r["ack_p99_ms"] for r in load_reports), default=0),
            "acked": acked,
            "missing_acked": missing,
            "duplicates": duplicates,
            "stored_delta": events_after - events_before,
            "accepted": accepted,
            "query_requests_per_s": qreport.get("requests_per_second", 0),
            # The slowest RPC's p99 (AnalyzeTrace, usually), and each RPC's.
            "query_p99_ms": max((r["p99_ms"] for r in qreport.get("per_rpc", [])), default=0),
            "query_p99_ms_per_rpc": {r["rpc"]: r["p99_ms"] for r in qreport.get("per_rpc", [])},
            "query_errors": qreport.get("errors", 0),
            "cpu_cores": {
                "ingest": [round((cpu_seconds(i.proc.pid) - cpu0[i.proc.pid]) / wall, 2)
                           for i in ingests],
                "query": [round((cpu_seconds(q.proc.pid) - cpu0[q.proc.pid]) / wall, 2)
                          for q in queries],
                "postgres": round((sum(cpu_seconds(p) for p in pg) - pg0) / wall, 2),
                "load_generators": round((gen1.ru_utime + gen1.ru_stime - gen0.ru_utime -
                                          gen0.ru_stime) / wall, 2),
            },
        })
        if missing:
            failures.append(f"{missing} acked events missing from the database")
        if duplicates:
            failures.append(f"{duplicates} events reported as duplicates (fresh ids were sent)")
        if events_after - events_before != accepted:
            failures.append(f"events table grew by {events_after - events_before}, "
                            f"but {accepted} events were newly stored")
        if not all(r["verified"] for r in load_reports):
            failures.append("a loadgen did not verify its acked events")

        # Consistency: every query replica answers the same.
        listings = [cli_json(build, "traces", "--server", q.address, "--limit", "20")
                    for q in queries]
        if any(l != listings[0] for l in listings):
            failures.append("query replicas disagree on the trace list")
        trace_ids = re.findall(r'"trace_id":\s*"([0-9a-f-]{36})"', listings[0])[:3]
        for t in trace_ids:
            analyses = [cli_json(build, "races", t, "--server", q.address) for q in queries]
            if any(a != analyses[0] for a in analyses):
                failures.append(f"query replicas disagree on the races of {t}")
        result["consistency_checked_traces"] = len(trace_ids)
    finally:
        for s in ingests + queries:
            if s.stop() != 0:
                failures.append(f"a replica did not exit 0 on SIGTERM")
    result["failures"] = failures
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build", default=os.path.join(ROOT, "build"))
    p.add_argument("--seconds", type=int, default=15)
    p.add_argument("--configs", default="1x1,2x1,2x2")
    p.add_argument("--streams", type=int, default=4)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    results = []
    with workspace(need_servers=True) as (_, env):
        base = env["RACEWAY_TEST_POSTGRES_URL"]
        url = with_database(base, "raceway_multi_replica")
        fresh_database("postgres", url)
        # What the Kubernetes migrations Job does before any replica starts.
        subprocess.run([os.path.join(args.build, "tools/raceway/raceway"), "migrate", "up",
                        "--to", url], check=True, stdout=subprocess.DEVNULL)
        for config in args.configs.split(","):
            n_ingest, n_query = (int(x) for x in config.split("x"))
            log(f"== {n_ingest} ingest x {n_query} query replicas, {args.seconds} s")
            results.append(run_config(args, url, n_ingest, n_query))

    if args.json:
        for r in results:
            print(json.dumps(r))
    else:
        print(f"{'config':8} {'events/s':>10} {'ack p99 ms':>10} {'query req/s':>11} "
              f"{'query p99 ms':>12}  cpu cores (ingest | query | postgres | generators)  checks")
        for r in results:
            c = r.get("cpu_cores", {})
            print(f"{r['config']:8} {r.get('committed_events_per_s', 0):>10.0f} "
                  f"{r.get('ack_p99_ms', 0):>10.1f} {r.get('query_requests_per_s', 0):>11.1f} "
                  f"{r.get('query_p99_ms', 0):>12.1f}  {c.get('ingest')} | {c.get('query')} | "
                  f"{c.get('postgres')} | {c.get('load_generators')}  "
                  f"{'ok' if not r['failures'] else '; '.join(r['failures'])}")
        print(f"load average at end: {os.getloadavg()}")
    return 1 if any(r["failures"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
