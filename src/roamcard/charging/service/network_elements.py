"""Network elements' API keys: made by the CLI (shown once), stored only as a keyed hash under the
"network-element" purpose key, checked on every charging request, revocable."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from roamcard import keys
from roamcard.charging import repository
from roamcard.errors import Conflict, Unauthorized
from roamcard.kit import clock, ids
from roamcard.kit.sql import Tx

PURPOSE = "network-element"
KEY_PREFIX = "rcne_"


class NetworkElementUnauthorized(Unauthorized):
    code = "network_element_unauthorized"
    message = "A valid network element key is required."


class NetworkElementExists(Conflict):
    code = "network_element_exists"
    message = "A network element with this name exists already."


@dataclass(frozen=True)
class NewElement:
    public_id: str
    name: str
    key: str


def _hashes(key: str) -> list[str]:
    """The key's hash under the current secret, then the previous one during a rotation."""
    return [keys.mac(PURPOSE, key.encode(), key=k) for k in keys.keys(PURPOSE)]


def create(tx: Tx, name: str) -> NewElement:
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    public_id = ids.new_id("ne")
    made = tx.one(
        repository.INSERT_ELEMENT, public_id=public_id, name=name, key_hash=_hashes(key)[0], now=clock.now()
    )
    if made is None:
        raise NetworkElementExists()
    return NewElement(public_id=public_id, name=name, key=key)


def revoke(tx: Tx, name: str) -> bool:
    return tx.run(repository.REVOKE_ELEMENT, name=name, now=clock.now()) == 1


def bearer_key(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value.startswith(KEY_PREFIX) or len(value) > 100:
        return None
    return value


def authenticate(tx: Tx, authorization: str | None) -> int:
    """The calling network element's id; raises NetworkElementUnauthorized (401)."""
    key = bearer_key(authorization)
    if key is not None:
        for key_hash in _hashes(key):
            found = tx.value(repository.ELEMENT_BY_KEY_HASH, key_hash=key_hash)
            if found is not None:
                return int(found)
    raise NetworkElementUnauthorized()
