"""Never lose, never double-apply: the outbox, relay and inbox consumer on real servers.

The consuming side here is a small projection in its own PostgreSQL database, counting
how many times each candidate's event was applied, so that every duplicate shows.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy import Column, Integer, String, Table, func, select
from sqlalchemy.exc import OperationalError

from deploy.local import KafkaBroker
from shared.db import Database, dialect_insert, service_metadata
from shared.events import CloudEvent
from shared.events.intake import CandidateRegistered
from shared.messaging.consumer import EventConsumer, Handler, Reaction
from shared.messaging.kafka import make_consumer, make_producer
from shared.messaging.outbox import Outbox
from shared.messaging.relay import OutboxRelay
from shared.messaging.topics import ensure_topics
from shared.tables import ServiceTables
from tests.examples import cystic_fibrosis
from tests.identities import Identities
from tests.integration.conftest import intake_settings, run_service
from tests.support import header, read_topic, wait_until

pytestmark = pytest.mark.integration

GROUP = "evaluation"
INTAKE_TOPIC = "pipeline.intake.v1"
DEAD_LETTERS = "pipeline.evaluation.dlq"

metadata = service_metadata()
tables = ServiceTables.define(metadata)
applications = Table(
    "applications",
    metadata,
    Column("candidate_id", String(64), primary_key=True),
    Column("times", Integer, nullable=False),
)


async def count_application(reaction: Reaction) -> None:
    session = reaction.session
    await session.execute(
        dialect_insert(session, applications)
        .values(candidate_id=reaction.payload.candidate_id, times=1)
        .on_conflict_do_update(
            index_elements=[applications.c.candidate_id],
            set_={"times": applications.c.times + 1},
        )
    )


def registration(candidate_id: str, **profile_changes: object) -> CloudEvent:
    candidate = {
        **cystic_fibrosis(),
        **profile_changes,
        "candidate_id": candidate_id,
        "stage": "surveyed",
        "version": 1,
    }
    data = {
        "candidate_id": candidate_id,
        "candidate": candidate,
        "stage": {"previous": None, "current": "surveyed"},
    }
    return CloudEvent(
        source="/services/intake",
        type=CandidateRegistered.event_type(),
        subject=candidate_id,
        sequence=1,
        data=data,
    )


@dataclass
class Projection:
    db: Database
    bootstrap: str
    prefix: str

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"

    async def times_applied(self) -> dict[str, int]:
        async with self.db.sessions() as session:
            rows = await session.execute(select(applications.c.candidate_id, applications.c.times))
            return {candidate_id: times for candidate_id, times in rows}

    async def inbox_size(self) -> int:
        async with self.db.sessions() as session:
            return (
                await session.execute(select(func.count()).select_from(tables.inbox))
            ).scalar_one()

    async def pending(self) -> int:
        outbox = tables.outbox
        async with self.db.sessions() as session:
            return (
                await session.execute(
                    select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
                )
            ).scalar_one()

    async def send(self, producer: AIOKafkaProducer, event: CloudEvent) -> None:
        await producer.send_and_wait(
            self.topic(INTAKE_TOPIC),
            value=event.kafka_value(),
            key=event.kafka_key(),
            headers=event.kafka_headers(),
        )

    @contextlib.asynccontextmanager
    async def consuming(
        self, handler: Handler = count_application
    ) -> AsyncIterator[AIOKafkaConsumer]:
        """Run the inbox consumer in the background; yields its Kafka consumer."""
        producer = make_producer(self.bootstrap)
        kafka_consumer = make_consumer(
            self.bootstrap, self.topic(GROUP), [self.topic(INTAKE_TOPIC)]
        )
        await producer.start()
        await kafka_consumer.start()
        consumer = EventConsumer(
            db=self.db,
            tables=tables,
            consumer=kafka_consumer,
            producer=producer,
            group=self.topic(GROUP),
            dead_letter_topic=self.topic(DEAD_LETTERS),
            handlers={CandidateRegistered.event_type(): handler},
            max_attempts=3,
            retry_backoff_seconds=0.05,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(consumer.run(stop))
        try:
            yield kafka_consumer
        finally:
            stop.set()
            await task
            await kafka_consumer.stop()
            await producer.stop()

    async def wait_caught_up(self, kafka_consumer: AIOKafkaConsumer) -> None:
        """Until the group's committed offsets reach the end of every partition."""
        partitions = [
            TopicPartition(self.topic(INTAKE_TOPIC), number)
            for number in sorted(kafka_consumer.partitions_for_topic(self.topic(INTAKE_TOPIC)))
        ]

        async def caught_up() -> bool:
            ends = await kafka_consumer.end_offsets(partitions)
            committed = [await kafka_consumer.committed(tp) or 0 for tp in partitions]
            return committed == [ends[tp] for tp in partitions]

        await wait_until(caught_up, what="the consumer to commit every record")


@pytest.fixture
async def projection(
    database_url: str, kafka_bootstrap: str, topic_prefix: str
) -> AsyncIterator[Projection]:
    db = Database(database_url)
    async with db.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield Projection(db=db, bootstrap=kafka_bootstrap, prefix=topic_prefix)
    await db.dispose()


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    client = make_producer(kafka_bootstrap)
    await client.start()
    yield client
    await client.stop()


async def test_the_same_event_delivered_twice_is_applied_once(
    projection: Projection, producer: AIOKafkaProducer
) -> None:
    event = registration("cand-1")
    await projection.send(producer, event)
    await projection.send(producer, event)

    async with projection.consuming() as kafka_consumer:
        await projection.wait_caught_up(kafka_consumer)

    assert await projection.times_applied() == {"cand-1": 1}
    assert await projection.inbox_size() == 1


async def test_malformed_records_are_dead_lettered_and_the_consumer_carries_on(
    projection: Projection, producer: AIOKafkaProducer
) -> None:
    topic = projection.topic(INTAKE_TOPIC)
    valid = registration("cand-ok")
    not_json = registration("cand-a")
    await producer.send_and_wait(
        topic, value=b"{not json", key=not_json.kafka_key(), headers=not_json.kafka_headers()
    )
    await producer.send_and_wait(topic, value=b"{}", key=b"cand-b")  # no envelope at all
    await projection.send(producer, registration("cand-c", estimated_domestic_patients=-5))
    await projection.send(producer, valid)

    async with projection.consuming() as kafka_consumer:
        await projection.wait_caught_up(kafka_consumer)

    assert await projection.times_applied() == {"cand-ok": 1}
    dead = await read_topic(projection.bootstrap, projection.topic(DEAD_LETTERS), expected=3)
    reasons = {record.key.decode(): header(record, "dlq_reason") for record in dead}
    assert set(reasons) == {"cand-a", "cand-b", "cand-c"}
    assert "value is not JSON" in reasons["cand-a"]
    assert "ce_specversion" in reasons["cand-b"]
    assert "estimated_domestic_patients" in reasons["cand-c"]
    assert all(header(r, "dlq_original_topic") == topic for r in dead)
    assert all(header(r, "dlq_consumer_group") == projection.topic(GROUP) for r in dead)


async def test_transient_failures_are_retried_and_applied_once(
    projection: Projection, producer: AIOKafkaProducer
) -> None:
    failures_left = 2

    async def flaky(reaction: Reaction) -> None:
        nonlocal failures_left
        if failures_left:
            failures_left -= 1
            raise OperationalError("UPDATE applications", {}, ConnectionResetError("reset"))
        await count_application(reaction)

    await projection.send(producer, registration("cand-flaky"))
    async with projection.consuming(flaky) as kafka_consumer:
        await projection.wait_caught_up(kafka_consumer)

    assert failures_left == 0
    assert await projection.times_applied() == {"cand-flaky": 1}
    assert (
        await read_topic(
            projection.bootstrap, projection.topic(DEAD_LETTERS), expected=0, timeout_s=1
        )
        == []
    )


async def test_a_relay_stopped_between_send_and_mark_causes_a_duplicate_the_inbox_absorbs(
    projection: Projection, producer: AIOKafkaProducer, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = Outbox(tables, producer="intake", source="/services/intake")
    payload = CandidateRegistered.model_validate(registration("cand-relay").data)
    async with projection.db.transaction() as session:
        await outbox.add(session, payload)

    relay = OutboxRelay(
        db=projection.db, tables=tables, producer=producer, topic_name=projection.topic
    )

    async def crash(*_args: object) -> None:
        raise RuntimeError("relay killed after the broker acknowledged")

    with monkeypatch.context() as patch:
        patch.setattr(relay, "_mark_published", crash)
        with pytest.raises(RuntimeError):
            await relay.publish_pending()
    assert await projection.pending() == 1  # the mark never committed

    assert await relay.publish_pending() == 1  # a restarted relay sends it again
    assert await projection.pending() == 0
    records = await read_topic(projection.bootstrap, projection.topic(INTAKE_TOPIC), expected=2)
    assert len(records) == 2
    assert len({header(record, "ce_id") for record in records}) == 1

    async with projection.consuming() as kafka_consumer:
        await projection.wait_caught_up(kafka_consumer)
    assert await projection.times_applied() == {"cand-relay": 1}
    assert await projection.inbox_size() == 1


async def test_events_pending_while_the_broker_is_down_are_all_published_after_restart(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, identities: Identities
) -> None:
    broker = KafkaBroker(tmp_path_factory.mktemp("restarted-broker"))
    # Starting and stopping block; in a thread, the service keeps running meanwhile.
    await asyncio.to_thread(broker.start)
    try:
        await ensure_topics(broker.bootstrap_servers, prefix="r.", max_replication=1)
        settings = intake_settings(database_url, broker.bootstrap_servers, "r.", identities)
        async with run_service(settings, identities) as intake:
            ids = []
            for _ in range(3):
                reply = await intake.client.post("/candidates", json=cystic_fibrosis())
                ids.append(reply.json()["candidate_id"])
            await wait_until(lambda: _no_pending(intake), what="first events published")

            await asyncio.to_thread(broker.stop)
            for _ in range(3):
                reply = await intake.client.post("/candidates", json=cystic_fibrosis())
                assert reply.status_code == 201  # the API does not need the broker
                ids.append(reply.json()["candidate_id"])
            assert await intake.pending_events() == 3

            await asyncio.to_thread(broker.start)
            await wait_until(
                lambda: _no_pending(intake),
                timeout_s=90,
                what="pending events published",
            )
        records = await read_topic(broker.bootstrap_servers, "r.pipeline.intake.v1", expected=6)
        # None lost. A batch cut off by the broker's stop may have been sent twice
        # (at least once); consumers' inboxes absorb that.
        assert {record.key.decode() for record in records} == set(ids)
        assert len({header(record, "ce_id") for record in records}) == len(ids)
    finally:
        await asyncio.to_thread(broker.stop)


async def _no_pending(intake) -> bool:  # type: ignore[no-untyped-def]
    return await intake.pending_events() == 0
