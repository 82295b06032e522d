#!/usr/bin/env python3
"""Charging operations per second (not a test): create → update → release with 64 sessions open at once;
and (`cdr` mode) offline records rated per minute by `roamcard cdr import`'s code.

    PYTHONPATH=src:. .venv/bin/python bench/charging.py postgresql 6000
    PYTHONPATH=src:. .venv/bin/python bench/charging.py sqlite 3000
    PYTHONPATH=src:. .venv/bin/python bench/charging.py postgresql cdr 100000
    PYTHONPATH=src:. .venv/bin/python bench/charging.py sqlite cdr 100000

In this process, on a fresh scratch database (bench/scratch.py), through the service layer each endpoint
calls (`database.tx()` + `charging.service.sessions`: key check, claim, card lock, settle, reserve, answer;
no HTTP): THREADS threads each keep SLOTS sessions open, so 64 sessions are in flight; each step advances
one session (create with a data request, then UPDATES updates each reporting what was used and asking
again, then a release). Two variants: the sessions spread over 64 cards, and a hot card (64 sessions on one
card, which its row lock serialises on PostgreSQL). The baseline, in the same run and threads: the same
number of 2-statement transactions through the driver (`database.tx()`: one SELECT and one UPDATE of the
thread's own row). Printed: operations per second, the ratio to the baseline, lean statements per
operation, then `roamcard ledger verify`.

`cdr` mode: N records over 200 cards (each with a 1 TiB data pack covering North America, a voice pack and
a balance), a third data in the US (pack), a third voice in France (balance, per started minute), a sixth
SMS in Japan (balance) and a sixth emergency calls (zero-rated), rated in one process through
`charging.service.cdr.import_rows` (the CLI's code without the CSV file and progress bar: the rows are
parsed from CSV text in memory first, outside the timing), batches of 500 records per lean transaction.
The baseline, in the same run: the same number of records' worth of 2 statements (one SELECT and one
UPDATE) in the same batches through `database.tx()`. Printed: records per minute, the ratio to the
baseline, lean statements per record, then `roamcard ledger verify`.
"""

from __future__ import annotations

import io
import os
import sys
import threading
import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

os.environ.setdefault("ROAMCARD_ENVIRONMENT", "test")
os.environ.setdefault("ROAMCARD_LOG_LEVEL", "WARNING")
os.environ.setdefault("ROAMCARD_PUBLIC_BASE_URL", "http://testserver")

from bench.scratch import ScratchDatabases
from sqlalchemy import text, update
from tests.factories import make_card, make_catalog, make_esim_profiles

from roamcard import migrate, wiring  # noqa: F401
from roamcard.charging.schemas import ChargingDataRequest
from roamcard.charging.service import cdr, network_elements, sessions
from roamcard.config import get_settings
from roamcard.db import Database, set_database
from roamcard.kit import clock
from roamcard.kit.sql import Tx
from roamcard.ledger import service as ledger
from roamcard.ledger.assets import Asset
from roamcard.models import EsimProfile

THREADS, SLOTS, UPDATES = 16, 4, 2
MIB = 1024 * 1024
PLMN = {"userLocationinfo": {"eutraLocation": {"tai": {"plmnId": {"mcc": "310", "mnc": "260"}}}}}


def arrange(database: Database, cards: int) -> tuple[list[str], str]:
    with database.transaction() as session:
        make_catalog(session)
        ids = [make_card(session).id for _ in range(cards)]
        iccids = make_esim_profiles(session, cards)
        for card_id, iccid in zip(ids, iccids, strict=True):
            session.execute(update(EsimProfile).where(EsimProfile.iccid == iccid).values(card_id=card_id))
        imsis = [session.query(EsimProfile.imsi).filter_by(iccid=i).scalar() for i in iccids]
        session.execute(text("CREATE TABLE bench_baseline (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"))
        for i in range(THREADS):
            session.execute(text("INSERT INTO bench_baseline (id, n) VALUES (:i, 0)"), {"i": i})
    for card_id in ids:
        with database.tx() as tx:
            ledger.grant_pack(
                tx,
                key=f"bench:{card_id}",
                card_id=card_id,
                asset=Asset.DATA_BYTES,
                amount=1024 * 1024 * MIB,  # 1 TiB: the bench measures operations, not refusals
                validity_days=30,
                order_id=None,
                product_id="data-1gb-7d",
            )
    with database.tx() as tx:
        key = network_elements.create(tx, "bench-pgw").key
    return [str(i) for i in imsis], key


def _request(seq: int, *, imsi: str | None, used: int | None, ask: bool) -> ChargingDataRequest:
    usage: dict[str, Any] = {"ratingGroup": 10}
    if ask:
        usage["requestedUnit"] = {"totalVolume": 10 * MIB}
    if used is not None:
        usage["usedUnitContainer"] = [{"totalVolume": used}]
    body: dict[str, Any] = {
        "invocationSequenceNumber": seq,
        "multipleUnitUsage": [usage],
        "pDUSessionChargingInformation": PLMN,
    }
    if imsi is not None:
        body["subscriberIdentifier"] = f"imsi-{imsi}"
    return ChargingDataRequest.model_validate(body)


def charging_run(database: Database, imsis: list[str], key: str, operations: int) -> float:
    per_thread = operations // THREADS
    authorization = f"Bearer {key}"
    start = threading.Barrier(THREADS + 1)

    def work(index: int) -> None:
        slots: list[list[Any]] = [[None, 0] for _ in range(SLOTS)]  # [ref, next sequence number]
        start.wait()
        for step in range(per_thread):
            slot = slots[step % SLOTS]
            with database.tx() as tx:
                element = network_elements.authenticate(tx, authorization)
                if slot[0] is None:
                    imsi = imsis[(index * SLOTS + step % SLOTS) % len(imsis)]
                    slot[0], slot[1] = (
                        sessions.create(tx, element, _request(1, imsi=imsi, used=None, ask=True)).ref,
                        2,
                    )
                elif slot[1] <= UPDATES + 1:
                    sessions.update(
                        tx, element, slot[0], _request(slot[1], imsi=None, used=7 * MIB, ask=True)
                    )
                    slot[1] += 1
                else:
                    sessions.release(
                        tx, element, slot[0], _request(slot[1], imsi=None, used=3 * MIB, ask=False)
                    )
                    slot[0] = None

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return per_thread * THREADS / (time.perf_counter() - began)


def baseline_run(database: Database, operations: int) -> float:
    per_thread = operations // THREADS
    start = threading.Barrier(THREADS + 1)

    def work(index: int) -> None:
        start.wait()
        for _ in range(per_thread):
            with database.tx() as tx:
                n = tx.value("SELECT n FROM bench_baseline WHERE id = :id", id=index)
                tx.run("UPDATE bench_baseline SET n = :n WHERE id = :id", n=int(n) + 1, id=index)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return per_thread * THREADS / (time.perf_counter() - began)


CDR_CARDS = 200
WORKERS = int(os.environ.get("BENCH_CDR_WORKERS", "4"))


def cdr_rows(imsis: list[str], records: int) -> list[cdr.CdrRow | cdr.Rejection]:
    lines = ["record_id,imsi,started_at,kind,units,called,mcc,mnc"]
    when = (clock.now() - timedelta(hours=1)).isoformat()
    shapes = (
        ("data", 3 * MIB + 17, "", "310", "260"),
        ("voice", 95, "+33612345678", "208", "01"),
        ("data", 700_000, "", "310", "410"),
        ("voice", 61, "+33612345678", "208", "10"),
        ("sms", 1, "+819012345678", "440", "10"),
        ("voice", 40, "911", "310", "260"),
    )
    for i in range(records):
        kind, units, called, mcc, mnc = shapes[i % len(shapes)]
        lines.append(f"bench-{i},{imsis[i % len(imsis)]},{when},{kind},{units},{called},{mcc},{mnc}")
    return list(cdr.read_rows(io.StringIO("\n".join(lines) + "\n")))


def cdr_arrange(database: Database) -> list[str]:
    imsis, _key = arrange(database, CDR_CARDS)
    with database.reading() as session:
        card_ids = [int(i) for i in session.execute(text("SELECT id FROM cards ORDER BY id")).scalars()]
    for card_id in card_ids:
        with database.tx() as tx:
            ledger.grant_pack(
                tx,
                key=f"bench-voice:{card_id}",
                card_id=card_id,
                asset=Asset.VOICE_SECONDS,
                amount=10**9,
                validity_days=30,
                order_id=None,
                product_id="voice-100min-30d",
            )
            ledger.transfer(
                tx,
                key=f"bench-balance:{card_id}",
                debit=ledger.operator(tx, "issued", "USD"),
                credit=ledger.wallet(tx, card_id, "USD"),
                amount=10**9,
                reason="topup",
            )
    return imsis


def cdr_baseline(database: Database, records: int, batch_size: int) -> float:
    began = time.perf_counter()
    done = 0
    while done < records:
        with database.tx() as tx:
            for _ in range(min(batch_size, records - done)):
                n = tx.value("SELECT n FROM bench_baseline WHERE id = :id", id=0)
                tx.run("UPDATE bench_baseline SET n = :n WHERE id = :id", n=int(n) + 1, id=0)
                done += 1
    return records / (time.perf_counter() - began) * 60


def cdr_main(engine: str, records: int) -> None:
    scratch = ScratchDatabases(engine)
    try:
        url = scratch.new("cdr")
        migrate.upgrade(url)
        database = Database(get_settings().model_copy(update={"database_url": url}))
        set_database(database)
        try:
            imsis = cdr_arrange(database)
            warm = [row for row in cdr_rows(imsis, 1000) if isinstance(row, cdr.CdrRow)]
            cdr.import_rows(database, [replace(row, record_id=f"warm-{row.record_id}") for row in warm])
            rows = cdr_rows(imsis, records)
            counted = {"n": 0}
            real = Tx._execute

            def counting(tx: Tx, sql: str, params: dict[str, Any]) -> Any:
                counted["n"] += 1
                return real(tx, sql, params)

            Tx._execute = counting  # type: ignore[method-assign]
            try:
                began = time.perf_counter()
                report = cdr.import_rows(database, rows, workers=WORKERS)
                per_minute = records / (time.perf_counter() - began) * 60
            finally:
                Tx._execute = real  # type: ignore[method-assign]
            assert report.rated == records, report
            assert not report.rejected, report.rejected[:3]
            baseline = cdr_baseline(database, records, cdr.BATCH_SIZE)
            with database.reading() as session:
                verified = ledger.verify(session)
            print(
                f"{engine} cdr: {per_minute:,.0f} records/min ({report.emergency} emergency, "
                f"{report.short} short), baseline {baseline:,.0f} 2-statement records/min "
                f"(ratio {per_minute / baseline:.2f}); {counted['n'] / records:.1f} statements per record; "
                f"ledger verify {'OK' if verified.ok else 'FAILED'}",
                flush=True,
            )
        finally:
            database.dispose()
            scratch.drop(url)
    finally:
        scratch.close()


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[2] == "cdr":
        cdr_main(sys.argv[1], int(sys.argv[3]) if len(sys.argv) > 3 else 100_000)
        return
    engine, operations = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 6000
    scratch = ScratchDatabases(engine)
    try:
        for label, cards in (("64 cards", 64), ("hot card", 1)):
            url = scratch.new("charging")
            migrate.upgrade(url)
            database = Database(get_settings().model_copy(update={"database_url": url}))
            set_database(database)
            try:
                imsis, key = arrange(database, cards)
                charging_run(database, imsis, key, THREADS * SLOTS * 4)  # warm: prepared statements, pool
                counted = {"n": 0}
                real = Tx._execute

                def counting(
                    tx: Tx, sql: str, params: dict[str, Any], real: Any = real, counted: Any = counted
                ) -> Any:
                    counted["n"] += 1
                    return real(tx, sql, params)

                Tx._execute = counting  # type: ignore[method-assign]
                try:
                    charging = charging_run(database, imsis, key, operations)
                finally:
                    Tx._execute = real  # type: ignore[method-assign]
                statements = counted["n"] / (operations // THREADS * THREADS)
                baseline = baseline_run(database, operations)
                with database.reading() as session:
                    report = ledger.verify(session)
                print(
                    f"{engine} {label}: {charging:.0f} charging ops/s, "
                    f"baseline {baseline:.0f} 2-statement tx/s "
                    f"(ratio {charging / baseline:.2f}); {statements:.1f} statements per op; "
                    f"ledger verify {'OK' if report.ok else 'FAILED'}",
                    flush=True,
                )
            finally:
                database.dispose()
                scratch.drop(url)
    finally:
        scratch.close()


if __name__ == "__main__":
    main()
