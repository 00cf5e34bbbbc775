"""The HTTP face every service shares: problem details, body limits, health and readiness."""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.service import ServiceRuntime

PROBLEM_CONTENT_TYPE = "application/problem+json"


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


def health_router(runtime: ServiceRuntime) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="The database and Kafka are reachable")
    async def readyz() -> JSONResponse:
        checks = await runtime.readiness()
        ready = all(state == "ok" for state in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    return router


def create_app(
    runtime: ServiceRuntime, routers: Sequence[APIRouter], *, title: str, description: str
) -> FastAPI:
    """A service's FastAPI app, with the shared error handling, limits and lifespan."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # type: ignore[no-untyped-def]
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=title, description=description, version="1", lifespan=lifespan)
    app.state.runtime = runtime
    app.add_exception_handler(RequestValidationError, _on_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Problem, _on_problem)  # type: ignore[arg-type]
    app.add_middleware(BodySizeLimit, max_bytes=runtime.settings.max_body_bytes)
    app.include_router(health_router(runtime))
    for router in routers:
        app.include_router(router)
    return app


def dump_openapi(app: FastAPI) -> str:
    return json.dumps(app.openapi(), indent=2, ensure_ascii=False) + "\n"


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
