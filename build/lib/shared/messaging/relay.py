"""Publishes outbox rows to Kafka in order, then marks them published.

A crash between the broker's acknowledgement and the mark re-sends the batch; the
consumers' inbox absorbs such duplicates, so nothing is lost and nothing applies twice.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import Database
from shared.events import CloudEvent
from shared.tables import ServiceTables

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(
        self,
        *,
        db: Database,
        tables: ServiceTables,
        producer: AIOKafkaProducer,
        topic_name: Callable[[str], str],
        batch_size: int = 200,
        idle_seconds: float = 0.2,
    ) -> None:
        self.db = db
        self.outbox = tables.outbox
        self.producer = producer
        self.topic_name = topic_name
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds

    async def publish_pending(self) -> int:
        """Publish one batch of unpublished rows in outbox order; return how many."""
        async with self.db.transaction() as session:
            # FOR UPDATE makes a second relay of the same service wait, keeping order.
            rows = (
                await session.execute(
                    select(self.outbox.c.position, self.outbox.c.topic, self.outbox.c.envelope)
                    .where(self.outbox.c.published_at.is_(None))
                    .order_by(self.outbox.c.position)
                    .limit(self.batch_size)
                    .with_for_update()
                )
            ).all()
            if not rows:
                return 0
            deliveries = []
            for row in rows:
                event = CloudEvent.model_validate(row.envelope)
                deliveries.append(
                    await self.producer.send(
                        self.topic_name(row.topic),
                        value=event.kafka_value(),
                        key=event.kafka_key(),
                        headers=event.kafka_headers(),
                    )
                )
            await asyncio.gather(*deliveries)
            await self._mark_published(session, [row.position for row in rows])
        return len(rows)

    async def _mark_published(self, session: AsyncSession, positions: list[int]) -> None:
        await session.execute(
            update(self.outbox)
            .where(self.outbox.c.position.in_(positions))
            .values(published_at=datetime.now(UTC))
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop`` is set; the batch in hand is finished first."""
        failures = 0
        while not stop.is_set():
            try:
                published = await self.publish_pending()
                failures = 0
            except Exception:
                failures += 1
                log.exception("outbox relay failed; rows stay pending and are retried")
                published = 0
            if published == 0:
                pause = min(self.idle_seconds * 2**failures, 10.0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=pause)
