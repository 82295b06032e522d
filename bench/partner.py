#!/usr/bin/env python3
"""Partner API benchmark (not a test): signed partner top-ups, paid from the float, fulfilled at once,
each one's signed callback delivered to a local receiver through the outbox.

    PYTHONPATH=src .venv/bin/python bench/partner.py --engine sqlite -n 1000 -c 16
    PYTHONPATH=src .venv/bin/python bench/partner.py --engine postgresql -n 1000 -c 16

Like bench/topup.py (whose helpers it uses): a fresh database (an SQLite file in a temporary directory,
or a scratch database on postgresql://postgres@127.0.0.1:5432 dropped afterwards), `roamcard migrate` and
`roamcard demo` (the catalogue), C sandbox cards (`issue_card` + `mark_sandbox_card` in one
transaction), one sandbox partner (`roamcard partners create --mode sandbox --commission-bps 300`, its
callback URL a local HTTP receiver in this process that answers 200) credited with enough float
(`roamcard partners credit`), then `roamcard serve` (production settings, its in-process worker
delivering the callbacks) on a free port.

The timed phase: C client threads (keep-alive connections), each topping up its own card, take top-ups
from a shared budget of N (closed loop): POST /api/v1/partner/topups with a new `external_id`, signed
(Roamcard-Key/Timestamp/Nonce/Signature, reseller/signing.py), balance-10 in USD; a 201 `fulfilled`
counts. The phase ends when the last answer is in (throughput: top-ups/s) and the CPU window when every
callback has reached the receiver (so the callbacks' cost counts in the CPU per top-up; it is also shown
split at the last answer: until then, and the drain of the callbacks still queued). Checked: every
answer 201 and fulfilled, the float moved by exactly N x partner cost, every callback verified with the
partner's secret, `roamcard ledger verify`.

Printed: top-ups/s, latency p50/p99/max, time until the last callback, ms CPU per top-up of the Roamcard
processes and of the PostgreSQL backends of this database (bench/topup.py's CpuMeter), the CPU anything
else used meanwhile (the machine is shared: CPU per top-up is the robust figure), and the BASELINE of
bench/topup.py measured in the same run after the server stopped: N two-statement transactions (UPDATE
a counter + INSERT an event) straight through the driver with the same concurrency, median of three.

Every connection goes to 127.0.0.1; the run is bounded by -n and by --timeout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from environment import BenchEnvironment
from scratch import ScratchDatabases

from roamcard.reseller import signing
from topup import (
    BASELINE_RUNS,
    LOCALHOST,
    ROAMCARD,
    ROOT,
    CpuMeter,
    Servers,
    baseline,
    code_version,
    cpu_sample,
    free_port,
    latency_summary,
    log,
    roamcard_source,
    run_cli,
    wait_for_quiet_machine,
    wait_ready,
)

PATH = "/api/v1/partner/topups"
PRICE = 1000  # balance-10: USD 10.00
COMMISSION_BPS = 300
PARTNER_COST = PRICE - PRICE * COMMISSION_BPS // 10_000

CREATE_SANDBOX_CARDS = """
import json, sys
from roamcard.card import service
from roamcard.db import get_database
from roamcard.partner.service.sandbox import mark_sandbox_card
with get_database().transaction() as session:
    for i in range(int(sys.argv[1])):
        issued = service.issue_card(session, phone=f"+86139{i:08d}", currency="USD")
        mark_sandbox_card(session, issued.card.id)
        print(issued.card.card_number)
"""


@dataclass
class Receiver:
    """The partner's callback endpoint: verifies each signature with the partner's secret."""

    secret: str = ""
    received: set[str] = field(default_factory=set)
    bad: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""
    server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        state = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = signing.matches(
                    state.secret,
                    "POST",
                    self.path,
                    self.headers.get("Roamcard-Timestamp", ""),
                    self.headers.get("Roamcard-Nonce", ""),
                    body,
                    self.headers.get("Roamcard-Signature", ""),
                )
                with state.lock:
                    if ok:
                        state.received.add(json.loads(body)["external_id"])
                    else:
                        state.bad += 1
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((LOCALHOST, 0), Handler)
        self.url = f"http://{LOCALHOST}:{self.server.server_address[1]}/roamcard/callback"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@dataclass
class Phase:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    external_ids: list[str] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0


def run_phase(
    base_url: str, key_id: str, secret: str, cards: list[str], total: int, label: str, deadline: float
) -> Phase:
    phase = Phase()
    budget = iter(range(total))
    lock = threading.Lock()
    barrier = threading.Barrier(len(cards) + 1)

    def work(card_number: str) -> None:
        with httpx.Client(base_url=base_url, timeout=60, trust_env=False) as http:
            barrier.wait()
            while time.monotonic() < deadline:
                with lock:
                    number = next(budget, None)
                if number is None:
                    return
                external_id = f"{label}-{number:07d}"
                body = json.dumps(
                    {
                        "external_id": external_id,
                        "card_number": card_number,
                        "product_id": "balance-10",
                        "currency": "USD",
                    }
                ).encode()
                headers = signing.headers(
                    key_id,
                    secret,
                    "POST",
                    PATH,
                    body,
                    timestamp=int(time.time()),
                    nonce=secrets.token_urlsafe(18),
                )
                sent = time.perf_counter()
                try:
                    response = http.post(
                        PATH, content=body, headers={**headers, "Content-Type": "application/json"}
                    )
                except httpx.HTTPError as exc:
                    with lock:
                        phase.errors.append(f"{external_id}: {type(exc).__name__}")
                    continue
                took = time.perf_counter() - sent
                with lock:
                    if response.status_code == 201 and response.json()["status"] == "fulfilled":
                        phase.latencies.append(took)
                        phase.external_ids.append(external_id)
                    else:
                        phase.errors.append(f"{external_id}: {response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=work, args=(card,), daemon=True) for card in cards]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=60)
    phase.started = time.perf_counter()
    for thread in threads:
        thread.join(timeout=max(0.1, deadline - time.monotonic()))
    phase.finished = time.perf_counter()
    phase.latencies.sort()
    return phase


def wait_callbacks(receiver: Receiver, wanted: int, deadline: float) -> float | None:
    while time.monotonic() < deadline:
        if receiver.count() >= wanted:
            return time.perf_counter()
        time.sleep(0.05)
    return None


def cli_json(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    result = run_cli(args, env)
    if result.returncode != 0:
        raise SystemExit(f"roamcard {' '.join(args[:2])} failed:\n{result.stdout}\n{result.stderr}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("-n", "--topups", type=int, default=1000)
    parser.add_argument("-c", "--concurrency", type=int, default=16)
    parser.add_argument("--processes", default="1", help="roamcard serve --processes")
    parser.add_argument("--warmup", type=int, default=None, help="untimed top-ups first (default: C)")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument(
        "--quiet-wait", type=float, default=20, help="wait up to this long for an idle machine"
    )
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    return parser.parse_args(argv)


def _terminate(_signum: int, _frame: Any) -> None:
    raise SystemExit(143)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    scratch = ScratchDatabases(args.engine)
    servers = Servers(scratch.tmp)
    receiver = Receiver()
    try:
        with contextlib.ExitStack() as stack:
            stack.callback(scratch.close)
            stack.callback(servers.stop)
            stack.callback(receiver.stop)
            return _run(args, scratch, servers, receiver)
    except KeyboardInterrupt:
        log("interrupted")
        return 130


def _run(args: argparse.Namespace, scratch: ScratchDatabases, servers: Servers, receiver: Receiver) -> int:
    engine = args.engine
    base_url = f"http://{LOCALHOST}:{free_port()}"
    database_url = scratch.new("app")
    settings = BenchEnvironment(database_url, base_url)
    env, setup_env = settings.server(), settings.setup()
    log(f"{engine}: {database_url}")
    for step in (["migrate"], ["demo"]):  # the demo loads the catalogue (balance-10)
        result = run_cli(step, setup_env)
        if result.returncode != 0:
            raise SystemExit(f"roamcard {step[0]} failed:\n{result.stdout}\n{result.stderr}")
    made = subprocess.run(
        [sys.executable, "-c", CREATE_SANDBOX_CARDS, str(args.concurrency)],
        env=setup_env, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if made.returncode != 0:
        raise SystemExit(f"issuing cards failed:\n{made.stderr}")
    cards = made.stdout.split()
    receiver.start()
    partner = cli_json(
        [
            "partners", "create", "--name", "Bench platform", "--currency", "USD",
            "--callback-url", receiver.url, "--mode", "sandbox", "--commission-bps", str(COMMISSION_BPS),
        ],
        setup_env,
    )  # fmt: skip
    receiver.secret = partner["api_secret"]
    warmup = args.concurrency if args.warmup is None else args.warmup
    float_amount = (args.topups + warmup) * PARTNER_COST
    credit = run_cli(["partners", "credit", partner["partner_id"], "--amount", str(float_amount)], setup_env)
    if credit.returncode != 0:
        raise SystemExit(f"roamcard partners credit failed:\n{credit.stdout}\n{credit.stderr}")
    port = str(urlsplit(base_url).port)
    servers.start(
        "serve",
        [ROAMCARD, "serve", "--host", LOCALHOST, "--port", port, "--processes", args.processes],
        env,
        None,
    )
    wait_ready(base_url, servers, timeout=60)
    source = roamcard_source(setup_env)
    version = code_version(source)
    log(f"server up at {base_url}; roamcard {version} from {source}; logs in {scratch.tmp}")

    key_id, secret = partner["api_key_id"], partner["api_secret"]
    if warmup:
        warm = run_phase(base_url, key_id, secret, cards, warmup, "warm", time.monotonic() + 120)
        if warm.errors:
            raise SystemExit("warm-up failed: " + "; ".join(warm.errors[:5]))
        if wait_callbacks(receiver, warmup, time.monotonic() + 120) is None:
            raise SystemExit("warm-up callbacks did not arrive in time")
        log(f"warm-up: {warmup} top-ups and callbacks")

    busy_before = wait_for_quiet_machine(args.quiet_wait) if args.quiet_wait > 0 else None
    pg_database = urlsplit(database_url).path.lstrip("/") if engine == "postgresql" else None
    meter = CpuMeter(servers.pids, pg_database)
    deadline = time.monotonic() + args.timeout
    before = cpu_sample()
    meter.start()
    phase = run_phase(base_url, key_id, secret, cards, args.topups, "bench", deadline)
    during = meter.stop()  # the requests (and the callbacks the worker delivered meanwhile)
    drain = CpuMeter(servers.pids, pg_database)
    drain.start()
    callbacks_done = wait_callbacks(receiver, warmup + len(phase.external_ids), deadline)
    drained = drain.stop()  # the callbacks still queued when the last answer came
    after = cpu_sample()
    used = {key: during[key] + drained[key] for key in ("server", "postgres")}

    status = 0
    for error in phase.errors[:10]:
        log(f"ERROR {error}")
    if phase.errors or callbacks_done is None or receiver.bad:
        status = 1
    shown = cli_json(["partners", "show", partner["partner_id"]], setup_env)
    expected_float = float_amount - (warmup + len(phase.external_ids)) * PARTNER_COST
    float_ok = shown["float_balance"] == expected_float
    if not float_ok:
        log(f"ERROR float balance {shown['float_balance']}, expected {expected_float}")
        status = 1
    verify = run_cli(["ledger", "verify"], setup_env)
    verify_lines = [line.strip() for line in (verify.stdout + verify.stderr).splitlines() if line.strip()]
    if verify.returncode != 0:
        status = 1
    servers.stop()

    baseline_result = None
    if not args.no_baseline:
        if args.quiet_wait > 0:
            wait_for_quiet_machine(args.quiet_wait)
        runs = []
        for _ in range(BASELINE_RUNS):
            seconds, committed = baseline(
                engine,
                scratch.new("baseline"),
                args.topups,
                args.concurrency,
                time.monotonic() + args.timeout,
            )
            runs.append(committed / seconds if seconds else 0.0)
        baseline_result = sorted(runs)[len(runs) // 2], runs

    done = len(phase.external_ids)
    elapsed = phase.finished - phase.started
    machine_busy = after.machine_busy - before.machine_busy
    bench_cpu = after.bench - before.bench
    report = {
        "engine": engine,
        "topups": args.topups,
        "concurrency": args.concurrency,
        "processes": args.processes,
        "nproc": os.cpu_count(),
        "roamcard": version,
        "completed": done,
        "topups_per_second": done / elapsed if elapsed else None,
        "elapsed_seconds": elapsed,
        "latency_ms": latency_summary(phase.latencies),
        "last_callback_after_seconds": (callbacks_done - phase.started) if callbacks_done else None,
        "callbacks_verified": receiver.count(),
        "callbacks_refused": receiver.bad,
        "cpu_seconds": {
            "roamcard": used["server"],
            "postgres": used["postgres"],
            "bench": bench_cpu,
            "everything_else": machine_busy - used["server"] - used["postgres"] - bench_cpu,
            "wall": after.wall - before.wall,
            "machine_busy_fraction": machine_busy / max(1e-9, after.machine_total - before.machine_total),
        },
        "cpu_ms_per_topup": {
            "roamcard": used["server"] / done * 1000 if done else None,
            "postgres": used["postgres"] / done * 1000 if done else None,
            "roamcard_until_last_answer": during["server"] / done * 1000 if done else None,
            "roamcard_callback_drain": drained["server"] / done * 1000 if done else None,
        },
        "machine_busy_before": busy_before,
        "float_ok": float_ok,
        "ledger_verify": {"exit_code": verify.returncode, "result": verify_lines[-1] if verify_lines else ""},
        "baseline_tx_per_second": baseline_result[0] if baseline_result else None,
        "baseline_runs": baseline_result[1] if baseline_result else None,
        "ok": status == 0,
    }
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return status


def print_report(r: dict[str, Any]) -> None:
    def f(value: float | None, spec: str = ".1f") -> str:
        return "n/a" if value is None else format(value, spec)

    lat, cpu, per = r["latency_ms"], r["cpu_seconds"], r["cpu_ms_per_topup"]
    print()
    print(
        f"Roamcard partner top-up benchmark — {r['engine']}, n={r['topups']}, c={r['concurrency']}, "
        f"serve --processes {r['processes']}, nproc {r['nproc']}, roamcard {r['roamcard']}"
    )
    print(f"  completed         {r['completed']}/{r['topups']} signed top-ups, 201 fulfilled")
    print(f"  THROUGHPUT        {f(r['topups_per_second'])} top-ups/s ({r['elapsed_seconds']:.2f} s)")
    print(f"  latency           p50 {f(lat['p50'])} ms   p99 {f(lat['p99'])} ms   max {f(lat['max'])} ms")
    print(
        f"  callbacks         {r['callbacks_verified']} verified by the receiver ({r['callbacks_refused']} "
        f"bad), the last {f(r['last_callback_after_seconds'], '.2f')} s after the first request"
    )
    print(
        f"  CPU               roamcard {cpu['roamcard']:.1f} s, postgres backends {cpu['postgres']:.1f} s, "
        f"bench {cpu['bench']:.1f} s, everything else {cpu['everything_else']:.1f} s in {cpu['wall']:.1f} s "
        f"wall; machine {cpu['machine_busy_fraction'] * 100:.0f}% busy"
    )
    print(
        f"  ms CPU per top-up roamcard (server + worker, callbacks included) {f(per['roamcard'], '.2f')} ms, "
        f"postgres backends {f(per['postgres'], '.2f')} ms"
    )
    print(
        f"  of which roamcard {f(per['roamcard_until_last_answer'], '.2f')} ms until the last answer, "
        f"{f(per['roamcard_callback_drain'], '.2f')} ms draining the callbacks still queued then"
    )
    print(f"  float             {'OK' if r['float_ok'] else 'MISMATCH'}")
    print(f"  ledger verify     exit {r['ledger_verify']['exit_code']}: {r['ledger_verify']['result']}")
    if r["baseline_tx_per_second"]:
        driver = "sqlite3" if r["engine"] == "sqlite" else "psycopg"
        each = ", ".join(f"{rate:.0f}" for rate in r["baseline_runs"])
        print(
            f"  BASELINE          {r['baseline_tx_per_second']:.0f} tx/s — (UPDATE + INSERT) through "
            f"{driver}, {r['concurrency']} threads, median of {len(r['baseline_runs'])} runs ({each} tx/s)"
        )
        if r["topups_per_second"]:
            print(f"  top-ups/s ÷ baseline tx/s = {r['topups_per_second'] / r['baseline_tx_per_second']:.3f}")
    print(f"  result            {'OK' if r['ok'] else 'FAILED'}")


if __name__ == "__main__":
    sys.exit(main())
