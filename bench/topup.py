#!/usr/bin/env python3
"""End-to-end top-up benchmark (not a test): create -> signed sandbox notification -> fulfilled.

    .venv/bin/python bench/topup.py --start-server --engine sqlite -n 2000 -c 32
    .venv/bin/python bench/topup.py --start-server --engine postgresql -n 2000 -c 32 --processes 2 --workers 1
    .venv/bin/python bench/topup.py --start-server --engine postgresql --rate 100 -n 3000   # open loop
    .venv/bin/python bench/topup.py --url http://127.0.0.1:8000 --database-url sqlite:///./roamcard.db

With --start-server the bench makes a fresh database (an SQLite file in a temporary directory, or a
scratch database on postgresql://postgres@127.0.0.1:5432 that it drops afterwards), runs
`roamcard migrate` and `roamcard demo` and issues one card per client (in development, since
`roamcard demo` refuses production), then starts `roamcard serve` (and, with --workers, separate
`roamcard worker` processes) on a free port in production (bench/environment.py: demo mode off, the
sandbox gateway and console SMS switched on explicitly, random 48-character secrets shared with the
set-up), and stops everything at the end. Child processes get PYTHONPATH with absolute entries, so
`PYTHONPATH=src` makes them run the current tree's sources; the roamcard they import is printed.

The timed phase: C client threads, each signed in as its own card, take top-ups from a shared budget of
N (closed loop), or, with --rate R, top-up i is due at start + i/R and the first free thread sends it
(open loop; its create latency counts from when it was due, so queueing is not hidden). For each one a
client POSTs /api/v1/topups (Idempotency-Key, balance-10 in USD, sandbox), then POSTs the signed
`payment.succeeded` notification to /webhooks/sandbox, as the gateway would. The bench then waits until
every order is `fulfilled` (polling the database, or the API with --wait api), checks every card's
balance through the API, and runs `roamcard ledger verify`.

Printed: end-to-end top-ups/s (first create -> last order seen fulfilled); create and notification
latency p50/p99/max; notification -> fulfilled p50/p99/max (the order's `fulfilled` state transition
time read from the database afterwards, minus the client's wall-clock time of sending the notification:
both UTC wall time on this machine); ms CPU per top-up of the Roamcard processes (server + workers) and,
separately, of PostgreSQL's backends for this database (both sampled from /proc/<pid>/stat every 50 ms,
so processes and connections that come and go count); and two BASELINES measured in the same run, after
the server has stopped: N two-statement transactions (UPDATE one counter row + INSERT one event row, each
client on its own row) straight through the driver (sqlite3 / psycopg) with the same concurrency, on a
scratch table of the same engine (median of three runs); and, on PostgreSQL, pgbench's tpcb-like script
(8 clients, 20 s, scale 10) on a scratch database made with `pgbench -i` and dropped afterwards, with the
ratio top-ups/s ÷ pgbench TPS (--no-pgbench skips it). Before each timed part the bench waits (up to
--quiet-wait seconds) for the machine to be idle, and it reports the CPU that anything else used meanwhile.

Every connection goes to 127.0.0.1; the run is bounded by -n and by --timeout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from environment import BenchEnvironment
from scratch import ScratchDatabases

from roamcard.sandbox.signature import sign

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ROAMCARD = str(BIN / "roamcard") if (BIN / "roamcard").exists() else "roamcard"
LOCALHOST = "127.0.0.1"
PRODUCT = {"product_id": "balance-10", "currency": "USD", "payment_method": "sandbox"}
PRODUCT_CREDIT = 1000  # balance-10 credits 1000 minor units (USD 10.00)
PRODUCT_PRICE = 1000  # and costs USD 10.00 (a campaign's discount is paid by promotion expense)
BASELINE_RUNS = 3
# --campaign capped: a live, capped, budgeted percent-off campaign on the benchmarked product, loaded with
# `roamcard promotions load` before the run. Its caps are sized from -n so that they are reached during the
# timed phase: the first half of the orders is discounted, the rest is priced without it (the cap path).
CAPPED_CAMPAIGN = """
[[campaigns]]
id = "bench-capped"
name_zh = "压测限量特惠"
name_en = "Bench capped offer"
starts_at = "2000-01-01T00:00:00Z"
ends_at = "2100-01-01T00:00:00Z"
benefit = {{ kind = "percent_off", percent = 10 }}
products = ["balance-10"]
currencies = ["USD"]
max_redemptions = {redemptions}
max_per_card = {per_card}
budget = {{ USD = {budget} }}
priority = 10
"""
PGBENCH_CLIENTS = 8

# Issues cards in one process (one transaction) instead of one `roamcard cards create` per card.
CREATE_CARDS = """
import json, sys
from roamcard.card import service
from roamcard.db import get_database
count = int(sys.argv[1])
with get_database().transaction() as session:
    for i in range(count):
        issued = service.issue_card(
            session, phone=f"+86138{i:08d}", language=("zh-CN", "en")[i % 2]
        )
        print(json.dumps({"card_number": issued.card.card_number, "password": issued.password}))
"""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- small helpers --------------------------------------------------------------------------------
def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(pct / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


def engine_of(database_url: str) -> str:
    scheme = urlsplit(database_url).scheme.split("+")[0]
    if scheme == "sqlite":
        return "sqlite"
    if scheme in ("postgresql", "postgres"):
        return "postgresql"
    raise SystemExit(f"unsupported database URL scheme: {scheme}")


def require_local(url: str, what: str) -> None:
    parts = urlsplit(url)
    if parts.scheme.startswith("sqlite"):
        return
    if parts.hostname != LOCALHOST:
        raise SystemExit(f"{what} must point at {LOCALHOST}, got {parts.hostname!r}")


def sqlite_path(database_url: str) -> str:
    path = database_url.split(":///", 1)[1]
    if not path or path == ":memory:":
        raise SystemExit("an in-memory SQLite database cannot be shared with a server")
    return path


def psycopg_url(database_url: str) -> str:
    parts = urlsplit(database_url)
    return parts._replace(scheme="postgresql").geturl()


@dataclass
class CpuSample:
    """CPU seconds used so far by this process and by the whole machine."""

    wall: float
    bench: float
    machine_busy: float
    machine_total: float


_CLK_TCK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float | None:
    """utime + stime of one live process; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found.extend(int(c) for c in (task / "children").read_text().split())
    return found


def _tree(pids: list[int]) -> list[int]:
    seen: list[int] = []
    stack = list(pids)
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.append(pid)
        stack.extend(_children(pid))
    return seen


def _postmaster_pid() -> int | None:
    """The local PostgreSQL server's postmaster: a `postgres` process whose parent is not one."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _comm(int(entry.name)) == "postgres":
            parent = _ppid(int(entry.name))
            if parent is not None and _comm(parent) != "postgres":
                return int(entry.name)
    return None


class CpuMeter:
    """CPU time of the Roamcard processes (server + workers: the process trees of the processes the bench
    started, without py-spy) and of the PostgreSQL backends of one database, over a window.

    A thread samples /proc/<pid>/stat (utime + stime) every `interval` seconds, per process, so that
    processes which start or end inside the window count too: a process that appears counts from zero
    (it started inside the window), one that ends keeps its last sample (what it used after that, at
    most `interval` seconds' worth, is missed; the count of such backends is reported). PostgreSQL
    backends are the postmaster's children whose title names the database; `exclude` keeps the bench's
    own connection (watching the orders) out of the figure."""

    def __init__(
        self,
        server_pids: list[int],
        pg_database: str | None,
        exclude: set[int] | None = None,
        interval: float = 0.05,
    ) -> None:
        self.server_pids = server_pids
        self.pg_database = pg_database
        self.exclude = exclude or set()
        self.interval = interval
        self.postmaster = _postmaster_pid() if pg_database else None
        if pg_database and self.postmaster is None:
            log("WARNING: no local postmaster found; PostgreSQL backend CPU will read 0")
        self._ours: set[int] = set()  # backends known to serve pg_database
        self._first: dict[str, dict[int, float]] = {"server": {}, "postgres": {}}
        self._last: dict[str, dict[int, float]] = {"server": {}, "postgres": {}}
        self._gone: set[int] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _backends(self) -> list[int]:
        if self.postmaster is None or self.pg_database is None:
            return []
        found = []
        for pid in _children(self.postmaster):
            if pid in self.exclude:
                continue
            if pid not in self._ours:
                # A backend's title is the postmaster's command line until it has authenticated, so an
                # unmatched pid is looked at again on the next sample.
                try:
                    title = (
                        Path(f"/proc/{pid}/cmdline")
                        .read_bytes()
                        .replace(b"\0", b" ")
                        .decode(errors="replace")
                    )
                except OSError:
                    continue
                if self.pg_database not in title.split():
                    continue
                self._ours.add(pid)
            found.append(pid)
        return found

    def _sample(self, initial: bool) -> None:
        groups = {
            "server": [p for p in _tree(self.server_pids) if not _comm(p).startswith("py-spy")],
            "postgres": self._backends(),
        }
        for group, pids in groups.items():
            first, last = self._first[group], self._last[group]
            alive = set()
            for pid in pids:
                value = _proc_cpu(pid)
                if value is None:
                    continue
                alive.add(pid)
                if pid not in first:
                    first[pid] = value if initial else 0.0
                last[pid] = value
            self._gone.update(pid for pid in last if pid not in alive and group == "postgres")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample(initial=False)

    def start(self) -> None:
        self._sample(initial=True)
        self._thread = threading.Thread(target=self._run, name="cpu-meter", daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, float]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._sample(initial=False)
        result = {
            group: sum(self._last[group][pid] - self._first[group][pid] for pid in self._last[group])
            for group in ("server", "postgres")
        }
        result["server_processes"] = len(self._last["server"])
        result["postgres_backends"] = len(self._last["postgres"])
        result["postgres_backends_ended"] = len(self._gone)
        return result


def cpu_sample() -> CpuSample:
    stat = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(v) for v in stat]
    idle = ticks[3] + ticks[4]
    total = sum(ticks[:8])
    self_usage = os.times()
    return CpuSample(
        wall=time.perf_counter(),
        bench=self_usage.user + self_usage.system,
        machine_busy=(total - idle) / _CLK_TCK,
        machine_total=total / _CLK_TCK,
    )


def machine_busy_fraction(seconds: float) -> float:
    first = cpu_sample()
    time.sleep(seconds)
    second = cpu_sample()
    return (second.machine_busy - first.machine_busy) / max(1e-9, second.machine_total - first.machine_total)


def wait_for_quiet_machine(limit: float, threshold: float = 0.15, quiet_seconds: int = 3) -> float:
    """Other work on this machine skews the figures: wait (at most `limit` s) until it has been below
    `threshold` busy for `quiet_seconds` seconds in a row. Returns how busy the last second was."""
    deadline = time.monotonic() + limit
    quiet = 0
    busy = 1.0
    while quiet < quiet_seconds and time.monotonic() < deadline:
        busy = machine_busy_fraction(1.0)
        quiet = quiet + 1 if busy <= threshold else 0
    return busy


# -- databases ------------------------------------------------------------------------------------
def _epoch(value: Any) -> float:
    """A stored UTC time (aware or naive datetime, ISO text as SQLite keeps it, or epoch seconds)."""
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return float(value.timestamp())


class OrderWatcher:
    """Reads order states straight from the database (one connection, outside the server)."""

    def __init__(self, database_url: str) -> None:
        self.engine = engine_of(database_url)
        if self.engine == "sqlite":
            self.conn: Any = sqlite3.connect(sqlite_path(database_url), timeout=30, isolation_level=None)
            self.placeholder = "?"
        else:
            import psycopg

            self.conn = psycopg.connect(psycopg_url(database_url), autocommit=True)
            self.placeholder = "%s"

    def backend_pid(self) -> int | None:
        """This connection's PostgreSQL backend (kept out of the database's CPU figure)."""
        if self.engine != "postgresql":
            return None
        return int(self.conn.execute("SELECT pg_backend_pid()").fetchone()[0])

    def fulfilled_times(self, ids: list[str]) -> dict[str, float]:
        """When each order became `fulfilled`, as UTC epoch seconds: the `at` of its state transition to
        fulfilled (the server's clock, UTC wall time on this machine), else the order's `fulfilled_at`."""
        found: dict[str, float] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join([self.placeholder] * len(chunk))
            for entity_id, at in self.conn.execute(
                "SELECT entity_id, min(at) FROM state_transitions WHERE entity_type = 'topup'"
                f" AND to_status = 'fulfilled' AND entity_id IN ({marks}) GROUP BY entity_id",
                chunk,
            ).fetchall():
                found[entity_id] = _epoch(at)
        missing = [i for i in ids if i not in found]
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            marks = ",".join([self.placeholder] * len(chunk))
            for order_id, at in self.conn.execute(
                "SELECT id, fulfilled_at FROM topup_orders"
                f" WHERE fulfilled_at IS NOT NULL AND id IN ({marks})",
                chunk,
            ).fetchall():
                found[order_id] = _epoch(at)
        return found

    def fulfilled_among(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join([self.placeholder] * len(chunk))
            rows = self.conn.execute(
                f"SELECT id FROM topup_orders WHERE status = 'fulfilled' AND id IN ({marks})", chunk
            ).fetchall()
            found.update(row[0] for row in rows)
        return found

    def status_counts(self, ids: list[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join([self.placeholder] * len(chunk))
            for status, count in self.conn.execute(
                f"SELECT status, count(*) FROM topup_orders WHERE id IN ({marks}) GROUP BY status", chunk
            ).fetchall():
                counts[status] = counts.get(status, 0) + count
        return counts

    def promoted_count(self, ids: list[str]) -> int:
        """How many of the orders a campaign applied to (their `promotions` snapshot is not empty)."""
        total = 0
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join([self.placeholder] * len(chunk))
            total += int(
                self.conn.execute(
                    "SELECT count(*) FROM topup_orders WHERE promotions IS NOT NULL"
                    f" AND list_price_amount > price_amount AND id IN ({marks})",
                    chunk,
                ).fetchone()[0]
            )
        return total

    def last_fulfilled_at(self, ids: list[str]) -> float | None:
        latest: float | None = None
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join([self.placeholder] * len(chunk))
            value = self.conn.execute(
                f"SELECT max(fulfilled_at) FROM topup_orders WHERE id IN ({marks})", chunk
            ).fetchone()[0]
            if value is None:
                continue
            stamp = _epoch(value)
            latest = stamp if latest is None else max(latest, stamp)
        return latest

    def close(self) -> None:
        self.conn.close()


# -- the server -----------------------------------------------------------------------------------
def run_cli(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ROAMCARD, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


class Servers:
    """`roamcard serve` (+ optional `roamcard worker`s), each in its own process group."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []
        self.profile_args: list[str] = []
        self.profile_rate = 100

    def start(self, name: str, command: list[str], env: dict[str, str], profile: Path | None) -> None:
        if profile is not None:
            command = [
                str(BIN / "py-spy"),
                "record",
                "--subprocesses",
                "--rate",
                str(self.profile_rate),
                "--nonblocking",
                *self.profile_args,
                "--format",
                "raw",
                "--output",
                str(profile / f"{name}.txt"),
                "--",
                *command,
            ]
        out = (self.log_dir / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs.append(proc)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def check_alive(self) -> None:
        for proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"server process {proc.args!r} exited with {proc.returncode}")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGINT)
        deadline = time.monotonic() + 20
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.procs.clear()


def wait_ready(base_url: str, servers: Servers | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base_url, timeout=2, trust_env=False) as http:
        while time.monotonic() < deadline:
            if servers is not None:
                servers.check_alive()
            with contextlib.suppress(httpx.HTTPError):
                if http.get("/readyz").status_code == 200:
                    return
            time.sleep(0.1)
    raise RuntimeError(f"server at {base_url} not ready after {timeout}s")


# -- the load -------------------------------------------------------------------------------------
@dataclass
class Client:
    index: int
    card_number: str
    token: str
    balance_before: int = 0
    order_ids: list[str] = field(default_factory=list)


@dataclass
class PhaseSlot:
    """What one client thread records."""

    ids: list[str] = field(default_factory=list)
    creates: list[float] = field(default_factory=list)
    notifies: list[float] = field(default_factory=list)
    notify_wall: dict[str, tuple[float, float]] = field(default_factory=dict)  # id -> (sent, answered)


@dataclass
class PhaseResult:
    order_ids: list[str]
    create_latencies: list[float]
    notify_latencies: list[float]
    notify_wall: dict[str, tuple[float, float]]
    started_wall: float
    started: float
    creates_done: float
    errors: list[str]


def sign_in(http: httpx.Client, card_number: str, password: str) -> str:
    response = http.post("/api/v1/sessions", json={"card_number": card_number, "password": password})
    if response.status_code != 201:
        raise RuntimeError(f"sign-in for {card_number} failed: {response.status_code} {response.text}")
    return str(response.json()["token"])


def card_balance(http: httpx.Client, token: str) -> int:
    response = http.get("/api/v1/card", headers={"Authorization": f"Bearer {token}"})
    response.raise_for_status()
    return int(response.json()["balance"]["amount"])


class KeepAliveHTTP:
    """A minimal HTTP/1.1 keep-alive client for the timed phase.

    The bench shares the machine with the server, so its own CPU per request matters: this costs a
    fraction of what httpx does per request. Setup, checks and polling still use httpx."""

    def __init__(self, base_url: str, timeout: float, headers: dict[str, str]) -> None:
        parts = urlsplit(base_url)
        if parts.hostname != LOCALHOST or parts.scheme != "http":
            raise ValueError(f"the bench only talks plain HTTP to {LOCALHOST}")
        self.address = (LOCALHOST, parts.port or 80)
        self.timeout = timeout
        self.fixed = "".join(f"{k}: {v}\r\n" for k, v in {"Host": parts.netloc, **headers}.items())
        self.sock: socket.socket | None = None
        self.reader: Any = None

    def _connect(self) -> None:
        self.close()
        self.sock = socket.create_connection(self.address, timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = self.sock.makefile("rb")

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        if self.sock is None:
            self._connect()
        assert self.sock is not None
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        head = f"{method} {path} HTTP/1.1\r\n{self.fixed}{extra}Content-Length: {len(body)}\r\n\r\n"
        self.sock.sendall(head.encode() + body)
        status_line = self.reader.readline(65537)
        if not status_line:
            raise ConnectionError("server closed the connection")
        status = int(status_line.split(None, 2)[1])
        length, close = 0, False
        while True:
            line = self.reader.readline(65537)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                raise RuntimeError("chunked responses are not expected here")
            elif name == b"connection" and b"close" in value.lower():
                close = True
        content = self.reader.read(length) if length else b""
        if close:
            self.close()
        return status, content

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
        if self.sock is not None:
            self.sock.close()
        self.sock = self.reader = None


def run_phase(
    base_url: str,
    clients: list[Client],
    secret: str,
    total: int,
    label: str,
    deadline: float,
    rate: float | None = None,
) -> PhaseResult:
    """`total` top-ups by len(clients) threads, each on its own keep-alive connection.

    Closed loop (rate None): each thread takes the next top-up from a shared budget as soon as its last
    one is done. Open loop (rate R): top-up i is due at start + i/R; the first free thread takes it,
    waiting until it is due, and its create latency is measured from when it was DUE, not from when it was
    sent, so time spent queued behind a slow server (or with every connection busy) is not hidden
    (coordinated omission). Either way the notification is sent as soon as the create has answered, and
    its send time (UTC wall clock, time.time()) is kept to measure notification -> fulfilled later."""
    budget = iter(range(total))
    budget_lock = threading.Lock()
    stop = threading.Event()
    errors: list[str] = []
    per_client: list[PhaseSlot] = [PhaseSlot() for _ in clients]
    run_tag = uuid.uuid4().hex[:8]
    began: list[float] = []  # (perf_counter, time.time()) of the start, set as the barrier releases

    def mark_start() -> None:
        began.extend((time.perf_counter(), time.time()))

    start_barrier = threading.Barrier(len(clients) + 1, action=mark_start)
    create_body = json.dumps(PRODUCT).encode()

    def work(client: Client, slot: PhaseSlot) -> None:
        http = KeepAliveHTTP(base_url, timeout=30, headers={"Authorization": f"Bearer {client.token}"})
        try:
            http.request("GET", "/healthz")  # open the keep-alive connection before the clock starts
            start_barrier.wait(timeout=60)
        except Exception as exc:
            errors.append(f"client {client.index} could not start: {type(exc).__name__}: {exc}")
            start_barrier.abort()
            http.close()
            return
        try:
            while not stop.is_set():
                with budget_lock:
                    number = next(budget, None)
                if number is None:
                    return
                due = 0.0
                if rate is not None:
                    due = began[0] + number / rate
                    pause = due - time.perf_counter()
                    if pause > 0:
                        time.sleep(pause)
                if time.monotonic() > deadline:
                    errors.append("timed out before the budget was spent")
                    stop.set()
                    return
                try:
                    key = f"bench-{run_tag}-{label}-{number}"
                    t0 = time.perf_counter()
                    status, content = http.request(
                        "POST",
                        "/api/v1/topups",
                        create_body,
                        {"Content-Type": "application/json", "Idempotency-Key": key},
                    )
                    t1 = time.perf_counter()
                    if status != 201:
                        raise RuntimeError(f"create -> {status} {content[:300]!r}")
                    order = json.loads(content)
                    event = {
                        "id": f"evt_bench_{run_tag}_{label}_{number}",
                        "type": "payment.succeeded",
                        "data": {
                            "payment_id": order["payment"]["id"],
                            "amount": order["price"]["amount"],
                            "currency": order["price"]["currency"],
                        },
                    }
                    raw = json.dumps(event, separators=(",", ":")).encode()
                    headers = {
                        "Content-Type": "application/json",
                        "Roamcard-Signature": sign(secret, int(time.time()), raw),
                    }
                    sent_wall = time.time()
                    t_sent = time.perf_counter()
                    status, content = http.request("POST", "/webhooks/sandbox", raw, headers)
                    t2 = time.perf_counter()
                    answered_wall = time.time()
                    if status != 200 or json.loads(content).get("duplicate"):
                        raise RuntimeError(f"notification -> {status} {content[:300]!r}")
                except Exception as exc:
                    errors.append(f"client {client.index}: {type(exc).__name__}: {exc}")
                    stop.set()
                    return
                slot.ids.append(order["id"])
                slot.creates.append(t1 - (due if rate is not None else t0))
                slot.notifies.append(t2 - t_sent)
                slot.notify_wall[order["id"]] = (sent_wall, answered_wall)
        finally:
            http.close()

    threads = [
        threading.Thread(target=work, args=(c, s), name=f"client-{c.index}", daemon=True)
        for c, s in zip(clients, per_client, strict=True)
    ]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        start_barrier.wait(timeout=60)
    started, started_wall = began if began else (time.perf_counter(), time.time())
    for thread in threads:
        thread.join(timeout=max(0.1, deadline - time.monotonic()))
    creates_done = time.perf_counter()
    if any(t.is_alive() for t in threads):
        stop.set()
        errors.append("client threads still running at the deadline")
    for client, slot in zip(clients, per_client, strict=True):
        client.order_ids.extend(slot.ids)
    return PhaseResult(
        order_ids=[i for slot in per_client for i in slot.ids],
        create_latencies=sorted(x for slot in per_client for x in slot.creates),
        notify_latencies=sorted(x for slot in per_client for x in slot.notifies),
        notify_wall={k: v for slot in per_client for k, v in slot.notify_wall.items()},
        started_wall=started_wall,
        started=started,
        creates_done=creates_done,
        errors=errors,
    )


def wait_fulfilled_db(watcher: OrderWatcher, ids: list[str], deadline: float) -> float | None:
    """perf_counter() when every order was seen fulfilled; None at the deadline."""
    remaining = list(ids)
    while remaining:
        done = watcher.fulfilled_among(remaining)
        if done:
            remaining = [i for i in remaining if i not in done]
        if not remaining:
            break
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)
    return time.perf_counter()


def wait_fulfilled_api(base_url: str, clients: list[Client], ids: set[str], deadline: float) -> float | None:
    remaining = set(ids)
    owner = {order_id: c for c in clients for order_id in c.order_ids}
    with httpx.Client(base_url=base_url, timeout=30, trust_env=False) as http:
        while remaining:
            for order_id in list(remaining):
                token = owner[order_id].token
                response = http.get(
                    f"/api/v1/topups/{order_id}", headers={"Authorization": f"Bearer {token}"}
                )
                if response.status_code == 200 and response.json()["status"] == "fulfilled":
                    remaining.discard(order_id)
                else:
                    break  # the oldest open order is not done yet; look again shortly
            if not remaining:
                break
            if time.monotonic() > deadline:
                return None
            time.sleep(0.02)
    return time.perf_counter()


# -- the baseline ---------------------------------------------------------------------------------
def baseline(
    engine: str, database_url: str, total: int, concurrency: int, deadline: float
) -> tuple[float, int]:
    """`total` transactions of UPDATE counter + INSERT event, `concurrency` threads, one row per thread.
    Returns (seconds, transactions committed)."""
    budget = iter(range(total))
    lock = threading.Lock()
    done = [0] * concurrency
    barrier = threading.Barrier(concurrency + 1)

    if engine == "sqlite":
        path = sqlite_path(database_url)

        def connect() -> Any:
            conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            return conn

        setup = connect()
        setup.execute("CREATE TABLE bench_counter (id INTEGER PRIMARY KEY, total INTEGER NOT NULL)")
        setup.execute(
            "CREATE TABLE bench_event (id INTEGER PRIMARY KEY, counter_id INTEGER NOT NULL,"
            " amount INTEGER NOT NULL, created_at TEXT NOT NULL)"
        )
        setup.executemany("INSERT INTO bench_counter VALUES (?, 0)", [(i,) for i in range(concurrency)])
        setup.close()

        def one(conn: Any, row: int) -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("UPDATE bench_counter SET total = total + 1000 WHERE id = ?", (row,))
            conn.execute(
                "INSERT INTO bench_event (counter_id, amount, created_at) VALUES (?, 1000, ?)",
                (row, datetime.now(UTC).isoformat()),
            )
            conn.execute("COMMIT")

    else:
        import psycopg

        url = psycopg_url(database_url)

        def connect() -> Any:
            return psycopg.connect(url)

        with psycopg.connect(url, autocommit=True) as setup:
            setup.execute("CREATE TABLE bench_counter (id integer PRIMARY KEY, total bigint NOT NULL)")
            setup.execute(
                "CREATE TABLE bench_event (id bigserial PRIMARY KEY, counter_id integer NOT NULL,"
                " amount bigint NOT NULL, created_at timestamptz NOT NULL)"
            )
            with setup.cursor() as cur:
                cur.executemany(
                    "INSERT INTO bench_counter VALUES (%s, 0)", [(i,) for i in range(concurrency)]
                )

        def one(conn: Any, row: int) -> None:
            conn.execute("UPDATE bench_counter SET total = total + 1000 WHERE id = %s", (row,))
            conn.execute(
                "INSERT INTO bench_event (counter_id, amount, created_at) VALUES (%s, 1000, %s)",
                (row, datetime.now(UTC)),
            )
            conn.commit()

    def work(row: int) -> None:
        conn = connect()
        try:
            barrier.wait()
            while time.monotonic() < deadline:
                with lock:
                    number = next(budget, None)
                if number is None:
                    return
                one(conn, row)
                done[row] += 1
        finally:
            conn.close()

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=60)
    started = time.perf_counter()
    for thread in threads:
        thread.join(timeout=max(0.1, deadline - time.monotonic()))
    return time.perf_counter() - started, sum(done)


def find_pgbench() -> str | None:
    """pgbench on PATH, else the newest /usr/lib/postgresql/*/bin/pgbench."""
    found = shutil.which("pgbench")
    if found:
        return found
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pgbench"),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in p.parts[-3].split(".")],
    )
    return str(candidates[-1]) if candidates else None


def run_pgbench(scratch: ScratchDatabases, seconds: int, clients: int, scale: int) -> dict[str, Any]:
    """pgbench's built-in tpcb-like script on a scratch database (`pgbench -i` first), dropped after."""
    exe = find_pgbench()
    if exe is None:
        raise SystemExit("pgbench not found (PATH or /usr/lib/postgresql/*/bin); give --no-pgbench")
    url = scratch.new("pgbench")
    parts = urlsplit(url)
    database = parts.path.lstrip("/")
    connect = [
        "-h",
        parts.hostname or LOCALHOST,
        "-p",
        str(parts.port or 5432),
        "-U",
        parts.username or "postgres",
    ]
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    jobs = max(1, min(clients, os.cpu_count() or 1))
    command = [
        exe,
        "-b",
        "tpcb-like",
        "-c",
        str(clients),
        "-j",
        str(jobs),
        "-T",
        str(seconds),
        *connect,
        database,
    ]
    try:
        init = subprocess.run(
            [exe, "-i", "-q", "-s", str(scale), *connect, database],
            env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        if init.returncode != 0:
            raise SystemExit(f"pgbench -i failed:\n{init.stderr[-2000:]}")
        run = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=seconds + 120, check=False
        )
    finally:
        scratch.drop(url)
    found = re.search(r"^tps = ([0-9.]+)", run.stdout, re.MULTILINE)
    if run.returncode != 0 or not found:
        raise SystemExit(f"pgbench failed:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
    latency = re.search(r"^latency average = ([0-9.]+) ms", run.stdout, re.MULTILINE)
    return {
        "tps": float(found.group(1)),
        "latency_average_ms": float(latency.group(1)) if latency else None,
        "clients": clients,
        "threads": jobs,
        "seconds": seconds,
        "scale": scale,
        "command": " ".join(Path(command[0]).name if i == 0 else a for i, a in enumerate(command)),
    }


# -- main -----------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="base URL of a running server (http://127.0.0.1:PORT)")
    parser.add_argument(
        "--database-url",
        help="the server's database: for migrate/demo/cards (with --start-server), waiting, ledger verify "
        "and the baseline's engine. With --start-server and no --database-url a fresh one is made.",
    )
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("-n", "--topups", type=int, default=2000, help="top-ups in the timed phase")
    parser.add_argument("-c", "--concurrency", type=int, default=32, help="concurrent clients")
    parser.add_argument("--cards", type=int, help="cards the clients share (default: one per client)")
    parser.add_argument("--warmup", type=int, help="untimed top-ups first (default: one per client)")
    parser.add_argument("--start-server", action="store_true", help="spawn and stop roamcard serve")
    parser.add_argument(
        "--processes", default="auto", help="`roamcard serve --processes`: auto (its default) or 1..16"
    )
    parser.add_argument(
        "--workers", type=int, default=0, help="separate `roamcard worker` processes (serve gets --no-worker)"
    )
    parser.add_argument(
        "--server-env", action="append", default=[], metavar="KEY=VALUE", help="extra server setting"
    )
    parser.add_argument("--secret", help="sandbox webhook secret of an already running server")
    parser.add_argument("--wait", choices=["db", "api"], help="how to watch for fulfilment (default: db)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds for the whole timed phase")
    parser.add_argument(
        "--rate",
        type=float,
        help="open loop: top-ups arrive at R per second on a fixed schedule (over -c connections); "
        "create latency counts from the scheduled time",
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the driver baseline")
    parser.add_argument("--no-pgbench", action="store_true", help="skip the pgbench baseline (PostgreSQL)")
    parser.add_argument("--pgbench-seconds", type=int, default=20, help="pgbench -T (default 20)")
    parser.add_argument("--pgbench-scale", type=int, default=10, help="pgbench -i -s (default 10)")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=120,
        help="wait up to this many seconds for an idle machine before each timed part (0: don't)",
    )
    parser.add_argument("--profile", type=Path, help="run the server processes under py-spy; raw stacks here")
    parser.add_argument(
        "--profile-gil", action="store_true", help="py-spy --gil: sample only the thread holding the GIL"
    )
    parser.add_argument(
        "--campaign",
        choices=["none", "capped"],
        default="none",
        help="capped: load a live campaign on the product, with max_redemptions and a budget that the run"
        " reaches (needs --start-server)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    parser.add_argument("--label", help="a note stored with the figures in --json (e.g. which build)")
    args = parser.parse_args(argv)
    if not args.start_server and not args.url:
        parser.error("give --url of a running server, or --start-server")
    if args.start_server and args.url:
        parser.error("--url and --start-server exclude each other")
    if args.campaign != "none" and not args.start_server:
        parser.error("--campaign needs --start-server")
    if not 1 <= args.topups <= 200_000 or not 1 <= args.concurrency <= 512:
        parser.error("-n must be 1..200000 and -c 1..512")
    explicit = args.processes.isdecimal() and 1 <= int(args.processes) <= 16
    if not (args.processes == "auto" or explicit) or not 0 <= args.workers <= 16:
        parser.error("--processes must be auto or 1..16 and --workers 0..16")
    if args.rate is not None and not 0 < args.rate <= 10_000:
        parser.error("--rate must be in (0, 10000]")
    if args.rate is not None and args.topups / args.rate > args.timeout:
        parser.error(f"-n {args.topups} at --rate {args.rate:g} takes longer than --timeout {args.timeout:g}")
    if not 1 <= args.pgbench_seconds <= 600 or not 1 <= args.pgbench_scale <= 1000:
        parser.error("--pgbench-seconds must be 1..600 and --pgbench-scale 1..1000")
    if any("=" not in item for item in args.server_env):
        parser.error("--server-env takes KEY=VALUE")
    return args


def _terminate(_signum: int, _frame: Any) -> None:
    raise SystemExit(143)  # unwinds through the clean-up: servers stopped, scratch databases dropped


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    engine = engine_of(args.database_url) if args.database_url else args.engine
    if args.url:
        require_local(args.url, "--url")
    if args.database_url:
        require_local(args.database_url, "--database-url")
    signal.signal(signal.SIGTERM, _terminate)
    scratch = ScratchDatabases(engine)
    servers = Servers(scratch.tmp)
    if args.profile_gil:
        servers.profile_args.append("--gil")
    try:
        with contextlib.ExitStack() as stack:
            stack.callback(scratch.close)
            stack.callback(servers.stop)
            return _run(args, engine, scratch, servers)
    except KeyboardInterrupt:
        log("interrupted")
        return 130


def load_capped_campaign(
    tmp: Path, env: dict[str, str], args: argparse.Namespace, report: dict[str, Any], cards: int
) -> None:
    """Write and load the capped campaign (CAPPED_CAMPAIGN); its caps go in the report."""
    total = args.topups + (args.concurrency if args.warmup is None else args.warmup)
    redemptions = max(1, total // 2)
    discount = PRODUCT_PRICE // 10
    caps = {
        "redemptions": redemptions,
        "per_card": 2 * -(-redemptions // cards),  # not the cap that binds first
        "budget": discount * (redemptions + redemptions // 10),  # binding just after max_redemptions
    }
    path = tmp / "bench-campaign.toml"
    path.write_text(CAPPED_CAMPAIGN.format(**caps), encoding="utf-8")
    loaded = run_cli(["promotions", "load", str(path)], env)
    if loaded.returncode != 0:
        raise SystemExit(f"roamcard promotions load failed:\n{loaded.stdout}\n{loaded.stderr}")
    report["campaign"] = {"id": "bench-capped", "percent_off": 10, **caps}
    log(f"campaign bench-capped loaded: max_redemptions {redemptions}, budget USD {caps['budget']}")


def issue_cards(env: dict[str, str], count: int) -> list[tuple[str, str]]:
    made = subprocess.run(
        [sys.executable, "-c", CREATE_CARDS, str(count)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if made.returncode != 0:
        raise SystemExit(f"issuing cards failed:\n{made.stderr}")
    cards = [json.loads(line) for line in made.stdout.splitlines()]
    return [(card["card_number"], card["password"]) for card in cards]


def roamcard_source(env: dict[str, str]) -> Path:
    """Where the child processes import roamcard from (PYTHONPATH decides: e.g. a worktree's src/)."""
    found = subprocess.run(
        [sys.executable, "-c", "import roamcard; print(roamcard.__file__)"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return Path(found.stdout.strip()).resolve().parent


def code_version(package: Path) -> str:
    """The roamcard commit the figures belong to (+dirty when its tree has uncommitted changes)."""
    tree = package.parents[1]
    try:
        commit = subprocess.run(
            ["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(tree), "status", "--porcelain", "--untracked-files=no", "src"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def latency_summary(values: list[float]) -> dict[str, float | None]:
    """p50/p90/p99/max in milliseconds of already sorted seconds."""
    return {
        "p50": percentile(values, 50) * 1000 if values else None,
        "p90": percentile(values, 90) * 1000 if values else None,
        "p99": percentile(values, 99) * 1000 if values else None,
        "max": values[-1] * 1000 if values else None,
    }


def _run(args: argparse.Namespace, engine: str, scratch: ScratchDatabases, servers: Servers) -> int:
    extra_env = dict(item.split("=", 1) for item in args.server_env)
    database_url: str | None = args.database_url
    cards_wanted = args.cards or args.concurrency
    report: dict[str, Any] = {
        "engine": engine,
        "topups": args.topups,
        "concurrency": args.concurrency,
        "rate": args.rate,
        "processes": args.processes,
        "separate_workers": args.workers,
        "nproc": os.cpu_count(),
        "label": args.label,
    }

    # -- set-up: database, cards, server ----------------------------------------------------------
    if args.start_server:
        base_url = f"http://{LOCALHOST}:{free_port()}"
        database_url = database_url or scratch.new("app")
        settings = BenchEnvironment(database_url, base_url, extra_env)
        secret = settings.webhook_secret
        env, setup_env = settings.server(), settings.setup()
        log(f"{engine}: {database_url}")
        for step in (["migrate"], ["demo"]):
            result = run_cli(step, setup_env)
            if result.returncode != 0:
                raise SystemExit(f"roamcard {step[0]} failed:\n{result.stdout}\n{result.stderr}")
        if args.campaign == "capped":
            load_capped_campaign(scratch.tmp, setup_env, args, report, cards_wanted)
        credentials = issue_cards(setup_env, cards_wanted)
        log(f"issued {len(credentials)} cards")
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
        port = str(urlsplit(base_url).port)
        serve = [ROAMCARD, "serve", "--host", LOCALHOST, "--port", port, "--processes", args.processes]
        if args.workers:
            serve.append("--no-worker")
        servers.start("serve", serve, env, args.profile)
        for number in range(args.workers):
            servers.start(f"worker-{number}", [ROAMCARD, "worker"], env, args.profile)
        wait_ready(base_url, servers, timeout=60)
        log(f"server up at {base_url}; its logs are in {scratch.tmp}")
    else:
        base_url = args.url.rstrip("/")
        secret = args.secret or os.environ.get("ROAMCARD_SANDBOX_WEBHOOK_SECRET", "")
        if not secret:
            raise SystemExit("give --secret (or ROAMCARD_SANDBOX_WEBHOOK_SECRET) for a running server")
        wait_ready(base_url, None, timeout=10)
        # A running server has its own secrets; issuing cards only needs its database (and, if cards'
        # data is keyed, the server's ROAMCARD_* secrets in this environment: they are passed on).
        settings = BenchEnvironment(database_url or "", base_url, extra_env)
        for name in settings.secrets:
            if os.environ.get(name):
                settings.secrets[name] = os.environ[name]
        setup_env = settings.setup()
        if database_url:
            credentials = issue_cards(setup_env, cards_wanted)
        else:
            from roamcard.demo import DEMO_CARDS

            credentials = [(d.card_number, d.password) for d in DEMO_CARDS]
            log("no --database-url: the demo cards only, waiting through the API, no ledger verify")
    source = roamcard_source(setup_env)
    report["roamcard"] = code_version(source)
    report["roamcard_source"] = str(source)
    log(f"roamcard {report['roamcard']} from {source}")
    import roamcard

    if Path(roamcard.__file__).resolve().parent != source:
        log(f"WARNING: the bench itself imports roamcard from {Path(roamcard.__file__).parent}")

    # Sign in once per card (argon2id at production cost) before anything is timed.
    with httpx.Client(base_url=base_url, timeout=30, trust_env=False) as http:
        tokens = [(number, sign_in(http, number, password)) for number, password in credentials]
        balances_before = {number: card_balance(http, token) for number, token in tokens}
    clients = [
        Client(index=i, card_number=tokens[i % len(tokens)][0], token=tokens[i % len(tokens)][1])
        for i in range(args.concurrency)
    ]
    log(f"{len(tokens)} cards signed in; {args.concurrency} clients")
    report["cards"] = len(tokens)

    watcher = OrderWatcher(database_url) if database_url else None
    wait_mode = args.wait or ("db" if watcher else "api")
    if wait_mode == "db" and watcher is None:
        raise SystemExit("--wait db needs --database-url")

    def wait_for(ids: list[str], deadline: float) -> float | None:
        if watcher is not None and wait_mode == "db":
            return wait_fulfilled_db(watcher, ids, deadline)
        return wait_fulfilled_api(base_url, clients, set(ids), deadline)

    # -- warm-up (untimed, closed loop): connection pools, caches, first imports -----------------------
    warmup = args.concurrency if args.warmup is None else args.warmup
    if warmup:
        deadline = time.monotonic() + min(120.0, args.timeout)
        warm = run_phase(base_url, clients, secret, warmup, "warmup", deadline)
        if warm.errors:
            raise SystemExit("warm-up failed: " + "; ".join(warm.errors[:5]))
        if wait_for(warm.order_ids, deadline) is None:
            raise SystemExit("warm-up top-ups were not fulfilled in time")
        log(f"warm-up: {warmup} top-ups fulfilled")

    # -- the timed phase ----------------------------------------------------------------------------
    if args.quiet_wait > 0:
        report["machine_busy_before"] = wait_for_quiet_machine(args.quiet_wait)
        log(f"machine {report['machine_busy_before'] * 100:.0f}% busy in the second before the timed phase")
    pg_database = urlsplit(database_url).path.lstrip("/") if database_url and engine == "postgresql" else None
    watcher_pid = watcher.backend_pid() if watcher else None
    meter = CpuMeter(servers.pids, pg_database, exclude={watcher_pid} if watcher_pid else None)
    deadline = time.monotonic() + args.timeout
    before = cpu_sample()
    meter.start()
    phase = run_phase(base_url, clients, secret, args.topups, "timed", deadline, rate=args.rate)
    log(f"{len(phase.order_ids)} created and notified in {phase.creates_done - phase.started:.2f}s")
    finished = None if phase.errors else wait_for(phase.order_ids, deadline)
    roamcard_cpu = meter.stop()
    after = cpu_sample()
    status = 0
    for error in phase.errors[:10]:
        log(f"ERROR {error}")
    if phase.errors:
        status = 1
    elif finished is None:
        log(f"ERROR not every order was fulfilled within --timeout {args.timeout:.0f}s")
        status = 1

    # -- notification -> fulfilled, from the database's record of each order's transition -------------
    to_fulfilled: list[float] = []
    to_fulfilled_from_answer: list[float] = []
    if watcher is not None:
        fulfilled_at = watcher.fulfilled_times(phase.order_ids)
        for order_id, (sent_wall, answered_wall) in phase.notify_wall.items():
            if order_id in fulfilled_at:
                to_fulfilled.append(fulfilled_at[order_id] - sent_wall)
                to_fulfilled_from_answer.append(fulfilled_at[order_id] - answered_wall)
        to_fulfilled.sort()
        to_fulfilled_from_answer.sort()

    # -- checks: statuses, every card's balance through the API, the ledger --------------------------
    counts = watcher.status_counts(phase.order_ids) if watcher else {}
    if watcher is not None and "campaign" in report:
        report["campaign"]["discounted_in_timed_phase"] = watcher.promoted_count(phase.order_ids)
    orders_per_card: dict[str, int] = {}
    for client in clients:
        orders_per_card[client.card_number] = orders_per_card.get(client.card_number, 0) + len(
            client.order_ids
        )
    balance_errors = []
    with httpx.Client(base_url=base_url, timeout=30, trust_env=False) as http:
        for number, token in tokens:
            expected = balances_before[number] + PRODUCT_CREDIT * orders_per_card.get(number, 0)
            actual = card_balance(http, token)
            if actual != expected:
                balance_errors.append(f"card {number}: balance {actual}, expected {expected}")
    for error in balance_errors:
        log(f"ERROR {error}")
    if balance_errors:
        status = 1
    verify_rc, verify_line = None, "skipped (no --database-url)"
    if database_url:
        result = run_cli(["ledger", "verify"], setup_env)
        verify_rc = result.returncode
        output = result.stdout + result.stderr
        lines = [line.strip() for line in output.splitlines() if "ledger verify" in line]
        verify_line = lines[-1] if lines else output.strip()[-300:]
        if verify_rc != 0:
            status = 1
    if watcher:
        watcher.close()
    if args.start_server:
        servers.stop()

    # -- the baselines: the driver (same count and concurrency), and pgbench on PostgreSQL -----------
    baseline_result = None
    if not args.no_baseline:
        if args.quiet_wait > 0:
            wait_for_quiet_machine(args.quiet_wait)
        # Three runs, each on a fresh scratch table; the median is reported (a short run is noisy).
        runs = []
        for _ in range(BASELINE_RUNS):
            seconds, committed = baseline(
                engine,
                scratch.new("baseline"),
                args.topups,
                args.concurrency,
                time.monotonic() + args.timeout,
            )
            runs.append((committed / seconds if seconds else 0.0, seconds, committed))
        rate, seconds, committed = sorted(runs)[len(runs) // 2]
        baseline_result = {
            "transactions": committed,
            "seconds": seconds,
            "tx_per_second": rate,
            "runs_tx_per_second": [run[0] for run in runs],
        }
    pgbench_result = None
    if engine == "postgresql" and not args.no_pgbench:
        if args.quiet_wait > 0:
            wait_for_quiet_machine(args.quiet_wait)
        log(f"pgbench: tpcb-like, {PGBENCH_CLIENTS} clients, {args.pgbench_seconds} s")
        pgbench_result = run_pgbench(scratch, args.pgbench_seconds, PGBENCH_CLIENTS, args.pgbench_scale)

    # -- report -------------------------------------------------------------------------------------
    completed = len(phase.order_ids)
    elapsed = (finished - phase.started) if finished else None
    machine_busy = after.machine_busy - before.machine_busy
    cpu = {
        "wall": after.wall - before.wall,
        "server": roamcard_cpu["server"],
        "postgres": roamcard_cpu["postgres"],
        "bench_client": after.bench - before.bench,
        "machine_busy": machine_busy,
        "machine_busy_fraction": machine_busy / max(1e-9, after.machine_total - before.machine_total),
        "server_processes": roamcard_cpu["server_processes"],
        "postgres_backends": roamcard_cpu["postgres_backends"],
        "postgres_backends_ended": roamcard_cpu["postgres_backends_ended"],
    }
    cpu["everything_else"] = machine_busy - cpu["server"] - cpu["postgres"] - cpu["bench_client"]
    report.update(
        {
            "completed": completed,
            "statuses": counts,
            "elapsed_seconds": elapsed,
            "topups_per_second": completed / elapsed if elapsed else None,
            "create_phase_seconds": phase.creates_done - phase.started,
            "fulfilment_lag_seconds": (finished - phase.creates_done) if finished else None,
            "create_ms": latency_summary(phase.create_latencies),
            "notify_ms": latency_summary(phase.notify_latencies),
            "notification_to_fulfilled_ms": latency_summary(to_fulfilled),
            "notification_answered_to_fulfilled_ms": latency_summary(to_fulfilled_from_answer),
            "fulfilled_times_found": len(to_fulfilled),
            "cpu_seconds": cpu,
            "cpu_ms_per_topup": {
                key: cpu[key] / completed * 1000 for key in ("server", "postgres", "bench_client")
            }
            if completed
            else None,
            "balances_ok": not balance_errors,
            "ledger_verify": {"exit_code": verify_rc, "result": verify_line},
            "baseline": baseline_result,
            "pgbench": pgbench_result,
            "ok": status == 0,
        }
    )
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return status


def print_report(r: dict[str, Any]) -> None:
    def f(value: float | None, spec: str = ".1f") -> str:
        return "n/a" if value is None else format(value, spec)

    def lat(m: dict[str, float | None]) -> str:
        return f"p50 {f(m['p50'])} ms   p99 {f(m['p99'])} ms   max {f(m['max'])} ms"

    cpu = r["cpu_seconds"]
    mode = (
        f"open loop at {r['rate']:g}/s over {r['concurrency']} connections"
        if r["rate"]
        else (f"c={r['concurrency']}")
    )
    print()
    print(
        f"Roamcard top-up benchmark — {r['engine']}, n={r['topups']}, {mode}, "
        f"cards={r['cards']}, serve --processes {r['processes']}, separate workers {r['separate_workers']}, "
        f"nproc {r['nproc']}, roamcard {r['roamcard']}"
    )
    print(f"  completed         {r['completed']}/{r['topups']} top-ups, statuses {r['statuses'] or 'n/a'}")
    print(
        f"  END-TO-END        {f(r['topups_per_second'])} top-ups/s "
        f"({f(r['elapsed_seconds'], '.2f')} s from the first create to the last order seen fulfilled)"
    )
    print(
        f"  creates           {r['create_phase_seconds']:.2f} s for all creates and notifications; "
        f"the last order was fulfilled {f(r['fulfilment_lag_seconds'], '.2f')} s later"
    )
    since = "from its scheduled time" if r["rate"] else "as sent"
    print(f"  create latency    {lat(r['create_ms'])}   ({since})")
    print(f"  notify latency    {lat(r['notify_ms'])}   (the notification POST)")
    if r["fulfilled_times_found"]:
        print(
            f"  notif.→fulfilled  {lat(r['notification_to_fulfilled_ms'])}   (send → the order's fulfilled "
            f"transition; from the answer: p99 {f(r['notification_answered_to_fulfilled_ms']['p99'])} ms)"
        )
    print(
        f"  CPU (timed phase) roamcard {cpu['server']:.1f} s ({cpu['server_processes']} processes), "
        f"postgres backends {cpu['postgres']:.1f} s ({cpu['postgres_backends']} seen, "
        f"{cpu['postgres_backends_ended']} ended), bench {cpu['bench_client']:.1f} s, everything else "
        f"{cpu['everything_else']:.1f} s in {cpu['wall']:.1f} s wall; machine "
        f"{cpu['machine_busy_fraction'] * 100:.0f}% busy"
    )
    if r["cpu_ms_per_topup"]:
        per = r["cpu_ms_per_topup"]
        print(
            f"  ms CPU per top-up roamcard (server + workers) {per['server']:.2f} ms, "
            f"postgres backends {per['postgres']:.2f} ms, bench {per['bench_client']:.2f} ms"
        )
    if r.get("campaign"):
        c = r["campaign"]
        print(
            f"  campaign          {c['id']}: {c['percent_off']}% off, max_redemptions {c['redemptions']},"
            f" budget USD {c['budget']}; {c.get('discounted_in_timed_phase', 'n/a')} timed orders discounted"
        )
    print(f"  balances (API)    {'OK' if r['balances_ok'] else 'MISMATCH'}")
    verify = r["ledger_verify"]
    print(f"  ledger verify     exit {verify['exit_code']}: {verify['result']}")
    b = r["baseline"]
    if b:
        driver = "sqlite3" if r["engine"] == "sqlite" else "psycopg"
        each = ", ".join(f"{rate:.0f}" for rate in b["runs_tx_per_second"])
        print(
            f"  BASELINE          {f(b['tx_per_second'])} tx/s — {b['transactions']} x (UPDATE + INSERT) "
            f"through {driver}, {r['concurrency']} threads, median of {len(b['runs_tx_per_second'])} "
            f"runs ({each} tx/s)"
        )
        if r["topups_per_second"] and b["tx_per_second"]:
            print(f"  top-ups/s ÷ baseline tx/s = {r['topups_per_second'] / b['tx_per_second']:.3f}")
    p = r["pgbench"]
    if p:
        print(
            f"  PGBENCH           {p['tps']:.0f} TPS — tpcb-like, {p['clients']} clients, "
            f"{p['threads']} threads, {p['seconds']} s, scale {p['scale']} "
            f"(latency average {f(p['latency_average_ms'], '.2f')} ms)"
        )
        if r["topups_per_second"] and p["tps"]:
            print(f"  top-ups/s ÷ pgbench TPS = {r['topups_per_second'] / p['tps']:.3f}")
    print(f"  result            {'OK' if r['ok'] else 'FAILED'}")


if __name__ == "__main__":
    sys.exit(main())
