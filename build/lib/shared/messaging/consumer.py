"""Consumes events and applies each one exactly once through the inbox.

For each record: parse and validate it (a malformed one goes to the dead-letter topic
with the reason, and the consumer carries on); in one database transaction record the
event id in the inbox and apply the handler's effect (a duplicate is skipped); commit
the Kafka offset only after that transaction committed. Transient failures are retried
with backoff a bounded number of times before the record is dead-lettered.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import Database, dialect_insert
from shared.events import CloudEvent, EventPayload, InvalidEvent, payload_model
from shared.messaging.outbox import Outbox
from shared.tables import ServiceTables

log = logging.getLogger(__name__)


@dataclass
class Reaction:
    """What a handler gets: the event, its payload, and the transaction to act in."""

    session: AsyncSession
    event: CloudEvent
    payload: EventPayload
    outbox: Outbox | None

    async def publish(self, payload: EventPayload) -> CloudEvent:
        """Publish a consequence in the same transaction, tracing it to its cause."""
        if self.outbox is None:
            raise RuntimeError("this consumer publishes nothing")
        return await self.outbox.add(
            self.session,
            payload,
            correlation_id=self.event.correlationid or self.event.id,
            causation_id=self.event.id,
        )


Handler = Callable[[Reaction], Awaitable[None]]

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OperationalError, OSError, TimeoutError)


class PermanentEventError(Exception):
    """The event can never be applied (it breaks an invariant); dead-letter it."""


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    DEAD_LETTERED = "dead-lettered"


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, TRANSIENT_ERRORS)


class EventConsumer:
    def __init__(
        self,
        *,
        db: Database,
        tables: ServiceTables,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        group: str,
        dead_letter_topic: str,
        handlers: Mapping[str, Handler],
        outbox: Outbox | None = None,
        max_attempts: int = 5,
        retry_backoff_seconds: float = 0.5,
    ) -> None:
        unknown = [event_type for event_type in handlers if payload_model(event_type) is None]
        if unknown:
            raise ValueError(f"handlers for undeclared event types: {unknown}")
        self.db = db
        self.inbox = tables.inbox
        self.consumer = consumer
        self.producer = producer
        self.group = group
        self.dead_letter_topic = dead_letter_topic
        self.handlers = dict(handlers)
        self.outbox = outbox
        self.max_attempts = max_attempts
        self.retry_backoff_seconds = retry_backoff_seconds

    async def handle(self, record: ConsumerRecord) -> Outcome:
        try:
            event = CloudEvent.from_kafka(record.key, record.value, list(record.headers))
        except InvalidEvent as error:
            return await self._dead_letter(record, f"invalid envelope: {error}")
        handler = self.handlers.get(event.type)
        if handler is None:
            return Outcome.IGNORED
        model = payload_model(event.type)
        assert model is not None  # checked in __init__
        try:
            payload = model.model_validate(event.data)
        except ValidationError as error:
            return await self._dead_letter(record, f"invalid {event.type} data: {error}")
        if payload.candidate_id != event.subject:
            return await self._dead_letter(record, "data.candidate_id differs from ce_subject")
        for attempt in range(1, self.max_attempts + 1):
            try:
                return await self._apply(event, payload, handler)
            except Exception as error:
                if not _is_transient(error):
                    log.warning("event %s dead-lettered: %r", event.id, error)
                    return await self._dead_letter(record, f"{type(error).__name__}: {error}")
                if attempt == self.max_attempts:
                    return await self._dead_letter(
                        record, f"gave up after {attempt} attempts: {type(error).__name__}: {error}"
                    )
                log.warning("event %s attempt %d failed: %r; retrying", event.id, attempt, error)
                await asyncio.sleep(self.retry_backoff_seconds * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    async def _apply(self, event: CloudEvent, payload: EventPayload, handler: Handler) -> Outcome:
        async with self.db.transaction() as session:
            claimed = await session.execute(
                dialect_insert(session, self.inbox)
                .values(
                    consumer_group=self.group,
                    event_id=event.id,
                    event_type=event.type,
                    subject=event.subject,
                    processed_at=datetime.now(UTC),
                )
                .on_conflict_do_nothing()
                .returning(self.inbox.c.event_id)
            )
            if claimed.first() is None:
                return Outcome.DUPLICATE
            await handler(Reaction(session, event, payload, self.outbox))
        return Outcome.APPLIED

    async def _dead_letter(self, record: ConsumerRecord, reason: str) -> Outcome:
        headers = [
            *record.headers,
            ("dlq_reason", reason[:4000].encode()),
            ("dlq_consumer_group", self.group.encode()),
            ("dlq_original_topic", record.topic.encode()),
            ("dlq_original_partition", str(record.partition).encode()),
            ("dlq_original_offset", str(record.offset).encode()),
            ("dlq_failed_at", datetime.now(UTC).isoformat().encode()),
        ]
        await self.producer.send_and_wait(
            self.dead_letter_topic, value=record.value, key=record.key, headers=headers
        )
        log.warning(
            "record %s/%d@%d dead-lettered: %s",
            record.topic,
            record.partition,
            record.offset,
            reason,
        )
        return Outcome.DEAD_LETTERED

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set: the record in hand is finished and committed."""
        while not stop.is_set():
            batch = await self.consumer.getmany(timeout_ms=500)
            done: dict[TopicPartition, int] = {}
            for partition, records in batch.items():
                for record in records:
                    if stop.is_set():
                        break
                    try:
                        await self.handle(record)
                    except Exception:
                        # The database or the broker is away: read this record again later.
                        log.exception("could not process %s@%d", partition, record.offset)
                        self.consumer.seek(partition, record.offset)
                        await asyncio.sleep(self.retry_backoff_seconds)
                        break
                    done[partition] = record.offset + 1
            if done:
                await self.consumer.commit(done)
