"""Fields shared by the APIs sold through (the dealer POS API, the partner API)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

# The caller's reference for a sale, its idempotency key: it travels in a URL path
# (`GET …/topups/{external_id}`), so only characters that need no escaping there: no `/`, `?`, `#`, `%`
# or space, which would change the path that is signed and routed.
EXTERNAL_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
EXTERNAL_ID_ALPHABET = "1-64 characters from A-Z a-z 0-9 . _ : -"


def external_id(description: str, example: str) -> Any:
    """The `external_id` field of a request body: a 422 on the field for anything else."""
    return Field(
        min_length=1,
        max_length=64,
        pattern=EXTERNAL_ID_PATTERN,
        description=f"{description} {EXTERNAL_ID_ALPHABET}.",
        examples=[example],
    )
