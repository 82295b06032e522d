"""Driving the portal through its HTML forms, as a browser without JavaScript would."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from httpx import Response

from tests.factories import DEFAULT_PASSWORD


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "page has no CSRF token"
    return found.group(1)


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden field {name}"
    return found.group(1)


def field_error(html: str, name: str) -> str | None:
    """The message shown next to a field (the element its input's aria-describedby points at)."""
    found = re.search(rf'<p class="error" id="{name}-error"[^>]*>([^<]+)</p>', html)
    return found.group(1) if found else None


def form_error(html: str) -> str | None:
    found = re.search(r'<div class="alert" role="alert" data-testid="form-error">([^<]+)</div>', html)
    return found.group(1) if found else None


def post_form(client: TestClient, page: str, action: str, data: dict[str, str], **kwargs: object) -> Response:
    """Load `page`, then post `data` to `action` with that page's CSRF token."""
    token = csrf(client.get(page).text)
    return client.post(action, data={**data, "csrf_token": token}, follow_redirects=False, **kwargs)  # type: ignore[arg-type]


def sign_in(client: TestClient, card_number: str, password: str = DEFAULT_PASSWORD) -> Response:
    response = post_form(client, "/", "/login", {"card_number": card_number, "password": password})
    assert response.status_code == 303, response.text
    return response
