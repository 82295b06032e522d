"""Bearer and session tokens: stored only as their SHA-256, never in clear.

Plain SHA-256, not a keyed hash, on purpose: the tokens are 256 random bits, so a leaked table cannot be
turned back into tokens by guessing, a key would add nothing, and keeping the hash unkeyed means a
rotation of ROAMCARD_SECRET_KEY neither signs everyone out nor needs a lookup under two keys.
(Low-entropy secrets, such as SMS codes, are hashed with a purpose key instead: keys.mac.)
"""

from __future__ import annotations

import hashlib


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


__all__ = ["hash_token"]
