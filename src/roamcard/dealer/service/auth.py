"""Who is calling the POS API: a dealer's till, proven by a signature over the exact request."""

from __future__ import annotations

from datetime import timedelta

import structlog
from sqlalchemy.orm import Session

from roamcard import keys
from roamcard.config import get_settings
from roamcard.dealer import repository, signing
from roamcard.dealer.repository import PosDealer
from roamcard.dealer.states import DealerStatus
from roamcard.errors import AppError, Unauthorized
from roamcard.kit import clock
from roamcard.kit.sql import Tx
from roamcard.lifecycle import as_tx

log = structlog.get_logger("roamcard.dealer")


class PosAuthMissing(Unauthorized):
    code = "pos_auth_missing"
    message = "Sign the request: Roamcard-Key, Roamcard-Timestamp, Roamcard-Nonce and Roamcard-Signature."


class PosTimestampInvalid(Unauthorized):
    code = "pos_timestamp_invalid"
    message = "The request timestamp is too far from the current time. Check the till's clock."


class PosSignatureInvalid(Unauthorized):
    code = "pos_signature_invalid"
    message = "The request signature is not valid."


class PosRequestReplayed(Unauthorized):
    code = "pos_request_replayed"
    message = "This request was already received. Sign every request with a new nonce."


class DealerInactive(AppError):
    status_code = 403
    code = "dealer_inactive"
    message = "This dealer account is suspended. Contact Roamcard."


_BURN_NONCE = (
    "INSERT INTO pos_nonces (dealer_id, nonce, seen_at) VALUES (:dealer_id, :nonce, :now) "
    "ON CONFLICT DO NOTHING RETURNING 1"
)


def authenticate(
    db: Session | Tx, *, method: str, path: str, headers: dict[str, str | None], body: bytes
) -> PosDealer:
    """Verify the signature on the raw request and burn its nonce. Commit the nonce whatever the request
    does next (a sale runs after it in a savepoint of the same transaction): a request that fails later
    must not become replayable. Returns the dealer, active or not (see `require_active`)."""
    key_id, stamp, nonce, given = (
        headers.get(name)
        for name in (
            signing.KEY_HEADER,
            signing.TIMESTAMP_HEADER,
            signing.NONCE_HEADER,
            signing.SIGNATURE_HEADER,
        )
    )
    if not (key_id and stamp and nonce and given) or not signing.NONCE.match(nonce):
        raise PosAuthMissing()
    if not stamp.isdigit() or len(stamp) > 12:
        raise PosTimestampInvalid()
    now = clock.now()
    window = get_settings().pos_signature_window_seconds
    if abs(int(now.timestamp()) - int(stamp)) > window:
        log.warning("pos.rejected", reason="timestamp", key_id=key_id[:40])
        raise PosTimestampInvalid()
    tx = as_tx(db)
    dealer = repository.dealer_by_api_key_id(tx, key_id[:40])
    if dealer is None or not signing.matches(_secret(dealer), method, path, stamp, nonce, body, given):
        log.warning("pos.rejected", reason="signature", key_id=key_id[:40])
        raise PosSignatureInvalid()
    if tx.one(_BURN_NONCE, dealer_id=dealer.id, nonce=nonce, now=now) is None:
        log.warning("pos.rejected", reason="replay", dealer=dealer.public_id)
        raise PosRequestReplayed()
    return dealer


def _secret(dealer: PosDealer) -> str:
    """The dealer's API secret; a random one (that no till has) when no configured key opens it."""
    try:
        return signing.unseal(dealer.api_key_id, dealer.api_secret_encrypted)
    except (keys.UnknownKey, ValueError):
        log.error("pos.secret_unreadable", dealer=dealer.public_id, hint="roamcard keys rotate")
        return signing.new_secret()


def require_active(dealer: PosDealer) -> PosDealer:
    """Checked after the nonce is committed, so a refused request stays burnt after a resume."""
    if dealer.status != DealerStatus.ACTIVE.value:
        raise DealerInactive()
    return dealer


def purge_old_nonces(session: Session) -> int:
    """A nonce only needs remembering while its timestamp is inside the window (both sides of now)."""
    window = get_settings().pos_signature_window_seconds
    return repository.purge_nonces_before(session, clock.now() - timedelta(seconds=2 * window + 60))
