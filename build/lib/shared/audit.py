"""Export of a service's audit trail, as JSON or as CSV that Japanese Excel opens cleanly."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import func, select

from shared.auth import Principal, Scope, require
from shared.web import MAX_OFFSET, problem_responses

# Excel reads a CSV without a byte-order mark as Shift-JIS and garbles Japanese text.
UTF8_BOM = "\ufeff"


class AuditEntry(BaseModel):
    position: int
    occurred_at: datetime
    actor_client_id: str
    actor_institution_id: str | None
    actor_role: str
    action: str
    entity_type: str
    entity_id: str
    changes: dict[str, Any]
    reason: str | None
    request_id: str


class AuditPage(BaseModel):
    items: list[AuditEntry]
    total: int
    limit: int
    offset: int


def audit_router() -> APIRouter:
    router = APIRouter(tags=["audit"], responses=problem_responses(401, 403, 422, 429))

    @router.get(
        "/audit",
        response_model=AuditPage,
        summary="The audit trail: who changed what, when, old -> new, and why",
        responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    )
    async def export_audit(
        request: Request,
        principal: Annotated[Principal, require(Scope.AUDIT_READ)],
        entity_id: Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")] = None,
        since: datetime | None = None,
        until: datetime | None = None,
        format: Literal["json", "csv"] = "json",
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> Any:
        """A partner institution sees the entries of its own actions; other roles see all."""
        audit = request.app.state.runtime.tables.audit
        filters = []
        if not principal.sees_everything:
            filters.append(audit.c.actor_institution_id == principal.institution_id)
        if entity_id is not None:
            filters.append(audit.c.entity_id == entity_id)
        if since is not None:
            filters.append(audit.c.occurred_at >= since)
        if until is not None:
            filters.append(audit.c.occurred_at < until)
        async with request.app.state.runtime.db.sessions() as session:
            total = (
                await session.execute(select(func.count()).select_from(audit).where(*filters))
            ).scalar_one()
            rows = (
                await session.execute(
                    select(audit)
                    .where(*filters)
                    .order_by(audit.c.position)
                    .limit(limit)
                    .offset(offset)
                )
            ).mappings()
            items = [AuditEntry.model_validate(dict(row)) for row in rows]
        if format == "csv":
            service = request.app.state.runtime.settings.service_name
            return Response(
                content=(UTF8_BOM + _as_csv(items)).encode("utf-8"),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{service}-audit.csv"'},
            )
        return AuditPage(items=items, total=total, limit=limit, offset=offset)

    return router


def _as_csv(items: list[AuditEntry]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(list(AuditEntry.model_fields))
    for item in items:
        row = item.model_dump(mode="json")
        row["changes"] = json.dumps(row["changes"], ensure_ascii=False)
        writer.writerow(["" if value is None else value for value in row.values()])
    return buffer.getvalue()
