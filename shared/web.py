"""HTTP plumbing every service shares: problem details, body limits, request ids, replays."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PROBLEM_CONTENT_TYPE = "application/problem+json"
REQUEST_ID_HEADER = "X-Request-ID"
# Paging deeper than this is a mistake, and past 2**63 it would overflow the database.
MAX_OFFSET = 1_000_000


class FieldError(BaseModel):
    field: str
    # "in" is a Python keyword; the wire name is what clients see.
    location: str = Field(alias="in")
    rule: str
    message: str


class ProblemDetails(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    errors: list[FieldError] | None = None


_PROBLEM_TITLES = {
    400: "Malformed request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    412: "Precondition failed",
    413: "Body too large",
    422: "Invalid request",
    429: "Too many requests",
    503: "Not ready",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problems a route may answer with."""
    return {
        status: {
            "description": _PROBLEM_TITLES[status],
            "model": ProblemDetails,  # registers the component referenced below
            "content": {
                PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}
            },
        }
        for status in statuses
    }


class Problem(Exception):
    """An RFC 9457 problem: raise it from a route to answer with a clear error."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        *,
        errors: Sequence[dict[str, str]] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = list(errors)
        self.headers = headers


def problem_response(
    request_path: str,
    status: int,
    title: str,
    detail: str = "",
    errors: Sequence[dict[str, str]] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"/problems/{title.lower().replace(' ', '-')}",
        "title": title,
        "status": status,
        "detail": detail or title,
        "instance": request_path,
    }
    if errors:
        body["errors"] = list(errors)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_CONTENT_TYPE, headers=headers)


def _field_errors(error: RequestValidationError) -> list[dict[str, str]]:
    found = []
    for issue in error.errors():
        location = [str(part) for part in issue["loc"]]
        if location and location[0] in {"body", "query", "path", "header"}:
            where = location[0]
            location = location[1:]
        else:
            where = "body"
        if issue["type"] == "json_invalid":
            location = []  # the location is a character offset, not a field
        found.append(
            {
                "field": ".".join(location) or where,
                "in": where,
                "rule": issue["type"],
                "message": issue["msg"],
            }
        )
    return found


async def _on_validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    errors = _field_errors(error)
    if any(item["rule"] == "json_invalid" for item in errors):
        return problem_response(
            request.url.path, 400, "Malformed JSON", "The request body is not valid JSON.", errors
        )
    fields = ", ".join(sorted({item["field"] for item in errors}))
    return problem_response(
        request.url.path, 422, "Invalid request", f"Invalid value for: {fields}.", errors
    )


async def _on_http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    title = {404: "Not found", 405: "Method not allowed"}.get(error.status_code, "HTTP error")
    return problem_response(
        request.url.path, error.status_code, title, str(error.detail), headers=error.headers
    )


async def _on_problem(request: Request, problem: Problem) -> JSONResponse:
    return problem_response(
        request.url.path,
        problem.status,
        problem.title,
        problem.detail,
        problem.errors,
        problem.headers,
    )


class BodySizeLimit:
    """Refuses bodies over the limit with 413, whether or not Content-Length is sent."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            scope["path"],
            413,
            "Body too large",
            f"The request body exceeds {self.max_bytes} bytes.",
        )
        await response(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


class RequestId:
    """Gives each request an id (the caller's X-Request-ID if sent) for logs and the audit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope["headers"]).get(REQUEST_ID_HEADER.lower().encode(), b"").decode()
        request_id = sent if 0 < len(sent) <= 64 and sent.isprintable() else str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append(
                    (REQUEST_ID_HEADER.encode(), request_id.encode())
                )
            await send(message)

        await self.app(scope, receive, send_with_id)


class Replay(Exception):
    """The request was already carried out under its idempotency key: answer as then."""

    def __init__(self, response: Response) -> None:
        super().__init__("replayed")
        self.response = response


async def _on_replay(_request: Request, replay: Replay) -> Response:
    return replay.response


def install_http_plumbing(app: FastAPI, *, max_body_bytes: int) -> None:
    """Error handlers and middleware that make every service answer the same way."""
    app.add_exception_handler(RequestValidationError, _on_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Problem, _on_problem)  # type: ignore[arg-type]
    app.add_exception_handler(Replay, _on_replay)  # type: ignore[arg-type]
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.add_middleware(RequestId)


def validation_problem(error: ValidationError) -> Problem:
    """A 422 naming each field and rule, for validation done after the request was parsed."""
    errors = [
        {
            "field": ".".join(str(part) for part in issue["loc"]) or "body",
            "in": "body",
            "rule": issue["type"],
            "message": issue["msg"],
        }
        for issue in error.errors()
    ]
    fields = ", ".join(sorted({item["field"] for item in errors}))
    return Problem(422, "Invalid request", f"Invalid value for: {fields}.", errors=errors)
