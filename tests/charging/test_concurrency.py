"""Parallel sessions of one card never grant more than the card has, on both engines, and the ledger stays
verifiable; random interleavings of create, update, release and the sweeper keep every invariant."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roamcard.charging.schemas import ChargingDataRequest
from roamcard.charging.service import network_elements, sessions
from roamcard.db import Database
from roamcard.jobs.sweepers import void_lapsed_reservations
from roamcard.kit import clock
from roamcard.ledger.assets import Asset
from tests.charging.helpers import (
    DATA,
    GIB,
    MIB,
    US,
    VOICE,
    ask,
    available,
    charging_request,
    credit_balance,
    give_pack,
    subscriber,
    verify_ok,
)


def _element(database: Database, name: str) -> int:
    with database.tx() as tx:
        key = network_elements.create(tx, name).key
        return network_elements.authenticate(tx, f"Bearer {key}")


def _create(database: Database, element_id: int, body: dict[str, Any]) -> sessions.Answer:
    with database.tx() as tx:
        return sessions.create(tx, element_id, ChargingDataRequest.model_validate(body))


def _granted(answer: sessions.Answer, field: str) -> int:
    assert answer.body is not None
    return sum(
        int((u.get("grantedUnit") or {}).get(field, 0)) for u in answer.body["multipleUnitInformation"]
    )


class TestParallelSessions:
    def test_64_parallel_sessions_against_1_gb_never_grant_more_than_1_gb(self, database: Database):
        sub = subscriber(database)
        give_pack(database, sub.card_id, Asset.DATA_BYTES, GIB, product_id="data-1gb-7d", days=7, key="gb")
        element_id = _element(database, "pgw-race")
        start = threading.Barrier(16)

        def open_one(index: int) -> int:
            if index < 16:
                start.wait()
            body = charging_request(1, imsi=sub.imsi, units=[ask(DATA, "totalVolume", 20 * MIB)], plmn=US)
            return _granted(_create(database, element_id, body), "totalVolume")

        with ThreadPoolExecutor(max_workers=16) as pool:
            grants = list(pool.map(open_one, range(64)))
        assert sum(grants) <= GIB
        assert sum(grants) == GIB  # 64 x 20 MiB asked: every byte is granted once, none twice
        assert available(database, sub.card_id)["DATA_BYTES"] == 0
        verify_ok(database)

    def test_parallel_sessions_on_the_balance_never_hold_more_than_it(self, database: Database):
        sub = subscriber(database)
        credit_balance(database, sub.card_id, 1000, "seed")  # 40 minutes at 25 cents
        element_id = _element(database, "ims-race")

        def open_one(_index: int) -> int:
            body = charging_request(1, imsi=sub.imsi, units=[ask(VOICE, "time", 300)], plmn=US)
            return _granted(_create(database, element_id, body), "time")

        with ThreadPoolExecutor(max_workers=16) as pool:
            grants = list(pool.map(open_one, range(32)))
        assert sum(grants) == 40 * 60
        assert available(database, sub.card_id)["USD"] == 0
        verify_ok(database)


_names = itertools.count()
operation = st.one_of(
    st.tuples(st.just("create"), st.integers(0, 60 * MIB)),
    st.tuples(st.just("update"), st.integers(0, 7), st.integers(0, 60 * MIB), st.integers(0, 60 * MIB)),
    st.tuples(st.just("release"), st.integers(0, 7), st.integers(0, 60 * MIB)),
    st.tuples(st.just("lapse"), st.integers(1, 700)),
)


class TestRandomInterleavings:
    @settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(operation, min_size=1, max_size=20))
    def test_no_interleaving_spends_more_than_the_card_has(self, database: Database, operations: list[Any]):
        frozen = clock.FrozenClock()
        clock.set_clock(frozen)
        try:
            sub = subscriber(database, catalog=next(_names) == 0)
            give_pack(
                database,
                sub.card_id,
                Asset.DATA_BYTES,
                100 * MIB,
                product_id="data-1gb-7d",
                days=7,
                key=f"p{sub.card_id}",
            )
            credit_balance(database, sub.card_id, 60, f"seed{sub.card_id}")  # 30 MiB at 2 cents
            element_id = _element(database, f"pgw-{sub.card_id}")
            refs: list[str] = []
            seq: dict[str, int] = {}
            for op in operations:
                if op[0] == "create":
                    body = charging_request(
                        1, imsi=sub.imsi, units=[ask(DATA, "totalVolume", op[1] or None)], plmn=US
                    )
                    answer = _create(database, element_id, body)
                    refs.append(answer.ref)
                    seq[answer.ref] = 1
                elif op[0] in ("update", "release") and refs:
                    ref = refs[op[1] % len(refs)]
                    seq[ref] += 1
                    used = op[-1]
                    units = [ask(DATA, "totalVolume", op[2] if op[0] == "update" else None, used=used)]
                    body = charging_request(seq[ref], units=units)
                    try:
                        with database.tx() as tx:
                            call = sessions.update if op[0] == "update" else sessions.release
                            call(tx, element_id, ref, ChargingDataRequest.model_validate(body))
                    except sessions.ChargingDataNotFound:
                        pass  # released already
                elif op[0] == "lapse":
                    frozen.advance(seconds=op[1])
                    void_lapsed_reservations(database)
                left = available(database, sub.card_id)
                assert left.get("DATA_BYTES", 0) >= 0
                assert left.get("USD", 0) >= 0
            verify_ok(database)
        finally:
            clock.reset_clock()
