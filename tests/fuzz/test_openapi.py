"""Schemathesis against the whole OpenAPI (issue 17, "Fuzzing"), signed in as a card or not, on both
engines: no 5xx, every 4xx a problem+json with a `code`, every response as its operation documents it."""

from __future__ import annotations

import zlib
from dataclasses import replace
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from roamcard.app import create_app
from tests.factories import DEFAULT_PASSWORD, make_card
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
        assert isinstance(body, dict), f"not an object: {body!r}"
        assert isinstance(body.get("code"), str), f"no `code`: {body!r}"
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


# -- stateful: create a top-up, then follow the document's links to read it back ---------------------
TOPUPS = schema.include(path_regex=r"^/api/v1/topups")
FOLLOWED: set[str] = set()  # templates of the top-up reads reached through a link, in this run


class TopupLinks(TOPUPS.as_state_machine()):  # type: ignore[misc]
    """The top-up operations only, so a scenario of a few steps reaches the links. A created top-up is
    for a real product (the generated ids almost never name one); everything else is generated."""

    target: FuzzTarget

    def before_call(self, case: Any) -> None:
        case.headers = {**(case.headers or {}), **self.target.auth}
        if case.method == "POST" and case.path == "/api/v1/topups":
            case.body = {"product_id": "data-5gb-30d", "currency": "CNY", "payment_method": "sandbox"}

    def call(self, case: Any, **kwargs: Any) -> Any:
        return case.call(app=self.target.app, **kwargs)

    def after_call(self, response: Any, case: Any) -> None:
        if case.method == "GET" and response.status_code == 200 and "{topup_id}" in case.path:
            FOLLOWED.add(case.path)

    def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
        case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)


def test_topup_create_then_read(target: FuzzTarget) -> None:
    # A card and session of its own: the operation fuzzing may have ended the shared session (DELETE
    # /api/v1/sessions/current) or used up the shared card's limits.
    with target.database.transaction() as session:
        number = make_card(session, phone="+8613800138222").card_number
    with TestClient(target.app) as client:
        signed_in = client.post(
            "/api/v1/sessions", json={"card_number": number, "password": DEFAULT_PASSWORD}
        )
        assert signed_in.status_code == 201, signed_in.text
    TopupLinks.target = replace(target, card_number=number, token=signed_in.json()["token"])
    FOLLOWED.clear()
    TopupLinks.run(
        settings=settings(
            max_examples=EXAMPLES or 25,
            stateful_step_count=6,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    # at least one read of a created top-up through a link (its page, receipt or refunds)
    assert FOLLOWED, "no link from a created top-up was followed"
