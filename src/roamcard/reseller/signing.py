"""Signed API requests (HMAC-SHA256), the caller's side and ours: the dealer POS API and the partner API
sign exactly alike, and our partner callbacks are signed the same way.

A caller (a dealer's till, a partner platform) signs every request with its API secret over the method,
the path with its query string exactly as sent, a Unix timestamp, a nonce and the SHA-256 of the raw body:

    Roamcard-Key: <api key id>
    Roamcard-Timestamp: <unix seconds>
    Roamcard-Nonce: <16-64 letters, digits, '-' or '_', new for every request>
    Roamcard-Signature: v1=<hex HMAC-SHA256(secret, message)>

    message = METHOD \\n PATH?QUERY \\n TIMESTAMP \\n NONCE \\n hex(SHA-256(raw body))

We refuse timestamps more than `pos_signature_window_seconds` away from our clock and any nonce seen
before (reseller/auth.py), so a captured request cannot be replayed; a retry is a new request with a new
nonce, made safe by the caller's `external_id`.

The API secret is random (256 bits), shown once when the dealer or partner (or a new key) is created, and
stored encrypted under the "dealer-api" purpose key (keys.py: dealer and partner API secrets), bound to
its key id: the database alone never yields it, and a rotation of ROAMCARD_SECRET_KEY keeps every caller
working (`roamcard keys rotate` re-encrypts the stored secrets under the new key; docs/security.md).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from roamcard import keys

VERSION = "v1"
NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
KEY_HEADER = "Roamcard-Key"
TIMESTAMP_HEADER = "Roamcard-Timestamp"
NONCE_HEADER = "Roamcard-Nonce"
SIGNATURE_HEADER = "Roamcard-Signature"


PURPOSE = "dealer-api"


def new_secret() -> str:
    return "rcs_" + secrets.token_urlsafe(32)


def seal(api_key_id: str, secret: str) -> str:
    """The secret as stored (on the dealer row, or the partner's key row): it only opens for this key id."""
    return keys.encrypt(PURPOSE, secret, context=api_key_id.encode())


def unseal(api_key_id: str, sealed: str) -> str:
    """Raises keys.UnknownKey (the key was rotated out) or ValueError (tampered, or another key id)."""
    return keys.decrypt(PURPOSE, sealed, context=api_key_id.encode())


def canonical(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    return "\n".join([method.upper(), path, timestamp, nonce, hashlib.sha256(body).hexdigest()]).encode()


def sign(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), canonical(method, path, timestamp, nonce, body), hashlib.sha256)
    return f"{VERSION}={mac.hexdigest()}"


def headers(
    api_key_id: str, secret: str, method: str, path: str, body: bytes, *, timestamp: int, nonce: str
) -> dict[str, str]:
    """Everything a caller adds to a request (our tests and benchmarks, as a till would; our callbacks)."""
    stamp = str(timestamp)
    return {
        KEY_HEADER: api_key_id,
        TIMESTAMP_HEADER: stamp,
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: sign(secret, method, path, stamp, nonce, body),
    }


def matches(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes, given: str) -> bool:
    return hmac.compare_digest(sign(secret, method, path, timestamp, nonce, body), given.strip())
