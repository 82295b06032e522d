"""TOTP (RFC 6238) with pyotp, read against the injectable clock; secrets encrypted at rest.

The secret is encrypted under the "staff-totp" purpose key (keys.py), so a copy of the database alone does
not let anyone mint codes; the ciphertext names its key, so staff keep signing in across a rotation of
ROAMCARD_SECRET_KEY, and `roamcard keys rotate` re-encrypts them under the new key. Secrets enrolled
before purpose keys (Fernet, keyed with a hash of the master secret) are still read, and rewritten by
`roamcard keys rotate`. A code is accepted within one 30-second step either side, and never twice
(the step it belonged to is remembered)."""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Iterator

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken

from roamcard import keys
from roamcard.config import get_settings
from roamcard.kit import clock

ISSUER = "Roamcard back office"
INTERVAL_SECONDS = 30
VALID_WINDOW = 1


PURPOSE = "staff-totp"


def _legacy_fernets() -> Iterator[Fernet]:
    """The keys secrets were encrypted with before purpose keys: one per configured master secret."""
    settings = get_settings()
    for master in (settings.secret_key, settings.secret_key_previous):
        if master is not None:
            key = hashlib.sha256(b"roamcard-staff-totp:" + master.get_secret_value().encode()).digest()
            yield Fernet(base64.urlsafe_b64encode(key))


def new_secret() -> str:
    return pyotp.random_base32()


def encrypt(secret: str) -> str:
    return keys.encrypt(PURPOSE, secret)


def is_current(token: str) -> bool:
    """Whether `token` is already encrypted under the current key (`roamcard keys rotate` skips it)."""
    return token.partition(".")[0] == keys.current(PURPOSE).key_id


def decrypt(token: str) -> str:
    """Raises ValueError when no configured key opens it: the staff member enrols again."""
    if "." in token:  # "<key id>.<sealed>"; Fernet tokens are url-safe base64, never a dot
        try:
            return keys.decrypt(PURPOSE, token)
        except (keys.UnknownKey, ValueError) as exc:
            raise ValueError("TOTP secret cannot be decrypted with the configured secret keys") from exc
    for fernet in _legacy_fernets():
        try:
            return fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            continue
    raise ValueError("TOTP secret cannot be decrypted with the configured secret keys")


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret, interval=INTERVAL_SECONDS).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_svg_data_uri(uri: str) -> str:
    """The otpauth:// URI as an inline SVG QR code (no request leaves the page; CSP allows data: images)."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", scale=5, border=2)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def matching_step(secret: str, code: str) -> int | None:
    """The time step whose code this is (within the allowed window), or None."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret, interval=INTERVAL_SECONDS)
    now = clock.now()
    current = totp.timecode(now)
    for offset in range(-VALID_WINDOW, VALID_WINDOW + 1):
        step = current + offset
        if pyotp.utils.strings_equal(totp.generate_otp(step), code):
            return step
    return None
