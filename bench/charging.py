#!/usr/bin/env python3
"""Charging operations per second (not a test): create → update → release with 64 sessions open at once.

    PYTHONPATH=src:. .venv/bin/python bench/charging.py postgresql 6000
    PYTHONPATH=src:. .venv/bin/python bench/charging.py sqlite 3000

In this process, on a fresh scratch database (bench/scratch.py), through the service layer each endpoint
calls (`database.tx()` + `charging.service.sessions`: key check, claim, card lock, settle, reserve, answer;
no HTTP): THREADS threads each keep SLOTS sessions open, so 64 sessions are in flight; each step advances
one session (create with a data request, then UPDATES updates each reporting what was used and asking
again, then a release). Two variants: the sessions spread over 64 cards, and a hot card (64 sessions on one
card, which its row lock serialises on PostgreSQL). The baseline, in the same run and threads: the same
number of 2-statement transactions through the driver (`database.tx()`: one SELECT and one UPDATE of the
thread's own row). Printed: operations per second, the ratio to the baseline, lean statements per
operation, then `roamcard ledger verify`.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

os.environ.setdefault("ROAMCARD_ENVIRONMENT", "test")
os.environ.setdefault("ROAMCARD_LOG_LEVEL", "WARNING")
os.environ.setdefault("ROAMCARD_PUBLIC_BASE_URL", "http://testserver")

from bench.scratch import ScratchDatabases
from sqlalchemy import text, update
from tests.factories import make_card, make_catalog, make_esim_profiles

from roamcard import migrate, wiring  # noqa: F401
from roamcard.charging.schemas import ChargingDataRequest
from roamcard.charging.service import network_elements, sessions
from roamcard.config import get_settings
from roamcard.db import Database, set_database
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


def main() -> None:
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
