"""Single-use signed links.

A token is `<link id>.<key id>.<hex HMAC>`: the MAC (purpose key "signed-link", keys.py) covers the link
id, what the link is for (its purpose), what it acts on (its subject, a payment id) and its expiry, so a
forged or edited token is refused before anything is looked up, and a token made for one payment or one
purpose does not open another. The row in `signed_links` makes it single-use: `use` is a conditional
UPDATE, so of two parallel uses exactly one wins.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from roamcard import keys
from roamcard.errors import AppError
from roamcard.kit import clock
from roamcard.kit.clock import as_utc
from roamcard.kit.ids import new_id
from roamcard.kit.sql import Tx
from roamcard.lifecycle import as_tx
from roamcard.models import SignedLink

KEY_PURPOSE = "signed-link"
DIGEST_HEX = 32


class LinkInvalid(AppError):
    status_code = 403
    code = "link_invalid"
    message = "This link is not valid."


class LinkUsed(AppError):
    status_code = 410
    code = "link_used"
    message = "This link has already been used."


class LinkExpired(AppError):
    status_code = 410
    code = "link_expired"
    message = "This link has expired."


def _message(link_id: str, purpose: str, subject: str, expires_at: datetime) -> bytes:
    return f"{link_id}|{purpose}|{subject}|{int(as_utc(expires_at).timestamp())}".encode()


# Parameters named `link_…` (and `now`), so a caller can fold the row into a statement of its own.
INSERT_LINK = (
    "INSERT INTO signed_links (id, purpose, subject, expires_at, created_at) "
    "VALUES (:link_id, :link_purpose, :link_subject, :link_expires_at, :now)"
)


@dataclass(frozen=True)
class NewLink:
    token: str
    params: dict[str, Any]  # INSERT_LINK's, but `now`


def new_link(purpose: str, subject: str, expires_at: datetime) -> NewLink:
    """A link not written yet: its token, and the row for INSERT_LINK (`issue` writes it at once)."""
    link_id = new_id("lnk")
    return NewLink(
        token=f"{link_id}.{_tag(_message(link_id, purpose, subject, expires_at))}",
        params={
            "link_id": link_id,
            "link_purpose": purpose,
            "link_subject": subject,
            "link_expires_at": expires_at,
        },
    )


def issue(db: Session | Tx, purpose: str, subject: str, expires_at: datetime) -> str:
    """A new link's token (written in the caller's transaction)."""
    link = new_link(purpose, subject, expires_at)
    as_tx(db).run(INSERT_LINK, **link.params, now=clock.now())
    return link.token


def _tag(message: bytes, key_id: str | None = None) -> str:
    """`<key id>.<first 128 bits of the HMAC, hex>`: short enough for an SMS, long enough to forge never."""
    key = keys.find(KEY_PURPOSE, key_id) if key_id is not None else keys.current(KEY_PURPOSE)
    tagged = keys.mac(KEY_PURPOSE, message, key=key)
    found_id, _, digest = tagged.partition(":")
    return f"{found_id}.{digest[:DIGEST_HEX]}"


def check(session: Session, purpose: str, token: str, *, spent_ok: bool = False) -> SignedLink:
    """The link this token opens, without using it. Raises LinkInvalid, LinkUsed or LinkExpired
    (`spent_ok`: only LinkInvalid, to show what a used or expired link was for)."""
    if not token.isascii():
        raise LinkInvalid()
    link_id, _, tagged = token.partition(".")
    key_id, _, digest = tagged.partition(".")
    link = session.get(SignedLink, link_id) if link_id and key_id and digest else None
    if link is None or link.purpose != purpose:
        raise LinkInvalid()
    try:
        expected = _tag(_message(link.id, link.purpose, link.subject, link.expires_at), key_id)
    except keys.UnknownKey:
        raise LinkInvalid() from None
    if not hmac.compare_digest(expected, tagged):
        raise LinkInvalid()
    if spent_ok:
        return link
    if link.used_at is not None:
        raise LinkUsed()
    if as_utc(link.expires_at) <= clock.now():
        raise LinkExpired()
    return link


def use(session: Session, purpose: str, token: str) -> SignedLink:
    """Check the token and spend it, once: a second use (even a parallel one) raises LinkUsed."""
    link = check(session, purpose, token)
    now = clock.now()
    result = session.execute(
        update(SignedLink)
        .where(SignedLink.id == link.id, SignedLink.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise LinkUsed()
    session.refresh(link)
    return link
