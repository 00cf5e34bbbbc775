"""One write request as one transaction: idempotency key, state change, audit row, events.

A route takes ``write: Writer(Scope.X)``, does its work inside ``write.transaction()``,
records ``write.audit(...)`` and ``write.publish(...)`` and answers with
``write.respond(...)``. Because the idempotency key and its stored response commit with
the change itself, a retried request can never act twice, whatever fails in between.
"""

import contextlib
import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Principal, Scope, require
from shared.db import dialect_insert
from shared.events import CloudEvent, EventPayload
from shared.service import ServiceRuntime
from shared.web import Problem, Replay

REPLAYED_HEADER = "Idempotent-Replayed"
_REMEMBERED_HEADERS = ("location", "etag")


class Write:
    def __init__(
        self,
        *,
        runtime: ServiceRuntime,
        principal: Principal,
        request_id: str,
        request_hash: str,
        idempotency_key: str | None,
    ) -> None:
        self.runtime = runtime
        self.principal = principal
        self.request_id = request_id
        self.request_hash = request_hash
        self.idempotency_key = idempotency_key
        self._session: AsyncSession | None = None
        self._response: JSONResponse | None = None
        self._audit_rows = 0

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("use write.session inside write.transaction()")
        return self._session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        async with self.runtime.db.transaction() as session:
            self._session = session
            if self.idempotency_key is not None:
                await self._claim_key(self.idempotency_key)
            yield session
            if self._audit_rows == 0 or self._response is None:
                raise RuntimeError("a write must record an audit row and its response")
            if self.idempotency_key is not None:
                await self._remember_response(self.idempotency_key, self._response)

    async def audit(
        self,
        *,
        action: str,
        entity_type: str,
        entity_id: str,
        changes: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> None:
        """Record who did what to which entity, old -> new, and why."""
        await self.session.execute(
            insert(self.runtime.tables.audit).values(
                occurred_at=datetime.now(UTC),
                actor_client_id=self.principal.client_id,
                actor_institution_id=self.principal.institution_id,
                actor_role=self.principal.role.value,
                action=action,
                entity_type=entity_type,
                entity_id=entity_id,
                changes=changes or {},
                reason=reason,
                request_id=self.request_id,
            )
        )
        self._audit_rows += 1

    async def publish(self, payload: EventPayload) -> CloudEvent:
        return await self.runtime.outbox.add(self.session, payload, correlation_id=self.request_id)

    def respond(
        self, body: BaseModel, *, status_code: int = 200, headers: dict[str, str] | None = None
    ) -> JSONResponse:
        self._response = JSONResponse(
            body.model_dump(mode="json"), status_code=status_code, headers=headers
        )
        return self._response

    async def _claim_key(self, key: str) -> None:
        table = self.runtime.tables.idempotency
        client, now = self.principal.client_id, datetime.now(UTC)
        this_key = (table.c.client_id == client) & (table.c.key == key)
        await self.session.execute(delete(table).where(this_key & (table.c.expires_at <= now)))
        claimed = await self.session.execute(
            dialect_insert(self.session, table)
            .values(
                client_id=client,
                key=key,
                request_hash=self.request_hash,
                created_at=now,
                expires_at=now + timedelta(seconds=self.runtime.settings.idempotency_ttl_seconds),
            )
            .on_conflict_do_nothing()
            .returning(table.c.key)
        )
        if claimed.first() is not None:
            return
        # Another request holds the key; on PostgreSQL the insert waited for it to commit.
        earlier = (await self.session.execute(select(table).where(this_key))).one()
        if earlier.request_hash != self.request_hash:
            raise Problem(
                409,
                "Idempotency key reused",
                "This Idempotency-Key was used for a different request; use a new key.",
            )
        headers = {**(earlier.response_headers or {}), REPLAYED_HEADER: "true"}
        raise Replay(
            Response(
                content=earlier.response_body,
                status_code=earlier.response_status,
                headers=headers,
                media_type="application/json",
            )
        )

    async def _remember_response(self, key: str, response: JSONResponse) -> None:
        table = self.runtime.tables.idempotency
        await self.session.execute(
            table.update()
            .where((table.c.client_id == self.principal.client_id) & (table.c.key == key))
            .values(
                response_status=response.status_code,
                response_body=bytes(response.body).decode(),
                response_headers={
                    name: response.headers[name]
                    for name in _REMEMBERED_HEADERS
                    if name in response.headers
                },
            )
        )


def _request_hash(request: Request, body: bytes) -> str:
    canonical = body  # not JSON: compare the bytes as sent
    with contextlib.suppress(ValueError, UnicodeDecodeError):
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256(f"{request.method} {request.url.path}?{request.url.query}\n".encode())
    digest.update(canonical)
    return digest.hexdigest()


def Writer(scope: Scope) -> Any:
    """The route's write unit, for a caller holding ``scope``."""

    async def open_write(
        request: Request,
        principal: Annotated[Principal, require(scope)],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                description="Retry with the same key and the first response is returned "
                "without acting again; the same key with a different body is a 409.",
            ),
        ] = None,
    ) -> Write:
        return Write(
            runtime=request.app.state.runtime,
            principal=principal,
            request_id=request.state.request_id,
            request_hash=_request_hash(request, await request.body()),
            idempotency_key=idempotency_key,
        )

    return Depends(open_write)


def field_changes(before: dict[str, Any] | None, after: dict[str, Any]) -> dict[str, Any]:
    """The audit's old -> new of every field that differs (all fields for a creation)."""
    before = before or {}
    return {
        name: {"old": before.get(name), "new": value}
        for name, value in after.items()
        if before.get(name) != value
    }
