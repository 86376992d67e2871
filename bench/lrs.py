"""Benchmark of the xAPI record store, through real HTTP against ``gxpbridge serve``.

    .venv/bin/python bench/lrs.py                          # SQLite, 1,000,000 statements
    .venv/bin/python bench/lrs.py --postgres postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/lrs.py --statements 100000 --skip-sqlite --postgres URL

For each database it starts the service on a fresh database, creates an LRS credential with the
CLI, then measures:

1. batch POST of 100 statements (statements/s), which fills the store up to ``--statements``;
2. single-statement POST, on the full store, and beside it ``GET /xapi/about`` (no database,
   no authentication) with the same clients: the server's ceiling for any request here;
3. filtered GET latency (agent, verb, activity, registration, related activities, agent+verb)
   with the store full: p50/p99 server-side (``Server-Timing`` header) and as the client saw it,
   overall and per filter. On a PostgreSQL server with autovacuum off (some test servers), the
   GETs are measured twice: as they are, then after ``VACUUM ANALYZE``, which autovacuum would
   have run in a deployment.
4. the memory of the served instance at the end (``/proc/PID/status`` of gunicorn's master and
   workers): resident anonymous memory, file-mapped resident memory and shared memory.

Beside the single POST it measures a trivial Flask endpoint (``bench/trivial_app.py``) under a
second gunicorn with the same worker count and worker class, so the ratio of the two rates is
measured in one run on one machine load.

With ``--postgres URL`` a scratch database is created on that server and dropped afterwards.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import orjson
import requests

ROOT = Path(__file__).resolve().parent.parent
GXPBRIDGE = str(ROOT / ".venv" / "bin" / "gxpbridge")
VERBS = [
    f"http://adlnet.gov/expapi/verbs/{v}"
    for v in (
        "attempted",
        "completed",
        "passed",
        "failed",
        "experienced",
        "answered",
        "launched",
        "initialized",
        "terminated",
        "progressed",
        "scored",
        "commented",
    )
] + [f"https://gxp.example/verbs/v{i}" for i in range(38)]
N_AGENTS = 5000
N_ACTIVITIES = 5000
N_COURSES = 50
N_REGISTRATIONS = 20000


def make_statement(rng: random.Random, with_id: bool = False) -> dict:
    """A realistic statement: an LMS learner, a SCORM/xAPI activity in a course, a registration."""
    agent = rng.randrange(N_AGENTS)
    activity = rng.randrange(N_ACTIVITIES)
    course = activity % N_COURSES
    statement = {
        "actor": {
            "objectType": "Agent",
            "name": f"Learner {agent}",
            "account": {"homePage": "https://lms.gxp.example", "name": f"user{agent}"},
        },
        "verb": {"id": rng.choice(VERBS), "display": {"en-US": "did"}},
        "object": {
            "objectType": "Activity",
            "id": f"https://lms.gxp.example/mod/scorm/{activity}",
            "definition": {
                "name": {"en-US": f"Module {activity}"},
                "type": "http://adlnet.gov/expapi/activities/module",
            },
        },
        "result": {
            "score": {"scaled": round(rng.random(), 2)},
            "completion": rng.random() < 0.5,
            "duration": f"PT{rng.randrange(1, 3600)}S",
        },
        "context": {
            "registration": str(uuid.UUID(int=rng.randrange(N_REGISTRATIONS) + 1)),
            "platform": "Moodle",
            "language": "en",
            "contextActivities": {
                "parent": [
                    {
                        "objectType": "Activity",
                        "id": f"https://lms.gxp.example/course/{course}",
                        "definition": {
                            "name": {"en-US": f"Course {course}"},
                            "type": "http://adlnet.gov/expapi/activities/course",
                        },
                    }
                ],
                "category": [{"id": "https://lms.gxp.example"}],
            },
        },
        "timestamp": "2026-11-29T08:00:00.000Z",
    }
    if with_id:
        statement["id"] = str(uuid.uuid4())
    return statement


class Client:
    """An HTTP/1.1 client on a raw socket, as light as a Python load generator gets.

    The client shares the two cores with the server, so its CPU counts against the server's
    rate. ``http.client`` parses every response's header block with the ``email`` package;
    here requests are prepared as bytes (:meth:`prepare`, before the clock starts) and
    responses are read by their ``Content-Length``. The connection is kept while the server
    keeps it (gunicorn's sync worker closes it after each response).
    """

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port = port
        self.fixed = f"Host: 127.0.0.1:{port}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.sock: socket.socket | None = None
        self.pending = b""

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock, self.pending = None, b""

    def prepare(self, method: str, path: str, body: bytes | None = None) -> bytes:
        """The request's bytes."""
        body = body or b""
        head = f"{method} {path} HTTP/1.1\r\n{self.fixed}Content-Length: {len(body)}\r\n\r\n"
        return head.encode("latin-1") + body

    def send(self, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        """Send prepared bytes; return the status, the headers (lower-case names) and the body."""
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=120)
        self.sock.sendall(raw)
        data = self.pending
        while (end := data.find(b"\r\n\r\n")) < 0:
            data += self._recv()
        lines = data[:end].decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = data[end + 4 :]
        while len(body) < length:
            body += self._recv()
        body, self.pending = body[:length], body[length:]
        if headers.get("connection", "").lower() == "close":
            self.close()
        return int(lines[0].split(" ", 2)[1]), headers, body

    def _recv(self) -> bytes:
        assert self.sock is not None
        chunk = self.sock.recv(262144)
        if not chunk:
            raise ConnectionError("the server closed the connection mid-response")
        return chunk

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
        return self.send(self.prepare(method, path, body))


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


class Server:
    """``gxpbridge serve`` on a fresh database."""

    def __init__(self, database_url: str | None, port: int, workers: int | None, threads: int) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="gxp-bench-lrs-"))
        self.port = port
        self.env = {
            **os.environ,
            "GXPBRIDGE_INSTANCE_PATH": str(self.folder),
            "GXPBRIDGE_SECRET_KEY": "bench-secret",
            "GXPBRIDGE_LOG_LEVEL": "WARNING",
            "GXPBRIDGE_BASE_URL": f"http://127.0.0.1:{port}",
        }
        self.database = b""
        self.database_url = database_url
        if database_url:
            self.env["GXPBRIDGE_DATABASE_URL"] = database_url
            self.database = database_url.rsplit("/", 1)[1].split("?")[0].encode()
        self.workers, self.threads = workers, threads
        self.process: subprocess.Popen | None = None

    def cli(self, *args: str) -> str:
        return subprocess.run(
            [GXPBRIDGE, *args], env=self.env, check=True, capture_output=True, text=True, cwd=self.folder
        ).stdout

    def start(self) -> tuple[str, str]:
        self.cli("db", "upgrade")
        pair = json.loads(self.cli("lrs", "credentials", "create", "bench", "--json"))
        log = open(self.folder / "server.log", "w")
        command = [GXPBRIDGE, "serve", "--port", str(self.port), "--threads", str(self.threads)]
        if self.workers:
            command += ["--workers", str(self.workers)]
        self.process = subprocess.Popen(
            command,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.folder,
            start_new_session=True,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).ok:
                    return pair["key"], pair["secret"]
            except requests.RequestException:  # not listening yet, or too busy to answer in time
                pass
            time.sleep(0.3)
        raise SystemExit(f"the server did not start; see {self.folder / 'server.log'}")

    def cpu_seconds(self) -> float:
        """CPU time used so far by the server, its workers and, on PostgreSQL, the backends serving
        its database (read from /proc)."""
        assert self.process is not None
        total = 0
        tick = os.sysconf("SC_CLK_TCK")
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            in_group = int(fields[2]) == self.process.pid
            # PostgreSQL backends serving this database (their title names it); shared server
            # processes (WAL writer, checkpointer) and other databases' backends are left out.
            postgres = bool(self.database) and cmdline.startswith(b"postgres:") and self.database in cmdline
            if in_group or postgres:
                total += int(fields[11]) + int(fields[12])
        return total / tick

    def memory(self) -> list[tuple[int, int, int, int, int]]:
        """(pid, RssAnon, RssFile, RssShmem, Pss) in kB of gunicorn's master and its workers.

        RSS counts every page a process maps, so pages the workers share with the master (they
        are forked from it) count once per process; PSS divides each shared page among the
        processes sharing it: the sum of PSS is the instance's footprint.
        """
        assert self.process is not None
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                status = (entry / "status").read_text()
            except OSError:
                continue
            if int(fields[2]) != self.process.pid:  # not in the server's process group
                continue
            try:
                rollup = (entry / "smaps_rollup").read_text()
            except OSError:
                rollup = ""
            values = dict(
                (line.split(":")[0], int(line.split()[1])) for line in (status + rollup).splitlines()
                if line.startswith(("RssAnon", "RssFile", "RssShmem", "Pss:"))
            )
            found.append((int(entry.name), values.get("RssAnon", 0), values.get("RssFile", 0),
                          values.get("RssShmem", 0), values.get("Pss", 0)))
        return sorted(found)

    def libpq_url(self) -> str:
        assert self.database_url is not None
        return self.database_url.replace("postgresql+psycopg://", "postgresql://", 1)

    def autovacuum(self) -> bool:
        """Whether the PostgreSQL server runs autovacuum (some test servers switch it off)."""
        import psycopg

        with psycopg.connect(self.libpq_url()) as conn:
            return conn.execute("SHOW autovacuum").fetchone()[0] == "on"

    def vacuum_analyze(self) -> None:
        """What autovacuum would have done by now: statistics and the visibility map."""
        import psycopg

        print("[postgresql] autovacuum is off on this server: running VACUUM ANALYZE, then the GETs again",
              flush=True)
        with psycopg.connect(self.libpq_url(), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")

    def stop(self) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        shutil.rmtree(self.folder, ignore_errors=True)


class TrivialServer:
    """A trivial Flask endpoint under gunicorn with the record store's worker settings."""

    def __init__(self, port: int, workers: int, threads: int) -> None:
        self.port, self.workers, self.threads = port, workers, threads
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> TrivialServer:
        command = [
            str(ROOT / ".venv" / "bin" / "gunicorn"), "--bind", f"127.0.0.1:{self.port}",
            "--workers", str(self.workers), "--threads", str(self.threads),
            "--worker-class", "gthread" if self.threads > 1 else "sync", "--chdir", str(ROOT / "bench"),
            "--access-logfile", "-", "--timeout", "120", "trivial_app:app",
        ]
        # Access log to a file, as serve's goes to the bench's server.log.
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/", timeout=1).ok:
                    return self
            except requests.RequestException:  # not listening yet, or too busy to answer in time
                pass
            time.sleep(0.2)
        raise SystemExit("the trivial Flask app did not start")

    def __exit__(self, *_exc: object) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        self.log.close()

    def cpu_seconds(self) -> float:
        assert self.process is not None
        total = 0
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[2]) == self.process.pid:
                    total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")


def served_workers(server: Server) -> int:
    """How many workers ``serve`` started (its master's children)."""
    assert server.process is not None
    return max(1, len(server.memory()) - 1)


def run_threads(count: int, work: Callable[[int], None]) -> float:
    """Run ``work(i)`` on ``count`` threads; return the elapsed seconds."""
    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def measure_requests(
    server: Server | TrivialServer,
    headers: dict[str, str],
    clients: int,
    requests_of: Callable[[int], list[tuple[str, str, bytes | None]]],
    errors: list[str],
) -> tuple[float, float, float]:
    """Send each client's requests (prepared as bytes before the clock starts) on ``clients``
    connections; return requests/s and the CPU ms per request of the server and of the client."""
    connections = [Client(server.port, headers) for _ in range(clients)]
    planned = [[conn.prepare(*request) for request in requests_of(i)] for i, conn in enumerate(connections)]

    def send(i: int) -> None:
        with connections[i] as client:
            for raw in planned[i]:
                status, _headers, data = client.send(raw)
                if status != 200:
                    errors.append(data.decode())

    count = sum(len(requests) for requests in planned)
    cpu, own_cpu = server.cpu_seconds(), time.process_time()
    elapsed = run_threads(clients, send)
    cpu, own_cpu = server.cpu_seconds() - cpu, time.process_time() - own_cpu
    return count / elapsed, cpu / count * 1000, own_cpu / count * 1000


def measure_gets(label: str, server: Server, headers: dict[str, str], args: argparse.Namespace,
                 errors: list[str], note: str = "") -> dict[str, float]:
    """Filtered GETs on the full store: server-side (``Server-Timing``) and client p50/p99."""
    figures: dict[str, float] = {}
    rng = random.Random(7)

    kinds = ("agent", "verb", "activity", "registration", "related activities", "agent+verb")

    def query() -> tuple[str, str]:
        kind = rng.randrange(6)
        return kinds[kind], query_of(kind)

    def query_of(kind: int) -> str:
        agent = json.dumps(
            {"account": {"homePage": "https://lms.gxp.example", "name": f"user{rng.randrange(N_AGENTS)}"}}
        )
        if kind == 0:
            return f"agent={quote(agent)}"
        if kind == 1:
            return f"verb={quote(rng.choice(VERBS))}"
        if kind == 2:
            return f"activity={quote(f'https://lms.gxp.example/mod/scorm/{rng.randrange(N_ACTIVITIES)}')}"
        if kind == 3:
            return f"registration={uuid.UUID(int=rng.randrange(N_REGISTRATIONS) + 1)}"
        if kind == 4:
            course = f"https://lms.gxp.example/course/{rng.randrange(N_COURSES)}"
            return f"activity={quote(course)}&related_activities=true"
        return f"agent={quote(agent)}&verb={quote(rng.choice(VERBS[:12]))}"

    queries = [(kind, q + f"&limit={args.limit}") for kind, q in (query() for _ in range(args.gets))]
    server_ms: list[float] = []
    client_ms: list[float] = []
    by_kind: dict[str, list[float]] = {kind: [] for kind in kinds}
    with Client(server.port, headers) as client:
        for _kind, q in queries[:50]:  # warm the caches
            client.request("GET", f"/xapi/statements?{q}")
        for kind, q in queries:
            started = time.perf_counter()
            status, response_headers, data = client.request("GET", f"/xapi/statements?{q}")
            client_ms.append((time.perf_counter() - started) * 1000)
            if status != 200:
                errors.append(data.decode())
                continue
            timing = response_headers.get("server-timing", "app;dur=nan")
            server_ms.append(float(timing.split("dur=")[1]))
            by_kind[kind].append(server_ms[-1])
    figures.update(
        {
            "get_p50_ms": pct(server_ms, 50),
            "get_p99_ms": pct(server_ms, 99),
            "get_client_p50_ms": pct(client_ms, 50),
            "get_client_p99_ms": pct(client_ms, 99),
        }
    )
    print(
        f"[{label}] filtered GET{note} (limit={args.limit}) at {args.statements:,} statements: server p50 "
        f"{figures['get_p50_ms']:.2f} ms, p99 {figures['get_p99_ms']:.2f} ms; client p50 "
        f"{figures['get_client_p50_ms']:.2f} ms, p99 {figures['get_client_p99_ms']:.2f} ms "
        f"({len(server_ms)} queries, mean {statistics.mean(server_ms):.2f} ms)",
        flush=True,
    )
    print(
        f"[{label}]   by filter, server p50 / p99 ms: "
        + "; ".join(
            f"{kind} {pct(values, 50):.2f} / {pct(values, 99):.2f}"
            for kind, values in by_kind.items()
            if values
        ),
        flush=True,
    )
    return figures


def bench(label: str, server: Server, args: argparse.Namespace) -> dict[str, float]:
    key, secret = server.start()
    headers = {
        "Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode(),
        "X-Experience-API-Version": "1.0.3",
        "Content-Type": "application/json",
    }
    figures: dict[str, float] = {}
    errors: list[str] = []
    try:
        # 1. batch POST of 100, filling the store (less what the single POSTs add)
        per_thread = args.single // args.clients
        remaining = args.statements - per_thread * args.clients
        batches = max(1, remaining // 100)
        counter = iter(range(batches))
        lock = threading.Lock()
        progress = {"done": 0, "t0": time.perf_counter()}

        def batch(i: int) -> None:
            rng = random.Random(1000 + i)
            with Client(server.port, headers) as client:
                while True:
                    with lock:
                        n = next(counter, None)
                    if n is None:
                        return
                    body = orjson.dumps([make_statement(rng) for _ in range(100)])
                    status, _headers, data = client.request("POST", "/xapi/statements", body)
                    if status != 200:
                        errors.append(data.decode())
                    with lock:
                        progress["done"] += 100
                        if progress["done"] % 100_000 == 0:
                            rate = progress["done"] / (time.perf_counter() - progress["t0"])
                            print(
                                f"[{label}]   {progress['done']:,} statements stored ({rate:.0f}/s)",
                                flush=True,
                            )

        cpu = server.cpu_seconds()
        elapsed = run_threads(args.clients, batch)
        cpu = server.cpu_seconds() - cpu
        figures["batch_post_per_s"] = batches * 100 / elapsed
        figures["batch_cpu_ms"] = cpu / (batches * 100) * 1000
        print(
            f"[{label}] batch POST (100/request): {figures['batch_post_per_s']:.0f} statements/s "
            f"({batches * 100:,} statements in {elapsed:.0f} s); server CPU {figures['batch_cpu_ms']:.3f} ms "
            f"per statement = {2000 / figures['batch_cpu_ms']:.0f} statements/s on 2 dedicated cores",
            flush=True,
        )

        # 2. single POST, on the full store
        per_thread = args.single // args.clients

        def single_posts(i: int) -> list[tuple[str, str, bytes | None]]:
            rng = random.Random(i)
            statements = (make_statement(rng) for _ in range(per_thread))
            return [("POST", "/xapi/statements", orjson.dumps(statement)) for statement in statements]

        rate, cpu_ms, client_ms = measure_requests(server, headers, args.clients, single_posts, errors)
        figures["single_post_per_s"], figures["single_cpu_ms"] = rate, cpu_ms
        print(
            f"[{label}] single POST: {rate:.0f} statements/s ({per_thread * args.clients} requests, "
            f"{args.clients} clients); server CPU {cpu_ms:.3f} ms per request = {2000 / cpu_ms:.0f}/s on 2 "
            f"dedicated cores; the client's CPU {client_ms:.3f} ms per request",
            flush=True,
        )

        # 2b. the per-request ceiling: About reads no database, so its rate is gunicorn + Flask
        def abouts(_i: int) -> list[tuple[str, str, bytes | None]]:
            return [("GET", "/xapi/about", None)] * per_thread

        rate, cpu_ms, client_ms = measure_requests(
            server, {"X-Experience-API-Version": "1.0.3"}, args.clients, abouts, errors
        )
        figures["about_per_s"], figures["about_cpu_ms"] = rate, cpu_ms
        print(
            f"[{label}] GET /xapi/about (no database: the ceiling of any request): {rate:.0f} requests/s; "
            f"server CPU {cpu_ms:.3f} ms per request; the client's CPU {client_ms:.3f} ms per request",
            flush=True,
        )

        # 2c. a trivial Flask endpoint under the same gunicorn settings: the ratio in one run
        with TrivialServer(server.port + 5, served_workers(server), args.threads) as trivial:
            rate, cpu_ms, client_ms = measure_requests(
                trivial, {}, args.clients, lambda _i: [("GET", "/", None)] * per_thread, errors
            )
        figures["trivial_per_s"], figures["trivial_cpu_ms"] = rate, cpu_ms
        figures["single_ratio"] = figures["single_post_per_s"] / rate
        print(
            f"[{label}] trivial Flask endpoint, same gunicorn settings: {rate:.0f} requests/s; server CPU "
            f"{cpu_ms:.3f} ms per request; single POST = {figures['single_ratio']:.0%} of it",
            flush=True,
        )

        # 3. filtered GET with the store full
        figures.update(measure_gets(label, server, headers, args, errors))
        if server.database_url and not server.autovacuum():
            # Without autovacuum PostgreSQL has no planner statistics and no visibility map for
            # the new tables; a deployment keeps it on (the default). Measure again as it would be.
            server.vacuum_analyze()
            analyzed = measure_gets(label, server, headers, args, errors, note=" after VACUUM ANALYZE")
            figures.update({f"{name}_analyzed": value for name, value in analyzed.items()})
        # 4. memory of the served instance
        memory = server.memory()
        for pid, anon, file_mapped, shmem, pss in memory:
            print(f"[{label}] RSS pid {pid}: anonymous {anon / 1024:.0f} MB, file-mapped "
                  f"{file_mapped / 1024:.0f} MB, shared {shmem / 1024:.0f} MB; PSS {pss / 1024:.0f} MB",
                  flush=True)
        figures["rss_anon_mb"] = sum(m[1] for m in memory) / 1024
        figures["rss_file_mb"] = sum(m[2] for m in memory) / 1024
        figures["pss_mb"] = sum(m[4] for m in memory) / 1024
        figures["rss_worker_max_mb"] = max((m[1] + m[2] + m[3]) / 1024 for m in memory)
        print(f"[{label}] memory of the instance ({len(memory)} processes): RSS anonymous "
              f"{figures['rss_anon_mb']:.0f} MB + file-mapped {figures['rss_file_mb']:.0f} MB; PSS (shared "
              f"pages counted once) {figures['pss_mb']:.0f} MB; largest process RSS "
              f"{figures['rss_worker_max_mb']:.0f} MB", flush=True)
        if errors:
            print(f"[{label}] {len(errors)} requests failed; first: {errors[0][:300]}", flush=True)
    finally:
        server.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--statements", type=int, default=1_000_000, help="statements stored before the GETs")
    parser.add_argument("--single", type=int, default=4000, help="single-statement POSTs")
    parser.add_argument("--gets", type=int, default=2000, help="filtered GETs measured")
    parser.add_argument("--limit", type=int, default=25, help="limit of each filtered GET")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client connections")
    parser.add_argument("--workers", type=int, help="gunicorn worker processes (default: serve's own)")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker (serve's default)")
    parser.add_argument("--port", type=int, default=8140)
    parser.add_argument("--postgres", metavar="URL", help="also run on PostgreSQL (server URL)")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    if not args.skip_sqlite:
        results["sqlite"] = bench("sqlite", Server(None, args.port, args.workers, args.threads), args)
    if args.postgres:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        url = make_url(args.postgres.replace("postgresql://", "postgresql+psycopg://", 1))
        name = f"gxp_bench_lrs_{uuid.uuid4().hex[:8]}"
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            target = url.set(database=name).render_as_string(hide_password=False)
            results["postgresql"] = bench(
                "postgresql", Server(target, args.port + 1, args.workers, args.threads), args
            )
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    load = os.getloadavg()
    print(
        f"\nload average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores "
        "(other work on the machine slows every figure above except the CPU per statement)"
    )
    print("summary (targets: batch >= 5000/s, single >= 1000/s, GET p50 < 5 ms, p99 < 25 ms)")
    for label, figures in results.items():
        print(
            f"  {label:10s} batch {figures['batch_post_per_s']:7.0f}/s | "
            f"single {figures['single_post_per_s']:7.0f}/s "
            f"(about {figures['about_per_s']:.0f}/s, trivial Flask {figures['trivial_per_s']:.0f}/s: "
            f"{figures['single_ratio']:.0%}) | RSS anon {figures['rss_anon_mb']:.0f} MB "
            f"file {figures['rss_file_mb']:.0f} MB, PSS {figures['pss_mb']:.0f} MB | "
            f"GET p50 {figures['get_p50_ms']:.2f} ms "
            f"p99 {figures['get_p99_ms']:.2f} ms (server-side)"
            + (
                f"; after VACUUM ANALYZE p50 {figures['get_p50_ms_analyzed']:.2f} ms "
                f"p99 {figures['get_p99_ms_analyzed']:.2f} ms"
                if "get_p50_ms_analyzed" in figures
                else ""
            )
        )


if __name__ == "__main__":
    main()
