"""A client that signs requests as a dealer's till or a partner platform does (reseller/signing.py), with
a fresh nonce each time."""

from __future__ import annotations

import json
import secrets
from typing import Any

from fastapi.testclient import TestClient

from roamcard.kit import clock
from roamcard.reseller import signing


class SignedClient:
    def __init__(self, client: TestClient, key_id: str, secret: str) -> None:
        self.client = client
        self.key_id = key_id
        self.secret = secret

    def headers(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        *,
        timestamp: int | None = None,
        nonce: str | None = None,
    ) -> dict[str, str]:
        return signing.headers(
            self.key_id,
            self.secret,
            method,
            path,
            body,
            timestamp=int(clock.now().timestamp()) if timestamp is None else timestamp,
            nonce=nonce or secrets.token_urlsafe(18),
        )

    def post(self, path: str, payload: dict[str, Any], **headers: str) -> Any:
        body = json.dumps(payload).encode()
        signed = self.headers("POST", path, body)
        return self.client.post(
            path, content=body, headers={**signed, "Content-Type": "application/json", **headers}
        )

    def get(self, path: str, **headers: str) -> Any:
        return self.client.get(path, headers={**self.headers("GET", path), **headers})
