"""Who is calling the partner API: a partner platform, proven by a signature over the exact request
(reseller/auth.py, the POS API's scheme), with a key that is current or still inside its rotation overlap;
then its status and its IP allow-list."""

from __future__ import annotations

import ipaddress

from sqlalchemy.orm import Session

from roamcard.errors import AppError, Unauthorized
from roamcard.kit.sql import Tx
from roamcard.partner import repository
from roamcard.partner.repository import ApiPartner
from roamcard.partner.states import PartnerStatus
from roamcard.reseller import auth as reseller_auth


class PartnerAuthMissing(Unauthorized):
    code = "partner_auth_missing"
    message = "Sign the request: Roamcard-Key, Roamcard-Timestamp, Roamcard-Nonce and Roamcard-Signature."


class PartnerTimestampInvalid(Unauthorized):
    code = "partner_timestamp_invalid"
    message = "The request timestamp is too far from the current time. Check your server's clock."


class PartnerSignatureInvalid(Unauthorized):
    code = "partner_signature_invalid"
    message = "The request signature is not valid, or the API key is unknown or expired."


class PartnerRequestReplayed(Unauthorized):
    code = "partner_request_replayed"
    message = "This request was already received. Sign every request with a new nonce."


class PartnerInactive(AppError):
    status_code = 403
    code = "partner_inactive"
    message = "This partner account is suspended. Contact Roamcard."


class PartnerAddressRefused(AppError):
    status_code = 403
    code = "partner_ip_not_allowed"
    message = "Requests from this address are not allowed for this partner account."


REFUSALS = reseller_auth.Refusals(
    missing=PartnerAuthMissing,
    stale=PartnerTimestampInvalid,
    bad_signature=PartnerSignatureInvalid,
    replayed=PartnerRequestReplayed,
    log_as="partner",
)


def authenticate(
    db: Session | Tx, *, method: str, path: str, headers: dict[str, str | None], body: bytes
) -> ApiPartner:
    """Verify the signature and burn the nonce (to be committed whatever follows). Returns the partner,
    allowed or not (see `require_allowed`)."""
    return reseller_auth.verify(
        db, method=method, path=path, headers=headers, body=body, find=_find, refusals=REFUSALS
    )


def _find(tx: Tx, key_id: str) -> tuple[ApiPartner, reseller_auth.Signer] | None:
    """The key's partner; the key verifies while current, or rotated out less than its overlap ago."""
    found = repository.partner_by_api_key_id(tx, key_id)
    if found is None:
        return None
    signer = reseller_auth.Signer(found.public_id, key_id, found.api_secret_encrypted, found.key_expires_at)
    return found, signer


def require_allowed(partner: ApiPartner, client_ip: str | None) -> ApiPartner:
    """Checked after the nonce is committed, so a refused request stays burnt."""
    if partner.status != PartnerStatus.ACTIVE.value:
        raise PartnerInactive()
    if partner.allowed_cidrs:
        try:
            address = ipaddress.ip_address(client_ip or "")
        except ValueError:
            raise PartnerAddressRefused() from None
        if not any(address in ipaddress.ip_network(cidr) for cidr in partner.allowed_cidrs):
            raise PartnerAddressRefused()
    return partner
