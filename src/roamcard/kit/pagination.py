"""Opaque cursors for newest-first lists: base64 of the last row's (created_at, id)."""

from __future__ import annotations

import base64
import json
from datetime import datetime


class InvalidCursor(ValueError):
    pass


def encode_cursor(created_at: datetime, row_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, row_id = json.loads(base64.urlsafe_b64decode(padded))
        parsed = datetime.fromisoformat(created_at)
    except (ValueError, TypeError) as exc:
        raise InvalidCursor(cursor) from exc
    if parsed.tzinfo is None or not isinstance(row_id, str):
        raise InvalidCursor(cursor)
    return parsed, row_id
