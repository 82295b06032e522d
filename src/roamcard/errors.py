"""Errors carry their status code and a stable code; one handler renders RFC 9457 problem+json.

`detail` is an English msgid translated at render time into the request's language.
"""

from __future__ import annotations

from typing import Any

from roamcard import i18n

PROBLEM_BASE = "https://roamcard.dev/problems/"


class AppError(Exception):
    status_code = 400
    code = "bad_request"
    message = "The request could not be processed."
    # An error that is itself a recorded outcome (a failed-login counter): the edge commits, not rolls back.
    keeps_changes = False

    def __init__(self, message: str | None = None, *, headers: dict[str, str] | None = None, **params: Any):
        self.message = message or self.message
        self.params = params
        self.headers = headers or {}
        super().__init__(self.message.format(**params) if params else self.message)

    def detail(self, language: str | None = None) -> str:
        return i18n.gettext(self.message, language, **self.params)

    def problem(self, instance: str | None = None, language: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.code,
            "title": self.code.replace("_", " ").capitalize(),
            "status": self.status_code,
            "code": self.code,
            "detail": self.detail(language),
        }
        if instance:
            body["instance"] = instance
        return body


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    message = "Not found."


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"
    message = "Sign in first."

    def __init__(self, message: str | None = None, **params: Any):
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"}, **params)


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    message = "The request conflicts with the current state."


class TooManyRequests(AppError):
    status_code = 429
    code = "too_many_requests"
    message = "Too many attempts. Try again in {minutes} minutes."

    def __init__(self, retry_after_seconds: int, message: str | None = None):
        minutes = max(1, (retry_after_seconds + 59) // 60)
        super().__init__(message, headers={"Retry-After": str(retry_after_seconds)}, minutes=minutes)
        self.retry_after_seconds = retry_after_seconds


class ValidationFailed(AppError):
    """Field errors found by a service (not by the request schema)."""

    status_code = 422
    code = "validation_failed"
    message = "Some fields are not valid."

    def __init__(self, field: str, message: str, **params: Any):
        super().__init__()
        self.field = field
        self.field_message = message
        self.field_params = params

    def problem(self, instance: str | None = None, language: str | None = None) -> dict[str, Any]:
        body = super().problem(instance, language)
        body["errors"] = [
            {
                "field": self.field,
                "message": i18n.gettext(self.field_message, language, **self.field_params),
            }
        ]
        return body
