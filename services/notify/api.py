"""notify's HTTP API: ministry staff subscribe to stage changes and follow every candidate."""

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter, Header, Path, Query, Request, status
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify import domain
from services.notify.delivery import event_of, signature_headers
from services.notify.tables import (
    AttemptRow,
    CandidateState,
    DeliveryRow,
    NotificationRow,
    SubscriptionRow,
    TimelineEntry,
)
from shared.auth import Principal, Scope, require
from shared.events import catalog
from shared.events.registry import Contract
from shared.service import runtime_of
from shared.web import Problem, problem_responses
from shared.writes import Write, Writer, field_changes

Reader = Annotated[Principal, require(Scope.CANDIDATES_READ)]
Subscriber = Annotated[Principal, require(Scope.SUBSCRIPTIONS_WRITE)]
SubscriberWrite = Annotated[Write, Writer(Scope.SUBSCRIPTIONS_WRITE)]
EntityId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]

_problems = problem_responses(400, 401, 403, 404, 409, 413, 422, 429)
subscriptions = APIRouter(prefix="/subscriptions", tags=["subscriptions"], responses=_problems)
deliveries = APIRouter(prefix="/deliveries", tags=["subscriptions"], responses=_problems)
read_model = APIRouter(tags=["pipeline"], responses=_problems)


class FiltersIn(Contract):
    event_types: list[str] = Field(default_factory=list, max_length=50)
    stages: list[str] = Field(default_factory=list, max_length=20)
    candidate_id: str | None = Field(default=None, max_length=64)
    modality: str | None = Field(default=None, max_length=40)
    disease_class: str | None = Field(default=None, max_length=40)
    urgent_only: bool = False


class SubscriptionIn(Contract):
    channel: Literal["rest-hook", "email"] = "rest-hook"
    endpoint: str = Field(
        min_length=1, max_length=2000, description="The webhook URL, or the e-mail address"
    )
    language: Literal["ja", "en"] = Field(default="ja", description="Language of e-mails")
    filters: FiltersIn = Field(default_factory=FiltersIn)
    digest: bool = Field(default=False, description="Bundle non-urgent events into a daily digest")
    heartbeat_seconds: int | None = Field(
        default=None, ge=1, le=86_400, description="Send a heartbeat after this much silence"
    )


class SubscriptionOut(BaseModel):
    subscription_id: str
    channel: str
    endpoint: str
    language: str
    digest: bool
    heartbeat_seconds: int | None
    filters: FiltersIn
    status: str
    events_since_start: int
    created_at: datetime


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(description="Shown once: verifies webhook-signature")


class StatusIn(Contract):
    status: Literal["active", "off"]


class RotationIn(Contract):
    overlap_hours: float = Field(default=24, ge=0, le=168)


class SecretOut(BaseModel):
    subscription_id: str
    secret: str
    previous_valid_until: datetime


class TopicOut(BaseModel):
    event_type: str
    producer: str
    description: str
    changes_stage: bool


class MissedEvent(BaseModel):
    event_number: int
    event: dict[str, Any]


class AttemptOut(BaseModel):
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryOut(BaseModel):
    delivery_id: str
    event_number: int
    status: str
    attempts: list[AttemptOut]
    next_attempt_at: datetime | None


class TimelineOut(BaseModel):
    candidate_id: str
    name: str | None
    stage: str | None
    events: list[dict[str, Any]]


def _out(row: SubscriptionRow) -> SubscriptionOut:
    return SubscriptionOut.model_validate(row, from_attributes=True)


async def _own(
    session: AsyncSession, subscription_id: str, principal: Principal, *, writing: bool = False
) -> SubscriptionRow:
    row = await session.get(SubscriptionRow, subscription_id, with_for_update=writing)
    if row is None or row.owner_client_id != principal.client_id:
        raise Problem(404, "Not found", f"No subscription {subscription_id}.")
    return row


EMAIL_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def _refuse_endpoint(request: Request, channel: str, endpoint: str) -> None:
    if channel == "email":
        if not EMAIL_ADDRESS.match(endpoint):
            raise Problem(
                422,
                "Invalid request",
                "endpoint must be an e-mail address.",
                errors=[
                    {
                        "field": "endpoint",
                        "in": "body",
                        "rule": "email",
                        "message": "not an e-mail address",
                    }
                ],
            )
        return
    settings = runtime_of(request).settings
    parts = urlsplit(endpoint)
    problem = None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        problem = "must be an absolute http(s) URL"
    elif parts.scheme != "https" and settings.environment == "production":
        problem = "must use https"
    elif settings.webhook_allowed_hosts and parts.hostname not in settings.webhook_allowed_hosts:
        problem = f"host {parts.hostname} is not among the allowed webhook hosts"
    if problem:
        raise Problem(
            422,
            "Invalid request",
            f"endpoint {problem}.",
            errors=[{"field": "endpoint", "in": "body", "rule": "webhook-url", "message": problem}],
        )


async def _handshake(request: Request, row: SubscriptionRow) -> None:
    """The endpoint must acknowledge a signed handshake before the subscription exists."""
    body = json.dumps(
        {"type": "handshake", "subscription_id": row.subscription_id}, separators=(",", ":")
    ).encode()
    headers = signature_headers(row, f"msg_{uuid.uuid4().hex}", body, datetime.now(UTC))
    timeout = runtime_of(request).settings.webhook_timeout_seconds
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            reply = await client.post(row.endpoint, content=body, headers=headers)
        answered = 200 <= reply.status_code < 300
        detail = f"answered {reply.status_code}"
    except httpx.HTTPError as error:
        answered, detail = False, f"unreachable ({type(error).__name__})"
    if not answered:
        raise Problem(
            422,
            "Invalid request",
            f"The endpoint did not acknowledge the handshake: {detail}.",
            errors=[{"field": "endpoint", "in": "body", "rule": "handshake", "message": detail}],
        )


@read_model.get("/topics", response_model=list[TopicOut], tags=["subscriptions"])
async def list_topics(_principal: Reader) -> list[TopicOut]:
    """What can be subscribed to: every event type of the pipeline."""
    return [
        TopicOut(
            event_type=event_type,
            producer=model.producer,
            description=(model.__doc__ or event_type).strip().splitlines()[0],
            changes_stage="stage" in model.model_fields,
        )
        for event_type, model in catalog().items()
    ]


@subscriptions.post("", status_code=status.HTTP_201_CREATED, response_model=SubscriptionCreated)
async def subscribe(
    subscription: SubscriptionIn, request: Request, write: SubscriberWrite
) -> JSONResponse:
    """Subscribe a webhook; it must answer a signed handshake. The secret is shown once."""
    _refuse_endpoint(request, subscription.channel, subscription.endpoint)
    errors = domain.check_filters(subscription.filters.model_dump())
    if errors:
        raise Problem(422, "Invalid request", "Unknown values in filters.", errors=errors)
    now = datetime.now(UTC)
    secret = domain.new_secret()
    row = SubscriptionRow(
        subscription_id=str(uuid.uuid4()),
        owner_client_id=write.principal.client_id,
        owner_institution_id=write.principal.institution_id,
        channel=subscription.channel,
        endpoint=subscription.endpoint,
        language=subscription.language,
        digest=subscription.digest,
        heartbeat_seconds=subscription.heartbeat_seconds,
        filters=subscription.filters.model_dump(mode="json"),
        status="requested",
        secrets=[{"secret": secret, "expires_at": None}],
        events_since_start=0,
        created_at=now,
        updated_at=now,
    )
    if row.channel == "rest-hook":
        await _handshake(request, row)
    row.status = "active"
    async with write.transaction() as session:
        session.add(row)
        await write.audit(
            action="subscription.created",
            entity_type="subscription",
            entity_id=row.subscription_id,
            changes=field_changes(None, _out(row).model_dump(mode="json")),
        )
        response = write.respond(
            SubscriptionCreated(**_out(row).model_dump(), secret=secret), status_code=201
        )
    return response


@subscriptions.get("", response_model=list[SubscriptionOut])
async def list_subscriptions(request: Request, principal: Subscriber) -> list[SubscriptionOut]:
    async with runtime_of(request).db.sessions() as session:
        rows = await session.execute(
            select(SubscriptionRow)
            .where(SubscriptionRow.owner_client_id == principal.client_id)
            .order_by(SubscriptionRow.created_at)
        )
        return [_out(row) for row in rows.scalars()]


@subscriptions.get("/{subscription_id}", response_model=SubscriptionOut)
async def get_subscription(
    subscription_id: EntityId, request: Request, principal: Subscriber
) -> SubscriptionOut:
    async with runtime_of(request).db.sessions() as session:
        return _out(await _own(session, subscription_id, principal))


@subscriptions.post("/{subscription_id}/status", response_model=SubscriptionOut)
async def change_status(
    subscription_id: EntityId, change: StatusIn, write: SubscriberWrite
) -> JSONResponse:
    """Turn a subscription off, or back on after fixing its endpoint."""
    async with write.transaction() as session:
        row = await _own(session, subscription_id, write.principal, writing=True)
        previous = row.status
        row.status = change.status
        row.updated_at = datetime.now(UTC)
        await write.audit(
            action="subscription.status-changed",
            entity_type="subscription",
            entity_id=subscription_id,
            changes=field_changes({"status": previous}, {"status": change.status}),
        )
        response = write.respond(_out(row))
    return response


@subscriptions.post("/{subscription_id}/secret-rotation", response_model=SecretOut)
async def rotate_secret(
    subscription_id: EntityId, rotation: RotationIn, write: SubscriberWrite
) -> JSONResponse:
    """A new secret; deliveries carry signatures of both until the overlap ends."""
    async with write.transaction() as session:
        row = await _own(session, subscription_id, write.principal, writing=True)
        now = datetime.now(UTC)
        until = now + timedelta(hours=rotation.overlap_hours)
        secret = domain.new_secret()
        kept = [
            {**item, "expires_at": item["expires_at"] or until.isoformat()}
            for item in row.secrets
            if item["expires_at"] is None or datetime.fromisoformat(item["expires_at"]) > now
        ]
        row.secrets = [{"secret": secret, "expires_at": None}, *kept]
        row.updated_at = now
        await write.audit(
            action="subscription.secret-rotated",
            entity_type="subscription",
            entity_id=subscription_id,
            changes={"previous_valid_until": {"old": None, "new": until.isoformat()}},
        )
        response = write.respond(
            SecretOut(subscription_id=subscription_id, secret=secret, previous_valid_until=until)
        )
    return response


@subscriptions.get("/{subscription_id}/events", response_model=list[MissedEvent])
async def missed_events(
    subscription_id: EntityId,
    request: Request,
    principal: Subscriber,
    since: Annotated[int, Query(ge=0, le=2**31 - 1, description="Last event number received")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[MissedEvent]:
    """The subscription's events after ``since``, in order: what a receiver missed."""
    async with runtime_of(request).db.sessions() as session:
        await _own(session, subscription_id, principal)
        rows = await session.execute(
            select(NotificationRow.event_number, TimelineEntry)
            .join(TimelineEntry, TimelineEntry.event_id == NotificationRow.event_id)
            .where(
                NotificationRow.subscription_id == subscription_id,
                NotificationRow.event_number > since,
            )
            .order_by(NotificationRow.event_number)
            .limit(limit)
        )
        return [
            MissedEvent(event_number=number, event=event_of(entry)) for number, entry in rows.all()
        ]


@subscriptions.get("/{subscription_id}/deliveries", response_model=list[DeliveryOut])
async def delivery_log(
    subscription_id: EntityId, request: Request, principal: Subscriber
) -> list[DeliveryOut]:
    """Every delivery and each of its attempts."""
    async with runtime_of(request).db.sessions() as session:
        await _own(session, subscription_id, principal)
        rows = (
            await session.execute(
                select(DeliveryRow)
                .where(DeliveryRow.subscription_id == subscription_id)
                .order_by(DeliveryRow.event_number)
            )
        ).scalars()
        found = []
        for row in rows:
            attempts = (
                await session.execute(
                    select(AttemptRow)
                    .where(AttemptRow.delivery_id == row.delivery_id)
                    .order_by(AttemptRow.attempted_at)
                )
            ).scalars()
            found.append(
                DeliveryOut(
                    delivery_id=row.delivery_id,
                    event_number=row.event_number,
                    status=row.status,
                    next_attempt_at=row.next_attempt_at,
                    attempts=[AttemptOut.model_validate(a, from_attributes=True) for a in attempts],
                )
            )
        return found


@deliveries.post("/{delivery_id}/redelivery", response_model=DeliveryOut)
async def redeliver(delivery_id: EntityId, write: SubscriberWrite) -> JSONResponse:
    """Send a delivery again now, whatever became of it."""
    async with write.transaction() as session:
        row = await session.get(DeliveryRow, delivery_id, with_for_update=True)
        if row is None:
            raise Problem(404, "Not found", f"No delivery {delivery_id}.")
        await _own(session, row.subscription_id, write.principal)
        previous = row.status
        row.status, row.next_attempt_at = "pending", datetime.now(UTC)
        await write.audit(
            action="delivery.redelivery-requested",
            entity_type="delivery",
            entity_id=delivery_id,
            changes=field_changes({"status": previous}, {"status": "pending"}),
        )
        response = write.respond(
            DeliveryOut(
                delivery_id=delivery_id,
                event_number=row.event_number,
                status=row.status,
                next_attempt_at=row.next_attempt_at,
                attempts=[],
            )
        )
    return response


@read_model.get("/candidates/{candidate_id}/timeline", response_model=TimelineOut)
async def timeline(candidate_id: EntityId, request: Request, principal: Reader) -> TimelineOut:
    """One candidate's whole history across all stages and services, oldest first."""
    async with runtime_of(request).db.sessions() as session:
        state = await session.get(CandidateState, candidate_id)
        if state is None or not principal.party_to(state.registered_by):
            raise Problem(404, "Not found", f"No candidate {candidate_id}.")
        entries = (
            await session.execute(
                select(TimelineEntry)
                .where(TimelineEntry.candidate_id == candidate_id)
                .order_by(TimelineEntry.occurred_at, TimelineEntry.source, TimelineEntry.sequence)
            )
        ).scalars()
        return TimelineOut(
            candidate_id=candidate_id,
            name=state.name,
            stage=state.stage,
            events=[event_of(entry) for entry in entries],
        )


@read_model.get(
    "/stream",
    summary="Server-Sent Events: pipeline events as notify receives them",
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
)
async def live_stream(
    request: Request,
    principal: Reader,
    stages: Annotated[list[str], Query(max_length=20)] = [],  # noqa: B006 (FastAPI reads it)
    urgent_only: bool = False,
    close_after: Annotated[
        float,
        Query(
            gt=0,
            le=3600,
            description="Seconds until the server closes; reconnect with Last-Event-ID",
        ),
    ] = 300,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", pattern=r"^\d{1,18}$")
    ] = None,
) -> StreamingResponse:
    """For dashboards: each event as `id: position`, `event: type`, `data: JSON`."""
    errors = domain.check_filters({"stages": stages})
    if errors:
        raise Problem(422, "Invalid request", "Unknown values in stages.", errors=errors)
    runtime = runtime_of(request)
    async with runtime.db.sessions() as session:
        newest = (await session.execute(select(func.max(TimelineEntry.position)))).scalar()
    start = int(last_event_id) if last_event_id is not None else newest or 0

    async def events() -> AsyncIterator[str]:
        position, deadline, quiet_since = start, time.monotonic() + close_after, time.monotonic()
        yield "retry: 3000\n\n"
        while time.monotonic() < deadline and not await request.is_disconnected():
            query = (
                select(TimelineEntry, CandidateState.registered_by)
                .outerjoin(
                    CandidateState, CandidateState.candidate_id == TimelineEntry.candidate_id
                )
                .where(TimelineEntry.position > position)
                .order_by(TimelineEntry.position)
                .limit(100)
            )
            async with runtime.db.sessions() as session:
                rows = (await session.execute(query)).all()
            for entry, registered_by in rows:
                position = entry.position
                if not principal.party_to(registered_by):
                    continue
                if stages and entry.stage_current not in stages:
                    continue
                if urgent_only and not entry.urgent:
                    continue
                quiet_since = time.monotonic()
                data = json.dumps(event_of(entry), ensure_ascii=False, separators=(",", ":"))
                yield f"id: {entry.position}\nevent: {entry.event_type}\ndata: {data}\n\n"
            if time.monotonic() - quiet_since > 15:
                quiet_since = time.monotonic()
                yield ": keep-alive\n\n"  # keeps proxies from closing a quiet stream
            if not rows:
                await asyncio.sleep(0.5)

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )


@read_model.get("/funnel")
async def pipeline_funnel(request: Request, principal: Reader) -> dict[str, Any]:
    """How many candidates are, or have been, at each stage; by modality and disease class."""
    query = select(CandidateState)
    if not principal.sees_everything:
        query = query.where(CandidateState.registered_by == principal.institution_id)
    async with runtime_of(request).db.sessions() as session:
        states = (await session.execute(query)).scalars()
        rows = [
            {
                "stages_reached": state.stages_reached,
                "modality": state.modality,
                "disease_class": state.disease_class,
            }
            for state in states
        ]
    return domain.funnel(rows)


routers = [read_model, subscriptions, deliveries]
