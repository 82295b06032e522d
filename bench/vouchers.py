#!/usr/bin/env python3
"""Recharge card benchmark (not a test): generating a million vouchers, and redeeming them with 32 clients.

    .venv/bin/python bench/vouchers.py --engine sqlite
    .venv/bin/python bench/vouchers.py --engine postgresql
    .venv/bin/python bench/vouchers.py --engine postgresql -n 100000 --processes 2   # redemptions, 2 servers
    .venv/bin/python bench/vouchers.py --engine sqlite -n 100000 --redemptions 1000 -c 8   # a quick look

It makes a fresh database (an SQLite file in a temporary directory, or a scratch database on
postgresql://postgres@127.0.0.1:5432 that it drops afterwards) and runs `roamcard migrate`. The server
and the timed operator commands run in production (ROAMCARD_ENVIRONMENT=production, demo mode off) with
random 48-character secrets; `roamcard migrate` and issuing the cards run in development with the same
secrets (bench/environment.py). Then it measures, each next to a baseline from the same run:

1. GENERATION: `roamcard vouchers generate --count N` exactly as an operator runs it (a child process:
   wall time, and its peak RSS from wait4), once with N/10 and once with N, to show that memory stays
   flat. BASELINE: N rows of the same width (14-character serial, 32-byte hash, status, timestamp,
   batch id; primary key plus unique index on the hash) written straight through the driver's bulk path
   in the same chunks and commits: sqlite3 `executemany`, psycopg `COPY`, with random bytes instead of
   HMACs.
2. ACTIVATION: `roamcard vouchers activate --batch …` of the whole batch (range operations, chunked).
3. REDEMPTIONS: `roamcard serve` (`--processes`, default auto as serve's, each with its worker) and C
   client threads, each signed in as its own card, redeeming distinct PINs from the batch through
   POST /api/v1/vouchers/redeem over keep-alive connections until R are done. Afterwards every card's
   balance is checked through the API and `roamcard ledger verify` must pass. Also printed: the server
   processes' CPU time per redemption (a figure that does not depend on what else the machine runs).
   BASELINE: R two-statement transactions (UPDATE one counter row + INSERT one event row, each thread
   its own row) straight through the driver, C threads, on a scratch table of the same engine.

Every connection goes to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import http.client
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from environment import BenchEnvironment
from scratch import ScratchDatabases

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ROAMCARD = str(BIN / "roamcard") if (BIN / "roamcard").exists() else "roamcard"
LOCALHOST = "127.0.0.1"
FACE_VALUE = 1000
CHUNK = 10_000  # the generator's chunk (roamcard.voucher.service.generate.CHUNK_SIZE)

CREATE_CARDS = """
import json, sys
from roamcard.card import service
from roamcard.db import get_database
with get_database().transaction() as session:
    for i in range(int(sys.argv[1])):
        issued = service.issue_card(session, phone=f"+86139{i:08d}", language=("zh-CN", "en")[i % 2])
        print(json.dumps({"card_number": issued.card.card_number, "password": issued.password}))
"""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- databases and processes ----------------------------------------------------------------------
@dataclass
class ChildRun:
    seconds: float
    peak_rss_mib: float
    returncode: int
    output: str


def run_child(args: list[str], env: dict[str, str], timeout: float = 1800) -> ChildRun:
    """Run a child to completion; its own peak RSS comes from wait4, not from this process."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                raise SystemExit(f"{' '.join(args[:3])} timed out")
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read().decode(errors="replace")
    return ChildRun(seconds, usage.ru_maxrss / 1024, proc.returncode, output)


def roamcard(args: list[str], env: dict[str, str], timeout: float = 1800) -> ChildRun:
    result = run_child([ROAMCARD, *args], env, timeout)
    if result.returncode != 0:
        raise SystemExit(f"roamcard {' '.join(args[:2])} failed:\n{result.output[-3000:]}")
    return result


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"roamcard serve exited with {proc.returncode}")
        with contextlib.suppress(OSError):
            conn = http.client.HTTPConnection(LOCALHOST, port, timeout=2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return
        time.sleep(0.1)
    raise SystemExit("the server did not become ready")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its children that have exited, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def server_pids(pid: int) -> list[int]:
    """The serve process and the worker processes it forked (`--processes N`)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found.extend(int(child) for child in (task / "children").read_text().split())
    return found


# -- baselines ------------------------------------------------------------------------------------
def bulk_insert_baseline(engine: str, url: str, total: int) -> float:
    """`total` voucher-shaped rows through the driver's bulk path, committed every CHUNK rows."""
    started = time.perf_counter()
    if engine == "sqlite":
        conn = sqlite3.connect(url.split(":///", 1)[1], isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE v (id VARCHAR(20) PRIMARY KEY, batch_id INTEGER NOT NULL,"
            " pin_hash BLOB NOT NULL UNIQUE, status VARCHAR(16) NOT NULL, updated_at DATETIME NOT NULL)"
        )
        started = time.perf_counter()
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        for low in range(0, total, CHUNK):
            rows = [
                (f"100001{n:08d}", 1, os.urandom(32), "generated", stamp)
                for n in range(low + 1, min(total, low + CHUNK) + 1)
            ]
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO v VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", rows)
            conn.execute("COMMIT")
        conn.close()
        return time.perf_counter() - started
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute(
            "CREATE TABLE v (id varchar(20) PRIMARY KEY, batch_id bigint NOT NULL,"
            " pin_hash bytea NOT NULL UNIQUE, status varchar(16) NOT NULL, updated_at timestamptz NOT NULL)"
        )
        conn.commit()
        started = time.perf_counter()
        now = datetime.now(UTC)
        for low in range(0, total, CHUNK):
            with conn.cursor() as cursor, cursor.copy("COPY v FROM STDIN") as copy:
                for n in range(low + 1, min(total, low + CHUNK) + 1):
                    copy.write_row((f"100001{n:08d}", 1, os.urandom(32), "generated", now))
            conn.commit()
    return time.perf_counter() - started


def transactions_baseline(engine: str, url: str, total: int, concurrency: int) -> float:
    """`total` transactions of UPDATE counter + INSERT event over `concurrency` threads (one row each)."""
    budget = iter(range(total))
    lock = threading.Lock()
    barrier = threading.Barrier(concurrency + 1)
    if engine == "sqlite":
        path = url.split(":///", 1)[1]

        def connect() -> Any:
            conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            return conn

        setup = connect()
        setup.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, total INTEGER NOT NULL)")
        setup.execute(
            "CREATE TABLE event (id INTEGER PRIMARY KEY, counter_id INTEGER, amount INTEGER, at TEXT)"
        )
        setup.executemany("INSERT INTO counter VALUES (?, 0)", [(i,) for i in range(concurrency)])
        setup.close()

        def one(conn: Any, row: int) -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("UPDATE counter SET total = total + 1000 WHERE id = ?", (row,))
            conn.execute(
                "INSERT INTO event (counter_id, amount, at) VALUES (?, 1000, ?)",
                (row, datetime.now(UTC).isoformat()),
            )
            conn.execute("COMMIT")

    else:
        import psycopg

        def connect() -> Any:
            return psycopg.connect(url)

        with psycopg.connect(url, autocommit=True) as setup:
            setup.execute("CREATE TABLE counter (id integer PRIMARY KEY, total bigint NOT NULL)")
            setup.execute(
                "CREATE TABLE event (id bigserial PRIMARY KEY, counter_id integer, amount bigint,"
                " at timestamptz)"
            )
            with setup.cursor() as cursor:
                cursor.executemany("INSERT INTO counter VALUES (%s, 0)", [(i,) for i in range(concurrency)])

        def one(conn: Any, row: int) -> None:
            conn.execute("UPDATE counter SET total = total + 1000 WHERE id = %s", (row,))
            conn.execute(
                "INSERT INTO event (counter_id, amount, at) VALUES (%s, 1000, %s)", (row, datetime.now(UTC))
            )
            conn.commit()

    def work(row: int) -> None:
        conn = connect()
        try:
            barrier.wait()
            while True:
                with lock:
                    number = next(budget, None)
                if number is None:
                    return
                one(conn, row)
        finally:
            conn.close()

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=60)
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


# -- redemptions ----------------------------------------------------------------------------------
@dataclass
class Client:
    index: int
    card_number: str
    token: str
    redeemed: int = 0
    latencies: list[float] = field(default_factory=list)


def request(
    conn: http.client.HTTPConnection, method: str, path: str, body: Any, headers: dict[str, str]
) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=data, headers={"Content-Type": "application/json", **headers})
    response = conn.getresponse()
    return response.status, json.loads(response.read() or b"null")


def sign_in(port: int, card_number: str, password: str) -> str:
    conn = http.client.HTTPConnection(LOCALHOST, port, timeout=30)
    status, body = request(
        conn, "POST", "/api/v1/sessions", {"card_number": card_number, "password": password}, {}
    )
    conn.close()
    if status != 201:
        raise SystemExit(f"sign-in failed: {status} {body}")
    return str(body["token"])


def balance(port: int, token: str) -> int:
    conn = http.client.HTTPConnection(LOCALHOST, port, timeout=30)
    status, body = request(conn, "GET", "/api/v1/card", None, {"Authorization": f"Bearer {token}"})
    conn.close()
    assert status == 200, body
    return int(body["balance"]["amount"])


def redeem_phase(
    port: int, clients: list[Client], pins: list[str], timeout: float
) -> tuple[float, list[str]]:
    budget = iter(pins)
    lock = threading.Lock()
    errors: list[str] = []
    barrier = threading.Barrier(len(clients) + 1)
    deadline = time.monotonic() + timeout

    def work(client: Client) -> None:
        conn = http.client.HTTPConnection(LOCALHOST, port, timeout=60)
        headers = {"Authorization": f"Bearer {client.token}"}
        request(conn, "GET", "/healthz", None, {})  # open the keep-alive connection first
        barrier.wait()
        try:
            while time.monotonic() < deadline and not errors:
                with lock:
                    pin = next(budget, None)
                if pin is None:
                    return
                t0 = time.perf_counter()
                status, body = request(conn, "POST", "/api/v1/vouchers/redeem", {"pin": pin}, headers)
                client.latencies.append(time.perf_counter() - t0)
                if status != 201 or body["status"] != "fulfilled":
                    errors.append(f"client {client.index}: {status} {body}")
                    return
                client.redeemed += 1
        except Exception as exc:  # reported, the run fails
            errors.append(f"client {client.index}: {type(exc).__name__}: {exc}")
        finally:
            conn.close()

    threads = [threading.Thread(target=work, args=(c,), daemon=True) for c in clients]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=60)
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, errors


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))]


# -- main -----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("-n", "--vouchers", type=int, default=1_000_000, help="vouchers to generate")
    parser.add_argument("--redemptions", type=int, default=4000, help="redemptions in the timed phase")
    parser.add_argument("-c", "--concurrency", type=int, default=32, help="redeeming clients")
    parser.add_argument(
        "--processes", default="auto", help="`roamcard serve --processes`: auto (its default) or 1..16"
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds for the redemption phase")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args(argv)
    if not 1000 <= args.vouchers <= 10_000_000 or args.redemptions > args.vouchers:
        parser.error("-n is 1000..10000000 and --redemptions at most -n")
    scratch = ScratchDatabases(args.engine)
    try:
        return run(args, scratch)
    finally:
        scratch.close()


def run(args: argparse.Namespace, scratch: ScratchDatabases) -> int:
    engine, total = args.engine, args.vouchers
    report: dict[str, Any] = {"engine": engine, "vouchers": total, "nproc": os.cpu_count()}
    port = free_port()
    base_url = f"http://{LOCALHOST}:{port}"
    url = scratch.new("app")
    settings = BenchEnvironment(url, base_url, {"ROAMCARD_LOG_LEVEL": "WARNING"})
    env, setup_env = settings.server(), settings.setup()  # production; development for the set-up
    roamcard(["migrate"], setup_env)
    expires = (date.today() + timedelta(days=730)).isoformat()

    # 1. Generation, small then full size: the same peak memory shows it streams.
    runs = {}
    for label, count in (("small", max(1000, total // 10)), ("full", total)):
        out = scratch.tmp / f"{label}.csv"
        log(f"generating {count} vouchers")
        runs[label] = roamcard(
            [
                "vouchers", "generate", "--batch", f"bench-{label}", "--count", str(count), "--face-value",
                str(FACE_VALUE), "--currency", "USD", "--expires", expires, "--out", str(out),
            ],
            env,
        )  # fmt: skip
        report[f"generate_{label}"] = {
            "count": count,
            "seconds": runs[label].seconds,
            "per_second": count / runs[label].seconds,
            "peak_rss_mib": runs[label].peak_rss_mib,
        }
    csv_lines = sum(1 for _ in (scratch.tmp / "full.csv").open()) - 1
    if csv_lines != total:
        raise SystemExit(f"the CSV has {csv_lines} vouchers, not {total}")
    log("baseline: bulk insert through the driver")
    baseline_url = scratch.new("bulk")
    bulk_seconds = bulk_insert_baseline(engine, baseline_url, total)
    report["generate_baseline_seconds"] = bulk_seconds

    # 2. Activation of the whole batch.
    log("activating the batch")
    activation = roamcard(["vouchers", "activate", "--batch", "bench-full", "--by", "bench"], env)
    report["activate_seconds"] = activation.seconds

    # 3. Redemptions through the API.
    made = subprocess.run(
        [sys.executable, "-c", CREATE_CARDS, str(args.concurrency)],
        env=setup_env, cwd=ROOT, capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    credentials = [tuple(json.loads(line).values()) for line in made.stdout.splitlines()]
    with (scratch.tmp / "full.csv").open(newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        pins = [row[1] for _, row in zip(range(args.redemptions), reader, strict=False)]
    server_log = (scratch.tmp / "serve.log").open("wb")
    server = subprocess.Popen(
        [ROAMCARD, "serve", "--host", LOCALHOST, "--port", str(port), "--processes", args.processes],
        env=env, cwd=ROOT, stdout=server_log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    status = 0
    try:
        wait_ready(port, server)
        clients = [
            Client(index, number, sign_in(port, number, password))
            for index, (number, password) in enumerate(credentials)
        ]
        log(f"{len(clients)} clients signed in; redeeming {len(pins)} PINs")
        serving = server_pids(server.pid)
        cpu_before, load_before = sum(map(process_cpu_seconds, serving)), load_average()
        seconds, errors = redeem_phase(port, clients, pins, args.timeout)
        server_cpu = sum(map(process_cpu_seconds, serving)) - cpu_before
        done = sum(c.redeemed for c in clients)
        latencies = [x for c in clients for x in c.latencies]
        for error in errors[:10]:
            log(f"ERROR {error}")
        balances_ok = all(balance(port, c.token) == c.redeemed * FACE_VALUE for c in clients)
        status = 0 if not errors and balances_ok and done == len(pins) else 1
        report["redeem"] = {
            "clients": len(clients),
            "redeemed": done,
            "seconds": seconds,
            "per_second": done / seconds,
            "p50_ms": percentile(latencies, 50) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000,
            "balances_ok": balances_ok,
            "server_cpu_ms_per_redemption": server_cpu * 1000 / max(1, done),
            "load_average_before": load_before,
        }
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, 15)
        server.wait(timeout=30)
        server_log.close()
    verify = run_child([ROAMCARD, "ledger", "verify"], env)
    report["ledger_verify_exit"] = verify.returncode
    status = status or verify.returncode
    log("baseline: two-statement transactions through the driver")
    tx_seconds = transactions_baseline(engine, scratch.new("tx"), len(pins), args.concurrency)
    report["redeem_baseline_tx_per_second"] = len(pins) / tx_seconds

    small, full, redeem = report["generate_small"], report["generate_full"], report["redeem"]
    print()
    print(f"Roamcard voucher benchmark — {engine}, nproc={os.cpu_count()}")
    print(
        f"  GENERATE  {full['count']} vouchers in {full['seconds']:.1f} s ({full['per_second']:,.0f}/s), "
        f"peak RSS {full['peak_rss_mib']:.0f} MiB "
        f"({small['count']} vouchers: {small['seconds']:.1f} s, peak RSS {small['peak_rss_mib']:.0f} MiB)"
    )
    driver = "sqlite3 executemany" if engine == "sqlite" else "psycopg COPY"
    print(
        f"  BASELINE  {total} rows of the same width through {driver}, same chunks and commits: "
        f"{bulk_seconds:.1f} s ({total / bulk_seconds:,.0f}/s); ratio {full['seconds'] / bulk_seconds:.2f}x"
    )
    print(f"  ACTIVATE  {total} vouchers (one range, chunked) in {report['activate_seconds']:.1f} s")
    balances = "OK" if redeem["balances_ok"] else "MISMATCH"
    print(
        f"  REDEEM    {redeem['per_second']:.1f} redemptions/s — {redeem['redeemed']} by {redeem['clients']} "
        f"clients in {redeem['seconds']:.2f} s, p50 {redeem['p50_ms']:.1f} ms, "
        f"p99 {redeem['p99_ms']:.1f} ms; "
        f"balances {balances}; ledger verify exit {report['ledger_verify_exit']}"
    )
    print(
        f"            server CPU {redeem['server_cpu_ms_per_redemption']:.1f} ms per redemption "
        f"(serve --processes {args.processes}); machine load average before the phase "
        f"{redeem['load_average_before']}"
    )
    baseline_tx = report["redeem_baseline_tx_per_second"]
    print(
        f"  BASELINE  {baseline_tx:.1f} tx/s — {len(pins)} x (UPDATE + INSERT) through "
        f"{'sqlite3' if engine == 'sqlite' else 'psycopg'}, {args.concurrency} threads; "
        f"ratio {redeem['per_second'] / baseline_tx:.4f}"
    )
    print(f"  result    {'OK' if status == 0 else 'FAILED'}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
