"""Who is calling the POS API: a dealer's till, proven by a signature over the exact request."""

from __future__ import annotations

from sqlalchemy.orm import Session

from roamcard.dealer import repository
from roamcard.dealer.repository import PosDealer
from roamcard.dealer.states import DealerStatus
from roamcard.errors import AppError, Unauthorized
from roamcard.kit.sql import Tx
from roamcard.reseller import auth as reseller_auth


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


REFUSALS = reseller_auth.Refusals(
    missing=PosAuthMissing,
    stale=PosTimestampInvalid,
    bad_signature=PosSignatureInvalid,
    replayed=PosRequestReplayed,
    log_as="pos",
)


def authenticate(
    db: Session | Tx, *, method: str, path: str, headers: dict[str, str | None], body: bytes
) -> PosDealer:
    """Verify the signature on the raw request and burn its nonce (reseller/auth.py). Commit the nonce
    whatever the request does next (a sale runs after it in a savepoint of the same transaction): a request
    that fails later must not become replayable. Returns the dealer, active or not (see `require_active`)."""
    return reseller_auth.verify(
        db, method=method, path=path, headers=headers, body=body, find=_find, refusals=REFUSALS
    )


def _find(tx: Tx, key_id: str) -> tuple[PosDealer, reseller_auth.Signer] | None:
    dealer = repository.dealer_by_api_key_id(tx, key_id)
    if dealer is None:
        return None
    return dealer, reseller_auth.Signer(dealer.public_id, dealer.api_key_id, dealer.api_secret_encrypted)


def require_active(dealer: PosDealer) -> PosDealer:
    """Checked after the nonce is committed, so a refused request stays burnt after a resume."""
    if dealer.status != DealerStatus.ACTIVE.value:
        raise DealerInactive()
    return dealer
