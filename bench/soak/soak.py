#!/usr/bin/env python3
"""Soak benchmark: raceway-ingest and raceway-query (separate processes, as in
production) under a steady mixed load with retention deleting, per backend,
for --minutes; resource use sampled every minute; least-squares slopes and a
verdict at the end (README.md beside this file).

Per backend (sqlite: a file in a temporary directory; postgres: a fresh
database on RACEWAY_TEST_POSTGRES_URL, or on a throwaway server of
tests/support/testdb.sh when it is not set), all backends at once:
  * raceway-loadgen at --rate events/s over gRPC streams (steady state, not
    peak);
  * raceway-querygen at --query-rate requests/s (open loop) with a
    dashboard-like mix, over gRPC;
  * a dashboard loop every --dashboard-seconds on the query HTTP port
    (Connect JSON): ListTraces, AnalyzeTrace and GetRaces of the newest
    trace, FindGlobalRaces over the last minute, GetServiceDependencies,
    GetServiceHealth; and on the ingest HTTP port GET /health, GET /status
    and one small POST /events (a new connection each: the HTTP servers'
    connection handling soaks too);
  * retention every --retention-seconds deleting traces idle for more than
    --retention-max-age seconds (soak_retention: the retention CronJob's
    Storage::DeleteTracesBefore with an age in seconds).
Every --sample-seconds, for each service process: RSS, open fds, threads,
CPU; the database size (SQLite file + WAL + SHM; pg_database_size); events
acked and stored, query requests and errors, traces deleted so far.

Exit 1 when a service process dies or does not exit 0 on SIGTERM, when a
load generator or a retention pass fails, or when query errors other than
NOT_FOUND (an expected answer once retention deletes a listed trace) exceed
--max-error-ratio of the requests. The slopes are reported, not enforced
(the verdict lines say flat or growing); see README.md for the thresholds.

Usage: bench/soak/soak.py [--minutes 30] [--backends sqlite,postgres]
         [--rate 2000] [--build build] [--json PATH]
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from harness import ROOT, Service, fresh_database, log, with_database, workspace  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
MIB = 1 << 20
# querygen's mix: the dashboard's refresh (list, open a recent trace) plus
# the system-wide views, so every read path of the query service soaks.
QUERY_MIX = ("list:3,analyze:2,races:2,critical-path:1,dependencies:1,anomalies:1,services:1,"
             "health:1,service-deps:1,hotspots:1,global-races:1")


# ------------------------------------------------------------------ processes

def proc_stats(pid):
    """RSS and its anonymous part (bytes), open fds, threads and CPU seconds
    of a live process."""
    rss = anon = threads = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("RssAnon:"):
                anon = int(line.split()[1]) * 1024
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return {"rss": rss, "anon": anon, "fds": fds, "threads": threads, "cpu": cpu}


def log_port(service, key):
    """A port the service logged in its start line (e.g. "http_port")."""
    for line in open(service.log.name):
        m = re.search(rf'"{key}":"(\d+)"', line)
        if m:
            return int(m.group(1))
    raise RuntimeError(f"no {key} in the start log of pid {service.proc.pid}")


def heap_stats(service):
    """glibc's malloc_stats() of a live service, called through gdb (it
    prints to the service's stderr, its log file): bytes in use, bytes the
    allocator holds from the kernel, and the number of arenas. Live heap
    that keeps growing is a leak; held bytes that grow over flat live bytes
    are the allocator's retention."""
    subprocess.run(["gdb", "-p", str(service.proc.pid), "-batch", "-ex",
                    "call (void)malloc_stats()"], capture_output=True, timeout=120)
    text = open(service.log.name, errors="replace").read()
    start = text.rfind("Arena 0:")
    total = text.rfind("Total (incl. mmap):")
    if start < 0 or total < start:
        return None
    m = re.search(r"system bytes\s*=\s*(\d+)\s*in use bytes\s*=\s*(\d+)", text[total:])
    if not m:
        return None
    return {"heap_system": int(m.group(1)), "heap_in_use": int(m.group(2)),
            "arenas": text.count("Arena ", start, total)}


def log_counts(service):
    """Warning and error lines the service logged so far."""
    warn = err = 0
    for line in open(service.log.name, errors="replace"):
        if '"level":"warn"' in line:
            warn += 1
        elif '"level":"error"' in line:
            err += 1
    return warn, err


class Generator:
    """A load generator child process (--json on stdout, progress lines on
    stderr); the last progress line's counters are read while it runs."""

    def __init__(self, cmd, patterns):
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.patterns = patterns  # name -> regex with one integer group
        self.values = {k: 0 for k in patterns}
        self.stderr_tail = []
        self.stdout = ""
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.out_reader = threading.Thread(target=self._read_stdout, daemon=True)
        self.out_reader.start()

    def _read(self):
        for line in self.proc.stderr:
            for k, rx in self.patterns.items():
                m = re.search(rx, line)
                if m:
                    self.values[k] = int(m.group(1))
            self.stderr_tail = (self.stderr_tail + [line])[-20:]

    def _read_stdout(self):
        self.stdout = self.proc.stdout.read()

    def finish(self, timeout):
        """Waits for the end; returns (exit code, final JSON report or None)."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.reader.join(5)
        self.out_reader.join(5)
        lines = [l for l in self.stdout.splitlines() if l.startswith("{")]
        return code, (json.loads(lines[-1]) if lines else None)


# ------------------------------------------------------------------ HTTP

def post_json(url, body, timeout=30):
    """(HTTP status, parsed JSON body or None); a new connection per call."""
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"null")
        except ValueError:
            return e.code, None


def get_json(url, timeout=30):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None


def rfc3339(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def sdk_trace(now):
    """A small trace in the reference SDKs' JSON: a root call, a locked
    write and an unlocked write of a shared counter on another thread."""
    trace = str(uuid.uuid4())
    ids = [str(uuid.uuid4()) for _ in range(5)]

    def event(i, parent, thread, kind, locks=()):
        return {"id": ids[i], "trace_id": trace, "parent_id": parent,
                "timestamp": rfc3339(now + timedelta(microseconds=100 * i)), "kind": kind,
                "metadata": {"thread_id": thread, "process_id": 1, "service_name": "soak-http",
                             "environment": "soak", "tags": {}, "duration_ns": 1000},
                "causality_vector": [[thread, i + 1]], "lock_set": list(locks)}

    write = {"StateChange": {"variable": "soak.counter", "old_value": 1, "new_value": 2,
                             "location": "soak.py:1", "access_type": "Write"}}
    return {"events": [
        event(0, None, "main", {"FunctionCall": {"function_name": "handle", "module": "soak",
                                                 "args": None, "file": "soak.py", "line": 1}}),
        event(1, ids[0], "w1", {"LockAcquire": {"lock_id": "m", "lock_type": "Mutex",
                                                "location": "soak.py:2"}}),
        event(2, ids[1], "w1", write, ["m"]),
        event(3, ids[2], "w1", {"LockRelease": {"lock_id": "m", "lock_type": "Mutex",
                                                "location": "soak.py:3"}}),
        event(4, ids[0], "w2", write),
    ]}


# ------------------------------------------------------------------ statistics

def slope_per_hour(points):
    """Least-squares slope of (seconds, value) points and its standard
    error, both per hour; (None, None) with fewer than 3 points."""
    n = len(points)
    if n < 3:
        return None, None
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    sxx = sum((t - mx) ** 2 for t, _ in points)
    if sxx == 0:
        return None, None
    b = sum((t - mx) * (v - my) for t, v in points) / sxx
    residuals = sum((v - my - b * (t - mx)) ** 2 for t, v in points)
    return b * 3600, (residuals / (n - 2) / sxx) ** 0.5 * 3600


# ------------------------------------------------------------------ one backend

class Soak:
    """One backend's services, load, sampler and results."""

    def __init__(self, backend, args, env, tmp):
        self.backend = backend
        self.args = args
        self.env = env
        self.tmp = tmp
        self.failures = []
        self.samples = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.dash = {"calls": 0, "hard_errors": 0, "not_found": 0, "http_events_acked": 0,
                     "http_refusals": 0, "last_error": ""}
        self.retention = {"passes": 0, "deleted": 0, "failures": 0, "last_error": "",
                          "max_seconds": 0.0}
        self.services = {}
        self.generators = {}
        self.threads = []
        self.t0 = time.time()

    def fail(self, msg):
        with self.lock:
            self.failures.append(msg)
        log(f"[{self.backend}] FAIL: {msg}")

    # -- setup

    def start(self):
        build = self.args.build
        if self.backend == "sqlite":
            self.db_path = os.path.join(self.tmp, "soak.db")
            # An empty file is an empty SQLite database: the services need
            # not create it (whatever storage.create_if_missing defaults to);
            # ingest migrates it.
            open(self.db_path, "w").close()
            self.url = f"sqlite://{self.db_path}"
            storage = ["--storage.backend=sqlite",
                       f"--storage.sqlite.database_path={self.db_path}"]
        else:
            self.url = with_database(self.env["RACEWAY_TEST_POSTGRES_URL"], "raceway_soak")
            fresh_database("postgres", self.url)
            storage = ["--storage.backend=postgres",
                       f"--storage.postgres.connection_string={self.url}"]
        self.services["ingest"] = Service(
            os.path.join(build, "services/ingest/raceway-ingest"),
            storage + ["--ingest.listen=127.0.0.1:0", "--ingest.http_listen=127.0.0.1:0",
                       "--metrics.ingest_listen=127.0.0.1:0"], "ingest started")
        # After ingest: the schema is there, the query service never migrates.
        self.services["query"] = Service(
            os.path.join(build, "services/query/raceway-query"),
            storage + [f"--storage.{self.backend}.auto_migrate=false",
                       "--query.listen=127.0.0.1:0", "--query.grpc_web_listen=127.0.0.1:0",
                       "--metrics.query_listen=127.0.0.1:0"], "query started")
        self.ingest_http = f"http://127.0.0.1:{log_port(self.services['ingest'], 'http_port')}"
        self.query_http = (f"http://127.0.0.1:{log_port(self.services['query'], 'grpc_web_port')}"
                           "/raceway.v1.QueryService/")
        seconds = max(1, round(self.args.minutes * 60))
        self.generators["loadgen"] = Generator(
            [os.path.join(build, "tools/loadgen/raceway-loadgen"),
             f"--target={self.services['ingest'].address}", f"--duration={seconds}",
             f"--rate={self.args.rate}", f"--streams={self.args.streams}", "--linger-ms=20",
             "--seed=7", "--json"],
            {"acked": r"acked (\d+)"})
        self.generators["querygen"] = Generator(
            [os.path.join(build, "tools/querygen/raceway-querygen"),
             f"--targets={self.services['query'].address}", f"--workers={self.args.workers}",
             f"--duration={seconds}", f"--rate={self.args.query_rate}", f"--mix={QUERY_MIX}",
             "--max-error-ratio=1", "--json"],
            {"requests": r"requests (\d+)", "errors": r"errors (\d+)"})
        self.t0 = time.time()
        self.threads = [threading.Thread(target=f, daemon=True)
                        for f in (self.dashboard_loop, self.retention_loop)]
        for t in self.threads:
            t.start()

    # -- background loops

    def dashboard_call(self, method, body):
        status, reply = post_json(self.query_http + method, body)
        with self.lock:
            self.dash["calls"] += 1
            if status == 404 and reply and reply.get("code") == "not_found":
                self.dash["not_found"] += 1
            elif status != 200:
                self.dash["hard_errors"] += 1
                self.dash["last_error"] = f"{method}: HTTP {status} {reply}"
        return reply if status == 200 else None

    def dashboard_loop(self):
        while not self.stop.wait(self.args.dashboard_seconds):
            try:
                now = datetime.now(timezone.utc)
                listing = self.dashboard_call("ListTraces", {"pageSize": 20}) or {}
                traces = listing.get("traces", [])
                if traces:
                    self.dashboard_call("AnalyzeTrace", {"traceId": traces[0]["traceId"]})
                    self.dashboard_call("GetRaces", {"traceId": traces[-1]["traceId"]})
                self.dashboard_call("FindGlobalRaces", {
                    "pageSize": 50,
                    "timeRange": {"start": rfc3339(now - timedelta(minutes=1)),
                                  "end": rfc3339(now)}})
                self.dashboard_call("GetServiceDependencies", {})
                self.dashboard_call("GetServiceHealth", {})
                for path in ("/health", "/status"):
                    status, _ = get_json(self.ingest_http + path)
                    with self.lock:
                        self.dash["calls"] += 1
                        if status != 200:
                            self.dash["hard_errors"] += 1
                            self.dash["last_error"] = f"GET {path}: HTTP {status}"
                status, reply = post_json(self.ingest_http + "/events", sdk_trace(now))
                with self.lock:
                    self.dash["calls"] += 1
                    if status == 200 and reply and reply.get("accepted", 0) == 5:
                        self.dash["http_events_acked"] += 5
                    elif status in (429, 503):
                        # Backpressure, as designed (loadgen counts and
                        # retries its own): not a query error.
                        self.dash["http_refusals"] += 1
                    else:
                        self.dash["hard_errors"] += 1
                        self.dash["last_error"] = f"POST /events: HTTP {status} {reply}"
            except OSError as e:  # Connection refused or reset, timeout.
                with self.lock:
                    self.dash["calls"] += 1
                    self.dash["hard_errors"] += 1
                    self.dash["last_error"] = f"{type(e).__name__}: {e}"

    def retention_loop(self):
        binary = os.path.join(self.args.build, "bench/soak/soak_retention")
        while not self.stop.wait(self.args.retention_seconds):
            t = time.time()
            out = subprocess.run([binary, f"--url={self.url}",
                                  f"--max-age-seconds={self.args.retention_max_age}"],
                                 capture_output=True, text=True)
            m = re.match(r"deleted (\d+)", out.stdout)
            with self.lock:
                self.retention["passes"] += 1
                self.retention["max_seconds"] = max(self.retention["max_seconds"],
                                                    time.time() - t)
                if out.returncode == 0 and m:
                    self.retention["deleted"] += int(m.group(1))
                else:
                    self.retention["failures"] += 1
                    self.retention["last_error"] = (out.stderr or out.stdout).strip()[-300:]

    # -- sampling

    def db_size(self):
        """Bytes: (total, of which SQLite's WAL; 0 for PostgreSQL)."""
        if self.backend == "sqlite":
            size = {s: os.path.getsize(self.db_path + s) if os.path.exists(self.db_path + s) else 0
                    for s in ("", "-wal", "-shm")}
            return sum(size.values()), size["-wal"]
        out = subprocess.run(["psql", self.url, "-qAtc",
                              "SELECT pg_database_size(current_database())"],
                             capture_output=True, text=True)
        return (int(out.stdout.strip()) if out.returncode == 0 else 0), 0

    def sample(self):
        """One row; False once a service process has died."""
        row = {"t": round(time.time() - self.t0, 1), "load": os.getloadavg()[0]}
        alive = True
        for name, s in self.services.items():
            if s.proc.poll() is not None:
                self.fail(f"raceway-{name} died (exit {s.proc.returncode}): "
                          + open(s.log.name, errors="replace").read()[-1500:])
                alive = False
                continue
            try:
                row[name] = proc_stats(s.proc.pid)
            except OSError:
                self.fail(f"raceway-{name} vanished while sampled")
                alive = False
                continue
            row[name]["warn"], row[name]["error"] = log_counts(s)
            if self.args.heap_stats:
                row[name].update(heap_stats(s) or {})
        for name, g in self.generators.items():
            # They run for the whole soak: an early end is a failure.
            if g.proc.poll() is not None and time.time() - self.t0 < self.args.minutes * 60 - 5:
                self.fail(f"{name} ended early (exit {g.proc.returncode}): "
                          + "".join(g.stderr_tail)[-800:])
                alive = False
        row["db"], row["wal"] = self.db_size()
        try:
            status, reply = get_json(self.ingest_http + "/status")
            data = (reply or {}).get("data") or {}
            row["stored_events"] = data.get("events_captured", 0)
            row["traces"] = data.get("traces_active", 0)
        except OSError:
            row["stored_events"] = row["traces"] = 0
        lg, qg = self.generators["loadgen"].values, self.generators["querygen"].values
        with self.lock:
            row["acked"] = lg["acked"] + self.dash["http_events_acked"]
            row["queries"] = qg["requests"] + self.dash["calls"]
            row["query_errors"] = qg["errors"] + self.dash["hard_errors"] + self.dash["not_found"]
            row["deleted"] = self.retention["deleted"]
            row["retention_failures"] = self.retention["failures"]
            self.samples.append(row)
        return alive

    def heap_probe(self):
        """After the last sample: RSS before and after glibc's malloc_trim(0)
        in each service (through gdb), which returns free heap pages to the
        kernel. What it gives back was freed memory the allocator kept, not
        live data: it tells a leak from allocator retention."""
        probe = {}
        for name, s in self.services.items():
            if s.proc.poll() is not None:
                continue
            before = proc_stats(s.proc.pid)["rss"]
            out = subprocess.run(["gdb", "-p", str(s.proc.pid), "-batch", "-ex",
                                  "call (int)malloc_trim(0)"], capture_output=True, text=True,
                                 timeout=120)
            after = proc_stats(s.proc.pid)["rss"]
            probe[name] = {"rss_before": before, "rss_after_trim": after,
                           "ok": out.returncode == 0 and "$1 =" in out.stdout}
        return probe

    # -- teardown

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(120)
        result = {"backend": self.backend}
        if self.args.heap_probe and shutil.which("gdb") and self.services:
            try:
                result["heap_probe"] = self.heap_probe()
            except (OSError, subprocess.SubprocessError) as e:
                result["heap_probe"] = {"error": str(e)}
        lg_code, lg = (self.generators["loadgen"].finish(120) if "loadgen" in self.generators
                       else (None, None))
        qg_code, qg = (self.generators["querygen"].finish(120) if "querygen" in self.generators
                       else (None, None))
        for name, s in self.services.items():
            if s.proc.poll() is not None:
                continue  # Already reported as died.
            code = s.stop()
            if code != 0:
                self.fail(f"raceway-{name} exited {code} on SIGTERM")
        if lg_code != 0 or not lg:
            self.fail(f"loadgen exit {lg_code}: "
                      + "".join(self.generators["loadgen"].stderr_tail)[-800:])
        if qg_code != 0 or not qg:
            self.fail(f"querygen exit {qg_code}: "
                      + "".join(self.generators["querygen"].stderr_tail)[-800:])
        if self.retention["failures"]:
            self.fail(f"{self.retention['failures']} retention passes failed: "
                      f"{self.retention['last_error']}")
        if self.retention["passes"] and not self.retention["deleted"]:
            self.fail("retention deleted nothing: the database only grew")
        requests = (qg or {}).get("requests", 0) + self.dash["calls"]
        not_found = (qg or {}).get("errors_by_code", {}).get("NOT_FOUND", 0)
        hard = (qg or {}).get("errors", 0) - not_found + self.dash["hard_errors"]
        ratio = hard / requests if requests else 1.0
        if ratio > self.args.max_error_ratio:
            self.fail(f"query errors other than NOT_FOUND: {hard} of {requests} "
                      f"({ratio:.3%} > {self.args.max_error_ratio:.3%}); querygen "
                      f"{(qg or {}).get('errors_by_code')} last {(qg or {}).get('last_error')!r}; "
                      f"dashboard last {self.dash['last_error']!r}")
        result.update({
            "minutes": self.args.minutes,
            "loadgen": lg, "querygen": qg, "dashboard": dict(self.dash),
            "retention": dict(self.retention),
            "query_requests": requests, "query_hard_errors": hard, "query_not_found": not_found,
            "samples": self.samples, "slopes": self.slopes(), "failures": self.failures,
        })
        return result

    def slopes(self):
        """Per process and metric: slope per hour over all samples and over
        those after the warm-up, with the verdict."""
        warm = self.args.warmup_minutes * 60
        series = {}
        for proc in ("ingest", "query"):
            for metric, scale in (("rss", MIB), ("fds", 1), ("threads", 1),
                                  ("heap_in_use", MIB), ("heap_system", MIB)):
                points = [(r["t"], r[proc][metric] / scale)
                          for r in self.samples if metric in r.get(proc, {})]
                if points or metric in ("rss", "fds", "threads"):
                    series[f"{proc}.{metric}"] = points
        series["db"] = [(r["t"], r["db"] / MIB) for r in self.samples]
        out = {}
        for key, points in series.items():
            warm_points = [p for p in points if p[0] >= warm]
            warm_s, warm_se = slope_per_hour(warm_points)
            mean = sum(v for _, v in warm_points) / len(warm_points) if warm_points else 0
            out[key] = {"slope_per_h": slope_per_hour(points)[0],
                        "slope_per_h_after_warmup": warm_s, "stderr_per_h_after_warmup": warm_se,
                        "mean_after_warmup": mean,
                        "min_after_warmup": min((v for _, v in warm_points), default=0),
                        "max_after_warmup": max((v for _, v in warm_points), default=0),
                        "threshold_per_h": self.threshold(key, mean),
                        "verdict": self.verdict(key, warm_s, warm_se, mean)}
        return out

    def threshold(self, key, mean):
        if key.endswith((".rss", ".heap_in_use", ".heap_system")):
            return self.args.rss_threshold
        if key == "db":
            return self.args.db_threshold * mean
        return self.args.count_threshold

    def verdict(self, key, slope, stderr, mean):
        # Judged after the warm-up only: caches, pools and the database fill
        # up first (the database until retention's max age is reached). A
        # slope within two standard errors of zero is noise (sample-to-sample
        # swings of transient allocations), not a trend either way.
        if slope is None:
            return "no verdict: fewer than 3 samples after the warm-up"
        if abs(slope) < self.threshold(key, mean):
            return "flat"
        if abs(slope) < 2 * stderr:
            return "inconclusive: within the noise"
        return "GROWING" if slope > 0 else "shrinking"


# ------------------------------------------------------------------ output

def table(soak):
    head = (f"{'min':>4} {'load':>5} | {'ingest RSS MiB':>14} {'fds':>4} {'thr':>4} {'cpu%':>5} | "
            f"{'query RSS MiB':>13} {'fds':>4} {'thr':>4} {'cpu%':>5} | {'DB MiB':>7} {'(WAL)':>7} "
            f"{'stored ev':>9} {'acked ev':>9} {'deleted tr':>10} {'queries':>8} {'q err':>6} "
            f"{'warn/err':>8}")
    lines = [f"== {soak.backend}", head]
    prev = None
    for r in soak.samples:
        def proc(name):
            p = r.get(name)
            if not p:
                return f"{'-':>14} {'-':>4} {'-':>4} {'-':>5}"
            dt = r["t"] - prev["t"] if prev else r["t"]
            cpu0 = prev[name]["cpu"] if prev and name in prev else 0
            cpu = 100 * (p["cpu"] - cpu0) / dt if dt > 0 else 0
            return f"{p['rss'] / MIB:>14.1f} {p['fds']:>4} {p['threads']:>4} {cpu:>5.0f}"
        we = "/".join(str(sum(r[n][k] for n in ("ingest", "query") if n in r))
                      for k in ("warn", "error"))
        lines.append(f"{r['t'] / 60:>4.1f} {r['load']:>5.2f} | {proc('ingest')} | "
                     f"{proc('query')[1:]} | {r['db'] / MIB:>7.1f} {r['wal'] / MIB:>7.1f} "
                     f"{r['stored_events']:>9} "
                     f"{r['acked']:>9} {r['deleted']:>10} {r['queries']:>8} "
                     f"{r['query_errors']:>6} {we:>8}")
        prev = r
    if any("heap_in_use" in r.get(n, {}) for r in soak.samples for n in ("ingest", "query")):
        lines.append(f"{'min':>4} | glibc heap MiB in use / held (arenas): ingest | query")
        for r in soak.samples:
            cells = [f"{r[n]['heap_in_use'] / MIB:7.1f} / {r[n]['heap_system'] / MIB:7.1f} "
                     f"({r[n]['arenas']:>2})" if "heap_in_use" in r.get(n, {}) else "-"
                     for n in ("ingest", "query")]
            lines.append(f"{r['t'] / 60:>4.1f} | {cells[0]} | {cells[1]}")
    return "\n".join(lines)


def slope_lines(result, warmup):
    units = {"rss": "MiB/h", "fds": "/h", "threads": "/h", "heap_in_use": "MiB/h",
             "heap_system": "MiB/h"}
    lines = [f"== {result['backend']}: slopes (all samples | after the first {warmup} min)"]
    for key, s in result["slopes"].items():
        unit = "MiB/h" if key == "db" else units[key.split(".")[1]]
        fmt = (lambda v: f"{v:+8.1f}" if v is not None else f"{'-':>8}")
        se = s["stderr_per_h_after_warmup"]
        lines.append(f"  {key:<19} {fmt(s['slope_per_h'])} | {fmt(s['slope_per_h_after_warmup'])}"
                     f" ± {se if se is not None else 0:5.1f} {unit:<6} (range "
                     f"{s['min_after_warmup']:.1f}..{s['max_after_warmup']:.1f}; flat below "
                     f"{s['threshold_per_h']:.1f}) -> {s['verdict']}")
    lg, qg, dash, ret = (result["loadgen"] or {}), (result["querygen"] or {}), \
        result["dashboard"], result["retention"]
    lines.append(f"  loadgen: acked {lg.get('acked')} ({lg.get('committed_per_second', 0):.0f}/s),"
                 f" failed {lg.get('failed')}, refusals {lg.get('server_refusals')} (retried),"
                 f" ack p99 {lg.get('ack_p99_ms', 0):.1f} ms; HTTP /events refused "
                 f"{dash['http_refusals']}")
    lines.append(f"  queries: {result['query_requests']} (querygen {qg.get('requests')} at "
                 f"{qg.get('requests_per_second', 0):.1f}/s, dashboard {dash['calls']}), "
                 f"NOT_FOUND {result['query_not_found'] + dash['not_found']}, other errors "
                 f"{result['query_hard_errors']}")
    for r in qg.get("per_rpc", []):
        lines.append(f"    {r['rpc']:<24} n {r['requests']:>6}  p50 {r['p50_ms']:8.1f} ms  "
                     f"p99 {r['p99_ms']:8.1f} ms  errors {r['errors']}")
    for name, h in result.get("heap_probe", {}).items():
        if isinstance(h, dict) and h.get("ok"):
            lines.append(f"  heap probe {name}: RSS {h['rss_before'] / MIB:.1f} MiB, "
                         f"{h['rss_after_trim'] / MIB:.1f} MiB after malloc_trim(0) "
                         f"({(h['rss_before'] - h['rss_after_trim']) / MIB:.1f} MiB was free heap "
                         "kept by the allocator)")
    lines.append(f"  retention: {ret['passes']} passes, {ret['deleted']} traces deleted, "
                 f"{ret['failures']} failed, longest {ret['max_seconds']:.1f} s")
    lines.append("  result: " + ("ok" if not result["failures"] else
                                 "FAILED: " + " | ".join(f[:300] for f in result["failures"])))
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build", default=os.path.join(ROOT, "build"))
    p.add_argument("--backends", default="sqlite,postgres")
    p.add_argument("--minutes", type=float, default=30)
    p.add_argument("--rate", type=float, default=2000, help="ingest events/s per backend")
    p.add_argument("--streams", type=int, default=2)
    p.add_argument("--query-rate", type=float, default=10,
                   help="querygen requests/s per backend (open loop)")
    p.add_argument("--workers", type=int, default=2, help="querygen workers")
    p.add_argument("--dashboard-seconds", type=float, default=5)
    p.add_argument("--retention-seconds", type=float, default=30)
    p.add_argument("--retention-max-age", type=int, default=120, help="seconds")
    p.add_argument("--sample-seconds", type=float, default=60)
    p.add_argument("--warmup-minutes", type=float, default=5)
    p.add_argument("--max-error-ratio", type=float, default=0.001)
    p.add_argument("--rss-threshold", type=float, default=None,
                   help="MiB/h; default: one byte per ingested event")
    p.add_argument("--count-threshold", type=float, default=2, help="fds or threads per hour")
    p.add_argument("--db-threshold", type=float, default=0.1,
                   help="fraction of the mean database size per hour")
    p.add_argument("--no-heap-probe", dest="heap_probe", action="store_false",
                   help="skip the malloc_trim probe through gdb at the end")
    p.add_argument("--heap-stats", action="store_true",
                   help="also sample glibc's malloc_stats() of each service through gdb "
                        "(live vs held heap; pauses each service about a second per sample)")
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args()
    if args.rss_threshold is None:
        args.rss_threshold = args.rate * 3600 / MIB
    backends = [b for b in args.backends.split(",") if b]
    if any(b not in ("sqlite", "postgres") for b in backends):
        p.error("--backends: sqlite and/or postgres")
    for binary in ("services/ingest/raceway-ingest", "services/query/raceway-query",
                   "tools/loadgen/raceway-loadgen", "tools/querygen/raceway-querygen",
                   "bench/soak/soak_retention"):
        if not os.access(os.path.join(args.build, binary), os.X_OK):
            p.error(f"{binary} is not built in {args.build}")

    results = []
    with workspace("postgres" in backends) as (tmp, env):
        log(f"soak: {', '.join(backends)} for {args.minutes:g} min at {args.rate:g} events/s "
            f"and {args.query_rate:g} querygen requests/s each; retention every "
            f"{args.retention_seconds:g} s, max age {args.retention_max_age} s")
        soaks = [Soak(b, args, env, tmp) for b in backends]
        try:
            for s in soaks:
                s.start()
            for s in soaks:
                s.sample()
            end = time.time() + args.minutes * 60
            next_sample = time.time() + args.sample_seconds
            while time.time() < end - 1:
                time.sleep(max(0.0, min(next_sample, end) - time.time()))
                if time.time() >= next_sample:
                    next_sample += args.sample_seconds
                    alive = [s.sample() for s in soaks]
                    for s in soaks:
                        r = s.samples[-1]
                        log(f"[{s.backend}] {r['t'] / 60:4.1f} min  ingest "
                            f"{r.get('ingest', {}).get('rss', 0) / MIB:.1f} MiB "
                            f"{r.get('ingest', {}).get('fds')} fds  query "
                            f"{r.get('query', {}).get('rss', 0) / MIB:.1f} MiB "
                            f"{r.get('query', {}).get('fds')} fds  DB {r['db'] / MIB:.1f} MiB  "
                            f"acked {r['acked']}  deleted {r['deleted']}  "
                            f"query errors {r['query_errors']}")
                    if not all(alive):
                        break
            for s in soaks:
                if len(s.samples) == 0 or s.samples[-1]["t"] < args.minutes * 60 - 5:
                    s.sample()  # The last point, at the end of the load.
        finally:
            for s in soaks:
                if s.generators or s.services:
                    results.append(s.finish())

    print(f"cores: {os.cpu_count()}, load average at end: {os.getloadavg()}")
    for s in soaks:
        print(table(s))
    for r in results:
        print(slope_lines(r, args.warmup_minutes))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=1)
    return 1 if any(r["failures"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
