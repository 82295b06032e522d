"""TOTP (RFC 6238) with pyotp, read against the injectable clock; secrets encrypted at rest.

The secret is encrypted with a Fernet key derived from ROAMCARD_SECRET_KEY, so a copy of the database alone
does not let anyone mint codes. A code is accepted within one 30-second step either side, and never twice
(the step it belonged to is remembered)."""

from __future__ import annotations

import base64
import hashlib
import io

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken

from roamcard.config import get_settings
from roamcard.kit import clock

ISSUER = "Roamcard back office"
INTERVAL_SECONDS = 30
VALID_WINDOW = 1


def _fernet() -> Fernet:
    secret = get_settings().secret_key.get_secret_value().encode()
    key = hashlib.sha256(b"roamcard-staff-totp:" + secret).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def new_secret() -> str:
    return pyotp.random_base32()


def encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:  # the secret key changed: the staff member enrols again
        raise ValueError("TOTP secret cannot be decrypted with the current secret key") from exc


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
