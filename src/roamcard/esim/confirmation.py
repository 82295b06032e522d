"""Confirmation codes at rest: AES-GCM under the `esim-confirmation` purpose key, bound to the ICCID."""

from __future__ import annotations

from roamcard import keys

PURPOSE = "esim-confirmation"


def _context(iccid: str) -> bytes:
    return f"esim:{iccid}".encode()


def seal(iccid: str, confirmation_code: str) -> str:
    return keys.encrypt(PURPOSE, confirmation_code, context=_context(iccid))


def unseal(iccid: str, sealed: str) -> str:
    return keys.decrypt(PURPOSE, sealed, context=_context(iccid))


def is_current(sealed: str) -> bool:
    return sealed.partition(".")[0] == keys.current(PURPOSE).key_id
