"""SMPP 3.4 to a carrier's or aggregator's SMSC, on `smpplib`'s client and PDU classes.

One long-lived bind_transceiver session per worker process, run by a sender thread of its own, outside
any database transaction: it connects (TLS when ROAMCARD_SMPP_TLS), binds, keeps the link alive with
enquire_link, reconnects with exponential backoff, and keeps at most ROAMCARD_SMPP_WINDOW submit_sm
unanswered. A job's `send` hands the message to the sender and waits for its submit_sm_resp:

* every part answered with an id: taken (`sent`), and the receipt is awaited;
* an error status: certain (throttling and a full queue are "not taken", anything else a refusal);
* the session lost after a submit_sm went out and before its answer: uncertain (`unknown`);
* never written (not bound in time): not taken, so the next provider may carry it.

Texts go as GSM 03.38 (data_coding 0) or UCS-2 (data_coding 8), long ones in parts with a concatenation
UDH. Delivery receipts (deliver_sm with the receipt esm_class) are matched by message id, from the
receipted_message_id TLV or the receipt text. An unknown message is settled with query_sm when the SMSC
answers it, otherwise by its receipt or, after ROAMCARD_SMPP_RECEIPT_WINDOW_SECONDS without one, as not
taken.
"""

from __future__ import annotations

import contextlib
import re
import select
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from smpplib import consts, exceptions, smpp
from smpplib.client import Client

from roamcard.config import get_settings
from roamcard.kit import clock
from roamcard.notification.providers.base import (
    Lookup,
    OutgoingSms,
    Report,
    SmsNotAccepted,
    SmsRejected,
    SmsUncertain,
)
from roamcard.notification.sms import encode

log = structlog.get_logger("roamcard.sms.smpp")

RECEIPT_ESM_MASK = 0x3C
RECEIPT_ESM = 0x04  # SMSC delivery receipt
NOT_TAKEN_STATUSES = frozenset({consts.SMPP_ESME_RTHROTTLED, consts.SMPP_ESME_RMSGQFUL})
# query_sm message_state (SMPP 3.4 §5.2.28)
MESSAGE_STATES: dict[int, tuple[str, str | None]] = {
    1: ("accepted", None),  # ENROUTE
    2: ("delivered", None),
    3: ("failed", "EXPIRED"),
    4: ("failed", "DELETED"),
    5: ("failed", "UNDELIV"),
    6: ("accepted", None),  # ACCEPTED
    7: ("pending", None),  # UNKNOWN
    8: ("failed", "REJECTD"),
}
RECEIPT_STATS = {
    "DELIVRD": "delivered",
    "EXPIRED": "failed",
    "DELETED": "failed",
    "UNDELIV": "failed",
    "REJECTD": "failed",
    "ACCEPTD": "accepted",
    "ENROUTE": "accepted",
    "UNKNOWN": "pending",
}
_RECEIPT_FIELD = re.compile(r"(id|stat|err):(\S+)", re.IGNORECASE)

ReceiptHandler = Callable[[str, Report, str], None]  # (message id, report, destination E.164)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("ascii", "replace").rstrip("\x00")
    return "" if value is None else str(value)


def parse_receipt(pdu: Any) -> tuple[str, Report] | None:
    """The message id and what a deliver_sm receipt says, or None when it is not a receipt."""
    if (int(pdu.esm_class or 0) & RECEIPT_ESM_MASK) != RECEIPT_ESM:
        return None
    fields = {name.lower(): value for name, value in _RECEIPT_FIELD.findall(_text(pdu.short_message))}
    message_id = _text(getattr(pdu, "receipted_message_id", None)) or fields.get("id", "")
    stat = fields.get("stat", "UNKNOWN").upper()
    state = getattr(pdu, "message_state", None)
    if state in MESSAGE_STATES:
        kind, code = MESSAGE_STATES[int(state)]
    else:
        kind, code = (
            RECEIPT_STATS.get(stat, "pending"),
            (stat if RECEIPT_STATS.get(stat) == "failed" else None),
        )
    error = fields.get("err")
    if kind == "failed" and error and error.strip("0"):
        code = f"{code or stat}:{error}"
    if not message_id:
        return None
    return message_id, Report(kind, message_id, code)  # type: ignore[arg-type]


@dataclass
class _Submission:
    message: OutgoingSms
    parts: list[dict[str, Any]]
    written: int = 0
    ids: list[str | None] = field(default_factory=list)
    outcome: tuple[str, str] | None = None  # ("accepted", id) | ("rejected"|"not_accepted"|"uncertain", code)
    cancelled: bool = False
    done: threading.Event = field(default_factory=threading.Event)

    def finish(self, kind: str, value: str) -> None:
        if self.outcome is None:
            self.outcome = (kind, value)
            self.done.set()


class SmppProvider:
    name = "smpp"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        system_id: str,
        password: str,
        system_type: str = "",
        source_addr: str,
        source_addr_ton: int = 5,
        source_addr_npi: int = 0,
        tls: bool = False,
        tls_context: ssl.SSLContext | None = None,
        window: int = 10,
        enquire_link_seconds: float = 30.0,
        timeout_seconds: float = 10.0,
        receipt_window_seconds: int = 3600,
        backoff_initial_seconds: float = 1.0,
        backoff_max_seconds: float = 60.0,
        on_receipt: ReceiptHandler | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.system_id, self.password, self.system_type = system_id, password, system_type
        self.source = {
            "source_addr": source_addr,
            "source_addr_ton": source_addr_ton,
            "source_addr_npi": source_addr_npi,
        }
        self.tls_context = tls_context or (ssl.create_default_context() if tls else None)
        self.window = max(1, window)
        self.enquire_link_seconds = enquire_link_seconds
        self.timeout_seconds = timeout_seconds
        self.receipt_window = timedelta(seconds=receipt_window_seconds)
        self.backoff_initial, self.backoff_max = backoff_initial_seconds, backoff_max_seconds
        self.on_receipt = on_receipt
        self.query_supported = True
        self.binds = 0  # sessions bound so far (reconnects show as more than one)
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._queue: deque[_Submission] = deque()
        self._inflight: dict[int, tuple[_Submission, int]] = {}
        self._queries: dict[int, tuple[threading.Event, list[Any]]] = {}
        self._part_ids: dict[str, str] = {}  # any part's id -> the message's (first part's) id
        self._client: Client | None = None
        self._bound = threading.Event()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._reference = 0

    @classmethod
    def from_settings(cls, on_receipt: ReceiptHandler | None = None) -> SmppProvider:
        settings = get_settings()
        if not (
            settings.smpp_host
            and settings.smpp_system_id
            and settings.smpp_password
            and settings.smpp_source_addr
        ):
            raise ValueError(
                "SMPP needs ROAMCARD_SMPP_HOST, ROAMCARD_SMPP_SYSTEM_ID, ROAMCARD_SMPP_PASSWORD and "
                "ROAMCARD_SMPP_SOURCE_ADDR"
            )
        return cls(
            host=settings.smpp_host,
            port=settings.smpp_port,
            system_id=settings.smpp_system_id,
            password=settings.smpp_password.get_secret_value(),
            system_type=settings.smpp_system_type,
            source_addr=settings.smpp_source_addr,
            source_addr_ton=settings.smpp_source_addr_ton,
            source_addr_npi=settings.smpp_source_addr_npi,
            tls=settings.smpp_tls,
            window=settings.smpp_window,
            enquire_link_seconds=settings.smpp_enquire_link_seconds,
            timeout_seconds=settings.sms_timeout_seconds,
            receipt_window_seconds=settings.smpp_receipt_window_seconds,
            on_receipt=on_receipt,
        )

    # -- the interface --------------------------------------------------------------------------
    def send(self, message: OutgoingSms) -> str:
        self.start()
        with self._lock:
            self._reference = (self._reference + 1) % 256
            encoded = encode(message.text, self._reference)
        parts = [
            {
                "short_message": part,
                "data_coding": encoded.data_coding,
                "esm_class": encoded.esm_class,
                "registered_delivery": 1,  # a receipt for every part
            }
            for part in encoded.parts
        ]
        submission = _Submission(message, parts, ids=[None] * len(parts))
        with self._lock:
            self._queue.append(submission)
        self._wake.set()
        if not submission.done.wait(self.timeout_seconds):
            with self._lock:
                if submission.outcome is None:
                    submission.cancelled = True
                    if submission.written == 0:
                        if submission in self._queue:
                            self._queue.remove(submission)
                        submission.finish("not_accepted", "not_bound")
                    else:
                        submission.finish("uncertain", "timeout")
        assert submission.outcome is not None
        kind, value = submission.outcome
        if kind == "accepted":
            return value
        if kind == "rejected":
            raise SmsRejected(value)
        if kind == "not_accepted":
            raise SmsNotAccepted(value)
        raise SmsUncertain(value)

    def query(self, lookup: Lookup) -> Report:
        if lookup.provider_reference and self.query_supported and self._bound.is_set():
            answer = self._query_sm(lookup.provider_reference)
            if answer is not None:
                return answer
        waited = clock.now() - lookup.attempt_started_at
        if lookup.unknown and lookup.provider_reference is None and waited >= self.receipt_window:
            return Report("not_accepted")  # no receipt in the window: the SMSC never took it
        return Report("pending", lookup.provider_reference)

    # -- the sender thread ----------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="smpp-sender", daemon=True)
                self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def wait_bound(self, timeout: float) -> bool:
        return self._bound.wait(timeout)

    def _run(self) -> None:
        backoff = self.backoff_initial
        while not self._stop.is_set():
            client = Client(
                self.host,
                self.port,
                timeout=max(1.0, self.timeout_seconds),
                ssl_context=self.tls_context,
                allow_unknown_opt_params=True,
            )
            try:
                client.connect()
                client.bind_transceiver(
                    system_id=self.system_id, password=self.password, system_type=self.system_type
                )
            except (exceptions.ConnectionError, exceptions.PDUError, OSError) as exc:
                log.warning("smpp.bind_failed", host=self.host, error=str(exc), retry_in=backoff)
                self._drop(client)
                self._stop.wait(backoff)
                backoff = min(self.backoff_max, backoff * 2)
                continue
            backoff = self.backoff_initial
            self._client = client
            self.binds += 1
            self._bound.set()
            log.info("smpp.bound", host=self.host, system_id=self.system_id)
            try:
                self._session(client)
            except (exceptions.ConnectionError, exceptions.PDUError, OSError, ValueError) as exc:
                log.warning("smpp.session_lost", error=str(exc))
            finally:
                self._bound.clear()
                self._client = None
                self._lost()
                self._drop(client)
        self._bound.clear()

    def _session(self, client: Client) -> None:
        last_heard = time.monotonic()
        enquire_sent: float | None = None
        while not self._stop.is_set():
            self._write_pending(client)
            sock = client._socket
            if sock is None:
                raise exceptions.ConnectionError("socket closed")
            pending = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
            readable = pending or bool(select.select([sock], [], [], 0.05)[0])
            if readable:
                self._handle(client, client.read_pdu())
                last_heard, enquire_sent = time.monotonic(), None
                continue
            idle = time.monotonic() - last_heard
            if enquire_sent is not None and time.monotonic() - enquire_sent > self.enquire_link_seconds:
                raise exceptions.ConnectionError("no enquire_link_resp")
            if enquire_sent is None and idle >= self.enquire_link_seconds:
                with self._write_lock:
                    client.send_pdu(smpp.make_pdu("enquire_link", client=client))
                enquire_sent = time.monotonic()
        with self._write_lock, contextlib.suppress(exceptions.ConnectionError, exceptions.PDUError, OSError):
            client.send_pdu(smpp.make_pdu("unbind", client=client))

    def _write_pending(self, client: Client) -> None:
        while True:
            with self._lock:
                if len(self._inflight) >= self.window:
                    return
                while self._queue and (
                    self._queue[0].cancelled or self._queue[0].written >= len(self._queue[0].parts)
                ):
                    self._queue.popleft()
                if not self._queue:
                    return
                submission = self._queue[0]
                index = submission.written
                pdu = smpp.make_pdu(
                    "submit_sm",
                    client=client,
                    service_type="",
                    dest_addr_ton=consts.SMPP_TON_INTL,
                    dest_addr_npi=consts.SMPP_NPI_ISDN,
                    destination_addr=submission.message.phone.lstrip("+"),
                    **self.source,
                    **submission.parts[index],
                )
                self._inflight[pdu.sequence] = (submission, index)
                submission.written += 1
            with self._write_lock:
                client.send_pdu(pdu)

    def _handle(self, client: Client, pdu: Any) -> None:
        command = pdu.command
        if command in ("submit_sm_resp", "generic_nack"):
            with self._lock:
                entry = self._inflight.pop(pdu.sequence, None)
            if entry is not None:
                self._answered(
                    entry[0], entry[1], int(pdu.status or 0), _text(getattr(pdu, "message_id", None))
                )
            elif command == "generic_nack":
                self._query_answered(pdu)
        elif command == "deliver_sm":
            receipt = parse_receipt(pdu)
            reply = smpp.make_pdu("deliver_sm_resp", client=client, status=consts.SMPP_ESME_ROK)
            reply.sequence = pdu.sequence
            if receipt is not None and self.on_receipt is not None:
                message_id, report = receipt
                with self._lock:
                    first = self._part_ids.get(message_id, message_id)
                try:
                    self.on_receipt(
                        first, Report(report.state, first, report.error_code), "+" + _text(pdu.source_addr)
                    )
                except Exception:
                    log.exception("smpp.receipt_not_recorded", message_id=message_id)
                    reply.status = consts.SMPP_ESME_RSYSERR  # not recorded: the SMSC sends it again
            with self._write_lock:
                client.send_pdu(reply)
        elif command == "enquire_link":
            reply = smpp.make_pdu("enquire_link_resp", client=client)
            reply.sequence = pdu.sequence
            with self._write_lock:
                client.send_pdu(reply)
        elif command == "query_sm_resp":
            self._query_answered(pdu)
        elif command == "unbind":
            reply = smpp.make_pdu("unbind_resp", client=client)
            reply.sequence = pdu.sequence
            with self._write_lock:
                client.send_pdu(reply)
            raise exceptions.ConnectionError("the SMSC unbound")

    def _answered(self, submission: _Submission, index: int, status: int, message_id: str) -> None:
        with self._lock:
            if status == consts.SMPP_ESME_ROK and message_id:
                submission.ids[index] = message_id
                if all(submission.ids):
                    first = submission.ids[0]
                    assert first is not None
                    for part_id in submission.ids:
                        if part_id:
                            self._part_ids[part_id] = first
                    submission.finish("accepted", first)
                return
            code = f"smpp_{status:#04x}"
            if status in NOT_TAKEN_STATUSES and not any(submission.ids):
                submission.finish("not_accepted", code)
            else:
                submission.finish("rejected", code)
            submission.cancelled = True

    def _lost(self) -> None:
        """The session is gone: what went out unanswered is uncertain; what never went out waits."""
        with self._lock:
            for submission, _ in list(self._inflight.values()):
                submission.cancelled = True
                submission.finish("uncertain", "session_lost")
            self._inflight.clear()
            for submission in list(self._queue):
                if submission.written:
                    submission.cancelled = True
                    submission.finish("uncertain", "session_lost")
            for event, answer in self._queries.values():
                answer.append(None)
                event.set()
            self._queries.clear()

    def _drop(self, client: Client) -> None:
        sock = client._socket
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
            client._socket = None
        client.state = consts.SMPP_CLIENT_STATE_CLOSED

    # -- query_sm -------------------------------------------------------------------------------
    def _query_sm(self, message_id: str) -> Report | None:
        client = self._client
        if client is None:
            return None
        event = threading.Event()
        answer: list[Any] = []
        pdu = smpp.make_pdu("query_sm", client=client, message_id=message_id, **self.source)
        with self._lock:
            self._queries[pdu.sequence] = (event, answer)
        try:
            with self._write_lock:
                client.send_pdu(pdu)
        except (exceptions.ConnectionError, exceptions.PDUError, OSError):
            return None
        if not event.wait(self.timeout_seconds) or not answer or answer[0] is None:
            return None
        reply = answer[0]
        if reply.command == "generic_nack" or int(reply.status or 0) == consts.SMPP_ESME_RINVCMDID:
            self.query_supported = False
            return None
        if int(reply.status or 0) != consts.SMPP_ESME_ROK:
            return None
        kind, code = MESSAGE_STATES.get(int(reply.message_state or 7), ("pending", None))
        return Report(kind, message_id, code)  # type: ignore[arg-type]

    def _query_answered(self, pdu: Any) -> None:
        with self._lock:
            entry = self._queries.pop(pdu.sequence, None)
        if entry is not None:
            entry[1].append(pdu)
            entry[0].set()
