"""Schemathesis against the whole OpenAPI (issue 17, "Fuzzing"), signed in as a card or not, on both
engines: no 5xx, every 4xx a problem+json with a `code`, every response as its operation documents it."""

from __future__ import annotations

import zlib
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from roamcard.app import create_app
from tests.fuzz.conftest import EXAMPLES, FuzzTarget

pytestmark = pytest.mark.xdist_group("fuzz")

# The document does not depend on the database: read once, at collection.
schema = schemathesis.openapi.from_dict(create_app().openapi())


def problem_json(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx is application/problem+json with a machine-readable `code`."""
    if 400 <= response.status_code < 500:
        media = response.headers.get("content-type", [""])[0]
        assert media.startswith("application/problem+json"), f"{response.status_code} sent as {media!r}"
        body = response.json()
        assert isinstance(body, dict) and isinstance(body.get("code"), str), f"no `code`: {body!r}"
    return True


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    problem_json,
]


def signed_in(case: Any) -> bool:
    """Two cases in three carry the card's token; the third keeps whatever `Authorization` was generated
    (often none). Decided by the case's content, so Hypothesis replays a failure the same way."""
    return zlib.crc32(repr((case.path_parameters, case.query, case.body)).encode()) % 3 != 0


@schema.parametrize()
@settings(max_examples=EXAMPLES or 10, deadline=None, suppress_health_check=list(HealthCheck))
def test_api(case: Any, target: FuzzTarget) -> None:
    if signed_in(case):
        case.headers = {**(case.headers or {}), **target.auth}
    response = case.call(app=target.app)
    case.validate_response(response, checks=CHECKS)
