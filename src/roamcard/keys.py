"""One key per purpose, derived from ROAMCARD_SECRET_KEY, each with a key id so a secret can be rotated.

Never key two jobs with the same bytes: CSRF tokens, phone-code hashes, staff TOTP secrets, dealer API
secrets, message secrets and signed links each get their own key, derived with HKDF-SHA256 from the
master secret and the purpose's name. Every value made with a key carries that key's id, so after a
rotation (`ROAMCARD_SECRET_KEY` = the new secret, `ROAMCARD_SECRET_KEY_PREVIOUS` = the old one) what was
made under the old key is still read with it, and everything new is made under the new one.
docs/security.md, "Rotating the secret key", describes the procedure.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from roamcard.config import get_settings

# The purposes keys are derived for; a purpose outside this set is a programming error.
PURPOSES = frozenset(
    {
        "csrf",  # portal and back-office CSRF tokens
        "phone-code",  # keyed hashes of SMS verification codes
        "staff-totp",  # staff TOTP secrets at rest
        "dealer-api",  # dealer and partner API secrets at rest
        "message-secret",  # secrets inside SMS messages until they are sent
        "signed-link",  # single-use signed links (payment links, sandbox actions)
        "promo-code",  # keyed hashes of single-use promo codes
        "esim-confirmation",  # eSIM confirmation codes at rest (bound to the ICCID)
        "card-order-token",  # a card order's bearer token (a MAC of its id; only its hash is stored)
        "network-element",  # keyed hashes of network elements' charging API keys
    }
)


class UnknownKey(LookupError):
    """A value names a key id that is neither the current nor the previous key (rotated out, or forged)."""


@dataclass(frozen=True)
class PurposeKey:
    key_id: str
    secret: bytes


def _derive(master: bytes, info: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info.encode()).derive(master)


@lru_cache(maxsize=64)
def _keys_for(purpose: str, masters: tuple[bytes, ...]) -> tuple[PurposeKey, ...]:
    if purpose not in PURPOSES:
        raise ValueError(f"no key purpose named {purpose!r}")
    # The id names the master secret, not the purpose: one rotation moves every purpose together.
    return tuple(
        PurposeKey(
            key_id=_derive(master, "roamcard:key-id").hex()[:8],
            secret=_derive(master, f"roamcard:{purpose}"),
        )
        for master in masters
    )


def keys(purpose: str) -> tuple[PurposeKey, ...]:
    """The current key first, then the previous one during a rotation."""
    settings = get_settings()
    masters = [settings.secret_key.get_secret_value().encode()]
    if settings.secret_key_previous is not None:
        masters.append(settings.secret_key_previous.get_secret_value().encode())
    return _keys_for(purpose, tuple(masters))


def current(purpose: str) -> PurposeKey:
    return keys(purpose)[0]


def find(purpose: str, key_id: str) -> PurposeKey:
    for key in keys(purpose):
        if hmac.compare_digest(key.key_id, key_id):
            return key
    raise UnknownKey(key_id)


# -- keyed hashes and signatures: "<key id>:<hex HMAC-SHA256>" ---------------------------------------------
def mac(purpose: str, message: bytes, *, key: PurposeKey | None = None) -> str:
    key = key or current(purpose)
    return f"{key.key_id}:{hmac.new(key.secret, message, hashlib.sha256).hexdigest()}"


def verify_mac(purpose: str, message: bytes, tagged: str) -> bool:
    """Whether `tagged` is this message's MAC under the key it names (current or previous)."""
    key_id, _, _ = tagged.partition(":")
    try:
        key = find(purpose, key_id)
    except UnknownKey:
        return False
    return hmac.compare_digest(mac(purpose, message, key=key), tagged)


# -- encryption at rest: "<key id>.<base64url(nonce | AES-256-GCM ciphertext)>" ---------------------------
def encrypt(purpose: str, plaintext: str, *, context: bytes = b"") -> str:
    """`context` (a row id, say) is authenticated, so a ciphertext copied to another row does not open."""
    key = current(purpose)
    nonce = os.urandom(12)
    sealed = AESGCM(key.secret).encrypt(nonce, plaintext.encode(), context)
    return f"{key.key_id}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def decrypt(purpose: str, token: str, *, context: bytes = b"") -> str:
    """Raises UnknownKey for a rotated-out key and ValueError for anything tampered with."""
    key_id, _, body = token.partition(".")
    key = find(purpose, key_id)
    try:
        raw = base64.urlsafe_b64decode(body.encode())
        return AESGCM(key.secret).decrypt(raw[:12], raw[12:], context).decode()
    except Exception as exc:
        raise ValueError("ciphertext does not open with its key") from exc


__all__ = [
    "PURPOSES",
    "PurposeKey",
    "UnknownKey",
    "current",
    "decrypt",
    "encrypt",
    "find",
    "keys",
    "mac",
    "verify_mac",
]
