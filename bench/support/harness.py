"""Shared parts of the Python benchmark drivers (bench/ingest/ingest_bench.py,
deploy/local/multi_replica.py): service binaries as child processes, and the
throwaway database servers of tests/support/testdb.sh."""

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESTDB = os.path.join(ROOT, "tests/support/testdb.sh")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Service:
    """A Raceway service binary as a child process. Its JSON log goes to a
    temporary file; the constructor returns once the `started` line is
    logged and reads the gRPC port from it (the service listens on port 0)."""

    def __init__(self, binary, flags, started):
        self.log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
        self.proc = subprocess.Popen([binary] + flags, stdout=self.log, stderr=self.log)
        deadline = time.time() + 60
        self.port = None
        while self.port is None:
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"{binary} did not start: " + open(self.log.name).read())
            for line in open(self.log.name):
                if f'"msg":"{started}"' in line:
                    self.port = int(re.search(r'"grpc_port":"(\d+)"', line).group(1))
            time.sleep(0.05)
        self.address = f"127.0.0.1:{self.port}"

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        """SIGTERM (drain) and wait; returns the exit code."""
        self.proc.terminate()
        code = self.proc.wait(timeout=60)
        os.unlink(self.log.name)
        return code


@contextlib.contextmanager
def workspace(need_servers):
    """Yields (temporary directory, environment). When `need_servers` and
    RACEWAY_TEST_POSTGRES_URL is not set, starts throwaway PostgreSQL,
    pgbouncer and MariaDB servers (tests/support/testdb.sh) and puts their
    RACEWAY_TEST_* variables in the environment; stops them afterwards."""
    tmp = tempfile.mkdtemp(prefix="raceway_bench_")
    os.chmod(tmp, 0o755)  # The database servers run as their own users.
    env = dict(os.environ)
    dbdir = None
    try:
        if need_servers and "RACEWAY_TEST_POSTGRES_URL" not in env:
            dbdir = os.path.join(tmp, "testdb")
            subprocess.run([TESTDB, "start", dbdir], check=True, stdout=subprocess.DEVNULL)
            for line in open(os.path.join(dbdir, "env.sh")):
                m = re.match(r"export (\w+)=(.*)", line.strip())
                if m:
                    env[m.group(1)] = m.group(2).strip('"')
        log(f"load average at start: {os.getloadavg()}, cores: {os.cpu_count()}")
        yield tmp, env
    finally:
        if dbdir:
            subprocess.run([TESTDB, "stop", dbdir])
        shutil.rmtree(tmp, ignore_errors=True)


def with_database(url, name):
    """A postgres:// or mysql:// URL with its database name replaced."""
    return url.rsplit("/", 1)[0] + "/" + name


def fresh_database(backend, url):
    """Drops and recreates the database named in `url`."""
    name = url.rsplit("/", 1)[1]
    if backend == "postgres":
        admin = with_database(url, "postgres")
        for sql in (f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}"):
            subprocess.run(["psql", admin, "-qAtc", sql], check=True, capture_output=True)
    else:
        m = re.match(r"mysql://([^:]+):([^@]+)@([^:/]+):(\d+)/", url)
        user, password, host, port = m.groups()
        subprocess.run(["mysql", "-h", host, "-P", port, "-u", user, f"-p{password}", "-e",
                        f"DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name}"],
                       check=True, capture_output=True)
