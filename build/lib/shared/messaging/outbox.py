"""The transactional outbox: an event is stored in the same transaction as its state change."""

from datetime import UTC, datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import dialect_insert
from shared.events import CloudEvent, EventPayload
from shared.tables import ServiceTables


class Outbox:
    """Appends a service's events to its outbox table; the relay publishes them later."""

    def __init__(self, tables: ServiceTables, *, producer: str, source: str) -> None:
        self.tables = tables
        self.producer = producer
        self.source = source

    async def add(
        self,
        session: AsyncSession,
        payload: EventPayload,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> CloudEvent:
        if payload.producer != self.producer:
            raise TypeError(f"{self.producer} may not publish {payload.event_type()}")
        event = CloudEvent(
            source=self.source,
            type=payload.event_type(),
            subject=payload.candidate_id,
            sequence=await self._next_sequence(session, payload.candidate_id),
            data=payload.model_dump(mode="json"),
            correlationid=correlation_id,
            causationid=causation_id,
        )
        await session.execute(
            insert(self.tables.outbox).values(
                event_id=event.id,
                topic=payload.topic(),
                event_type=event.type,
                subject=event.subject,
                sequence=event.sequence,
                envelope=event.model_dump(mode="json"),
                created_at=datetime.now(UTC),
            )
        )
        return event

    async def _next_sequence(self, session: AsyncSession, subject: str) -> int:
        # One atomic upsert: concurrent writers for the same candidate queue on its row,
        # so sequence numbers stay gap-free and unique.
        sequences = self.tables.sequences
        statement = (
            dialect_insert(session, sequences)
            .values(subject=subject, last_sequence=1)
            .on_conflict_do_update(
                index_elements=[sequences.c.subject],
                set_={"last_sequence": sequences.c.last_sequence + 1},
            )
            .returning(sequences.c.last_sequence)
        )
        return (await session.execute(statement)).scalar_one()
