"""A small SMSC for the tests, on smpplib's PDU classes and a local port: binds, answers submit_sm with
message ids, sends delivery receipts, answers query_sm, and can refuse binds for a while or drop the
connection in the middle of a batch (before taking the submit_sm it just read)."""

from __future__ import annotations

import contextlib
import itertools
import socket
import struct
import threading
from dataclasses import dataclass, field
from typing import Any

from smpplib import consts, smpp

SYSTEM_ID = "roamcard"
PASSWORD = "smpp-pw"


class _Sequences:
    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self.sequence = 0

    def next_sequence(self) -> int:
        self.sequence = next(self._counter)
        return self.sequence


@dataclass
class Accepted:
    message_id: str
    destination: str
    short_message: bytes
    data_coding: int
    esm_class: int


@dataclass
class FakeSmsc:
    refuse_binds: int = 0  # refuse this many binds first
    drop_at_submit: int | None = None  # drop the connection when this many submit_sm have been read (once)
    receipts: bool = True
    supports_query: bool = True
    accepted: list[Accepted] = field(default_factory=list)
    binds: int = 0
    refused: int = 0
    receipts_acknowledged: int = 0
    enquire_links: int = 0
    submits_read: int = 0
    changed: threading.Condition = field(default_factory=threading.Condition)
    _ids: Any = field(default_factory=lambda: itertools.count(0xA000))
    # Receipts sent and not acknowledged are sent again on the next bind, as SMSCs do.
    unacknowledged: dict[str, Accepted] = field(default_factory=dict)
    _receipt_sequences: dict[int, str] = field(default_factory=dict)
    _sequences: _Sequences = field(default_factory=_Sequences)
    _connections: list[socket.socket] = field(default_factory=list)

    def start(self) -> int:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()
        return int(self.listener.getsockname()[1])

    def stop(self) -> None:
        self.running = False
        self.listener.close()
        for conn in self._connections:
            with contextlib.suppress(OSError):
                conn.close()

    def wait_for(self, predicate: Any, timeout: float = 20.0) -> bool:
        with self.changed:
            return self.changed.wait_for(predicate, timeout)

    # -- the wire ------------------------------------------------------------------------------
    def _accept(self) -> None:
        while self.running:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self._connections.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _read(conn: socket.socket) -> Any | None:
        header = b""
        while len(header) < 4:
            chunk = conn.recv(4 - len(header))
            if not chunk:
                return None
            header += chunk
        (length,) = struct.unpack(">L", header)
        body = b""
        while len(body) < length - 4:
            chunk = conn.recv(length - 4 - len(body))
            if not chunk:
                return None
            body += chunk
        return smpp.parse_pdu(header + body, client=_Sequences(), allow_unknown_opt_params=True)

    def _serve(self, conn: socket.socket) -> None:
        sequences = self._sequences
        write_lock = threading.Lock()

        def send(pdu: Any) -> None:
            with write_lock:
                conn.sendall(pdu.generate())

        try:
            while True:
                pdu = self._read(conn)
                if pdu is None:
                    return
                if not self._answer(pdu, send, sequences, conn):
                    return
        except OSError:
            return
        finally:
            conn.close()
            with self.changed:
                self.changed.notify_all()

    def _answer(self, pdu: Any, send: Any, sequences: _Sequences, conn: socket.socket) -> bool:
        command = pdu.command
        if command == "bind_transceiver":
            ok = pdu.system_id in (SYSTEM_ID, SYSTEM_ID.encode()) and pdu.password in (
                PASSWORD,
                PASSWORD.encode(),
            )
            if self.refuse_binds > 0:
                self.refuse_binds -= 1
                ok = False
                with self.changed:
                    self.refused += 1
                    self.changed.notify_all()
            reply = smpp.make_pdu(
                "bind_transceiver_resp",
                client=sequences,
                system_id="testsmsc",
                status=consts.SMPP_ESME_ROK if ok else consts.SMPP_ESME_RBINDFAIL,
            )
            reply.sequence = pdu.sequence
            send(reply)
            if ok:
                with self.changed:
                    self.binds += 1
                    again = list(self.unacknowledged.values())
                    self.changed.notify_all()
                for accepted in again:
                    self._receipt(accepted, send, sequences)
            return ok
        if command == "submit_sm":
            with self.changed:
                self.submits_read += 1
                drop = self.drop_at_submit is not None and self.submits_read >= self.drop_at_submit
                if drop:
                    self.drop_at_submit = None
            if drop:
                conn.shutdown(socket.SHUT_RDWR)  # gone before taking it
                return False
            message_id = f"{next(self._ids):X}"
            destination = (
                pdu.destination_addr.decode()
                if isinstance(pdu.destination_addr, bytes)
                else pdu.destination_addr
            )
            accepted = Accepted(
                message_id, destination, pdu.short_message, int(pdu.data_coding), int(pdu.esm_class)
            )
            with self.changed:  # recorded before the answer, so a caller never sees an id it cannot find
                self.accepted.append(accepted)
                self.changed.notify_all()
            reply = smpp.make_pdu("submit_sm_resp", client=sequences, message_id=message_id)
            reply.sequence = pdu.sequence
            send(reply)
            if self.receipts:
                self._receipt(accepted, send, sequences)
            return True
        if command == "deliver_sm_resp":
            with self.changed:
                message_id = self._receipt_sequences.pop(pdu.sequence, None)
                if message_id is not None and int(pdu.status) == consts.SMPP_ESME_ROK:
                    self.unacknowledged.pop(message_id, None)
                    self.receipts_acknowledged += 1
                self.changed.notify_all()
            return True
        if command == "enquire_link":
            reply = smpp.make_pdu("enquire_link_resp", client=sequences)
            reply.sequence = pdu.sequence
            send(reply)
            with self.changed:
                self.enquire_links += 1
            return True
        if command == "query_sm":
            if not self.supports_query:
                reply = smpp.make_pdu("generic_nack", client=sequences, status=consts.SMPP_ESME_RINVCMDID)
            else:
                wanted = pdu.message_id.decode() if isinstance(pdu.message_id, bytes) else pdu.message_id
                known = any(a.message_id == wanted for a in self.accepted)
                reply = smpp.make_pdu(
                    "query_sm_resp",
                    client=sequences,
                    message_id=wanted,
                    final_date="",
                    message_state=2 if known else 7,
                    error_code=0,
                    status=consts.SMPP_ESME_ROK if known else consts.SMPP_ESME_RQUERYFAIL,
                )
            reply.sequence = pdu.sequence
            send(reply)
            return True
        if command == "unbind":
            reply = smpp.make_pdu("unbind_resp", client=sequences)
            reply.sequence = pdu.sequence
            send(reply)
            return False
        return True

    def _receipt(self, accepted: Accepted, send: Any, sequences: _Sequences) -> None:
        text = (
            f"id:{accepted.message_id} sub:001 dlvrd:001 submit date:2612011000 done date:2612011001 "
            "stat:DELIVRD err:000 text:"
        )
        receipt = smpp.make_pdu(
            "deliver_sm",
            client=sequences,
            service_type="",
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr=accepted.destination,
            dest_addr_ton=5,
            dest_addr_npi=0,
            destination_addr="Roamcard",
            esm_class=0x04,
            protocol_id=0,
            priority_flag=0,
            schedule_delivery_time="",
            validity_period="",
            registered_delivery=0,
            replace_if_present_flag=0,
            data_coding=0,
            sm_default_msg_id=0,
            short_message=text.encode(),
        )
        with self.changed:
            self.unacknowledged[accepted.message_id] = accepted
            self._receipt_sequences[receipt.sequence] = accepted.message_id
        send(receipt)
