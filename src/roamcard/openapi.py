"""The OpenAPI document as the API really answers: every error is RFC 9457 problem+json (errors.py, the
handlers in app.py), and the errors any route can give are listed on it.

FastAPI documents its own 422 as `application/json` with its `HTTPValidationError` shape, and a route's
`responses={401: {"description": ...}}` with no body at all; the fuzzer (tests/fuzz) holds every response
to the document, so the document says what is sent: a `Problem` body for every 4xx and 5xx, 400 where a
JSON body can be unreadable, 401 where a bearer token or a reseller signature is required, 404 where a
path names something that may not exist. A `201` that creates a resource links (OpenAPI links) to the
operations that read it back by its `id` (create a top-up, then read it, its receipt, its refunds), which
the stateful fuzzer follows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

PROBLEM_JSON = "application/problem+json"
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details; `code` is stable and machine-readable.",
    "required": ["type", "title", "status", "code", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
_SIGNED_PREFIXES = ("/api/v1/pos/", "/api/v1/partner/")
_ADDED = {
    "400": "The request body could not be read (code `http_error`)",
    "401": "Not signed in, or the signature is missing or wrong",
    "404": "No such resource",
}


def _problem(response: dict[str, Any]) -> None:
    response["content"] = {PROBLEM_JSON: {"schema": _PROBLEM_REF}}


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite the generated document in place (and return it)."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            parameters = operation.get("parameters", [])
            headers = {p["name"].lower() for p in parameters if p["in"] == "header"}
            responses = operation.setdefault("responses", {})
            if "requestBody" in operation:
                responses.setdefault("400", {"description": _ADDED["400"]})
            if "authorization" in headers or path.startswith(_SIGNED_PREFIXES):
                responses.setdefault("401", {"description": _ADDED["401"]})
            if any(p["in"] == "path" for p in parameters):
                responses.setdefault("404", {"description": _ADDED["404"]})
            for status, response in responses.items():
                if status[:1] in ("4", "5"):
                    _problem(response)
    _link_reads(schema)
    return schema


def _pointer(path: str) -> str:
    return path.replace("~", "~0").replace("/", "~1")


def _link_reads(schema: dict[str, Any]) -> None:
    """POST /x answering 201 with an `id` -> GET /x/{x_id}... (one path parameter, named *_id)."""
    paths = schema.get("paths", {})
    for path, operations in paths.items():
        created = operations.get("post", {}).get("responses", {}).get("201")
        if created is None:
            continue
        links: dict[str, Any] = {}
        for other, other_operations in paths.items():
            read = other_operations.get("get")
            if read is None or not other.startswith(path + "/{"):
                continue
            names = [p["name"] for p in read.get("parameters", []) if p["in"] == "path"]
            # by *our* id (a reseller's external_id is its own, sent in the request, not answered)
            if len(names) != 1 or not names[0].endswith("_id") or names[0] == "external_id":
                continue
            links[read.get("operationId", other)] = {
                "operationRef": f"#/paths/{_pointer(other)}/get",
                "parameters": {names[0]: "$response.body#/id"},
            }
        if links:
            created["links"] = links


def install(app: FastAPI) -> None:
    """`app.openapi()` serves the rewritten document (built once, like FastAPI's own)."""
    generate: Callable[[], dict[str, Any]] = app.openapi
    done: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        if not done:
            done.append(document(generate()))
        return done[0]

    app.openapi = openapi  # type: ignore[method-assign]
