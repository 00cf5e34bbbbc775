"""Webhook deliveries, signed per the Standard Webhooks specification, retried for hours.

Every delivery is a row in notify's database before anything is sent, so a restart of
notify resumes where it stopped: at least once, and receivers de-duplicate on webhook-id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import smtplib
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.domain import email_text, next_attempt_delay, sign
from services.notify.tables import (
    AttemptRow,
    CandidateState,
    DeliveryRow,
    NotificationRow,
    SubscriptionRow,
    TimelineEntry,
)
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)


def signature_headers(
    subscription: SubscriptionRow, message_id: str, body: bytes, now: datetime
) -> dict[str, str]:
    """Headers signed with every secret still valid, so a rotation overlaps seamlessly."""
    timestamp = int(now.timestamp())
    valid = [
        item["secret"]
        for item in subscription.secrets
        if item.get("expires_at") is None or datetime.fromisoformat(item["expires_at"]) > now
    ]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            sign(secret, message_id, timestamp, body) for secret in valid
        ),
        "content-type": "application/json",
    }


def notification_body(subscription: SubscriptionRow, number: int, entry: TimelineEntry) -> bytes:
    body: dict[str, Any] = {
        "type": "event-notification",
        "subscription_id": subscription.subscription_id,
        "event_number": number,
        "events_since_subscription_start": subscription.events_since_start,
        "urgent": entry.urgent,
        "event": event_of(entry),
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


async def _post(
    client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str]
) -> tuple[int | None, str | None]:
    try:
        reply = await client.post(url, content=body, headers=headers)
        return reply.status_code, None
    except httpx.HTTPError as failure:
        return None, f"{type(failure).__name__}: {failure}"


async def _send_email(
    runtime: ServiceRuntime, subscription: SubscriptionRow, entry: TimelineEntry, name: str | None
) -> tuple[int | None, str | None]:
    """Send over SMTP; an accepted message counts as 250, like the server's own answer."""
    settings = runtime.settings
    subject, text = email_text(subscription.language, event_of(entry), name)
    message = EmailMessage()
    message["From"] = settings.smtp_sender
    message["To"] = subscription.endpoint
    message["Subject"] = subject
    message.set_content(text)

    def send() -> None:
        with smtplib.SMTP(
            settings.smtp_host, settings.smtp_port, timeout=settings.webhook_timeout_seconds
        ) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            smtp.send_message(message)

    try:
        await asyncio.to_thread(send)
        return 250, None
    except (OSError, smtplib.SMTPException) as failure:
        return None, f"{type(failure).__name__}: {failure}"


def event_of(entry: TimelineEntry) -> dict[str, Any]:
    """The event as notify shows it: in webhook bodies, e-mails and the timeline."""
    return {
        "id": entry.event_id,
        "type": entry.event_type,
        "source": f"/services/{entry.source}",
        "subject": entry.candidate_id,
        "sequence": entry.sequence,
        "time": entry.occurred_at.isoformat(),
        "urgent": entry.urgent,
        "data": entry.data,
    }


async def _entries(
    session: AsyncSession, subscription_id: str, numbers: list[int]
) -> list[TimelineEntry]:
    rows = await session.execute(
        select(NotificationRow.event_number, TimelineEntry)
        .join(TimelineEntry, TimelineEntry.event_id == NotificationRow.event_id)
        .where(
            NotificationRow.subscription_id == subscription_id,
            NotificationRow.event_number.in_(numbers),
        )
        .order_by(NotificationRow.event_number)
    )
    return [entry for _, entry in rows.all()]


def digest_body(subscription: SubscriptionRow, items: list[tuple[int, TimelineEntry]]) -> bytes:
    body = {
        "type": "digest",
        "subscription_id": subscription.subscription_id,
        "events_since_subscription_start": subscription.events_since_start,
        "events": [{"event_number": number, "event": event_of(entry)} for number, entry in items],
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


async def send_digests(runtime: ServiceRuntime, now: datetime) -> int:
    """Bundle each digest subscription's held notifications into one delivery."""
    bundled = 0
    async with runtime.db.transaction() as session:
        held = list(
            (
                await session.execute(
                    select(DeliveryRow)
                    .where(DeliveryRow.status == "held")
                    .order_by(DeliveryRow.subscription_id, DeliveryRow.event_number)
                    .with_for_update(skip_locked=True)
                )
            ).scalars()
        )
        by_subscription: dict[str, list[DeliveryRow]] = {}
        for row in held:
            by_subscription.setdefault(row.subscription_id, []).append(row)
        for subscription_id, rows in by_subscription.items():
            for row in rows:
                row.status = "digested"
            session.add(
                DeliveryRow(
                    delivery_id=f"msg_{uuid.uuid4().hex}",
                    subscription_id=subscription_id,
                    event_number=rows[-1].event_number,
                    digest_of=[row.event_number for row in rows],
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
            bundled += 1
    return bundled


async def send_heartbeats(runtime: ServiceRuntime, client: httpx.AsyncClient, now: datetime) -> int:
    """A signed heartbeat to each webhook that has heard nothing for its heartbeat period."""
    sent = 0
    async with runtime.db.transaction() as session:
        quiet = (
            await session.execute(
                select(SubscriptionRow)
                .where(
                    SubscriptionRow.status == "active",
                    SubscriptionRow.channel == "rest-hook",
                    SubscriptionRow.heartbeat_seconds.is_not(None),
                )
                .with_for_update(skip_locked=True)
            )
        ).scalars()
        for subscription in quiet:
            assert subscription.heartbeat_seconds is not None
            since = subscription.last_sent_at or subscription.created_at
            if now - since < timedelta(seconds=subscription.heartbeat_seconds):
                continue
            body = json.dumps(
                {
                    "type": "heartbeat",
                    "subscription_id": subscription.subscription_id,
                    "events_since_subscription_start": subscription.events_since_start,
                },
                separators=(",", ":"),
            ).encode()
            headers = signature_headers(subscription, f"msg_{uuid.uuid4().hex}", body, now)
            status_code, _ = await _post(client, subscription.endpoint, body, headers)
            if status_code is not None and 200 <= status_code < 300:
                subscription.last_sent_at = now
                sent += 1
    return sent


async def deliver_due(runtime: ServiceRuntime, client: httpx.AsyncClient) -> int:
    """Attempt every delivery that is due; returns how many were attempted."""
    attempted = 0
    schedule = tuple(
        timedelta(seconds=seconds) for seconds in runtime.settings.delivery_retry_seconds
    )
    while True:
        async with runtime.db.transaction() as session:
            now = datetime.now(UTC)
            delivery = (
                await session.execute(
                    select(DeliveryRow)
                    .where(DeliveryRow.status == "pending", DeliveryRow.next_attempt_at <= now)
                    .order_by(DeliveryRow.next_attempt_at, DeliveryRow.event_number)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
            ).scalar_one_or_none()
            if delivery is None:
                return attempted
            subscription = await session.get(
                SubscriptionRow, delivery.subscription_id, with_for_update=True
            )
            assert subscription is not None
            if subscription.status != "active":
                delivery.status, delivery.next_attempt_at = "cancelled", None
                continue
            numbers = delivery.digest_of or [delivery.event_number]
            entries = await _entries(session, delivery.subscription_id, numbers)
            started = time.monotonic()
            if subscription.channel == "email":
                status_code, error = None, None
                for entry in entries:
                    state = await session.get(CandidateState, entry.candidate_id)
                    status_code, error = await _send_email(
                        runtime, subscription, entry, state.name if state else None
                    )
                    if error:
                        break
            else:
                if delivery.digest_of:
                    body = digest_body(subscription, list(zip(numbers, entries, strict=True)))
                else:
                    body = notification_body(subscription, delivery.event_number, entries[0])
                headers = signature_headers(subscription, delivery.delivery_id, body, now)
                status_code, error = await _post(client, subscription.endpoint, body, headers)
            session.add(
                AttemptRow(
                    attempt_id=str(uuid.uuid4()),
                    delivery_id=delivery.delivery_id,
                    attempted_at=now,
                    status_code=status_code,
                    error=error,
                    duration_ms=int((time.monotonic() - started) * 1000),
                )
            )
            delivery.attempts += 1
            attempted += 1
            if status_code is not None and (200 <= status_code < 300 or status_code == 250):
                delivery.status, delivery.next_attempt_at = "delivered", None
                subscription.last_sent_at = now
            elif status_code == 410:  # the receiver says it is gone for good
                delivery.status, delivery.next_attempt_at = "gone", None
                subscription.status = "off"
                subscription.updated_at = now
            else:
                delay = next_attempt_delay(delivery.attempts, schedule)
                if delay is None:
                    delivery.status, delivery.next_attempt_at = "failed", None
                    subscription.status = "error"
                    subscription.updated_at = now
                else:
                    delivery.next_attempt_at = now + delay


async def deliver_webhooks(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
    """Background loop: deliver what is due, then look again shortly."""
    timeout = httpx.Timeout(runtime.settings.webhook_timeout_seconds)
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
        next_digest = datetime.now(UTC) + timedelta(seconds=runtime.settings.digest_seconds)
        while not stop.is_set():
            try:
                now = datetime.now(UTC)
                if now >= next_digest:
                    await send_digests(runtime, now)
                    next_digest = now + timedelta(seconds=runtime.settings.digest_seconds)
                await deliver_due(runtime, client)
                await send_heartbeats(runtime, client, datetime.now(UTC))
            except Exception:
                log.exception("webhook delivery failed; retrying shortly")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=runtime.settings.delivery_poll_seconds)
