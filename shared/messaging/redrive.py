"""Dead letters: what a consumer group could not apply, and their re-drive by operators.

Re-driving republishes each dead letter to the topic it came from, without the dlq_
headers, and remembers how far it got (a consumer group of its own), so that a record
is re-driven once. The consumer then applies it again, through its inbox; a record that
still cannot be applied comes back to the dead-letter topic with its new reason.
"""

from __future__ import annotations

import time
from typing import Annotated

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from shared.auth import Principal, Scope, require
from shared.messaging.kafka import topic_partitions
from shared.web import Problem, problem_responses

READ_TIMEOUT_S = 5.0


class DeadLetter(BaseModel):
    partition: int
    offset: int
    key: str | None
    event_id: str | None
    event_type: str | None
    reason: str | None
    original_topic: str | None
    original_offset: int | None
    failed_at: str | None


class Redriven(BaseModel):
    redriven: list[DeadLetter]


def _header(record: ConsumerRecord, name: str) -> str | None:
    for key, value in record.headers:
        if key == name:
            return value.decode(errors="replace")
    return None


def _describe(record: ConsumerRecord) -> DeadLetter:
    original_offset = _header(record, "dlq_original_offset")
    return DeadLetter(
        partition=record.partition,
        offset=record.offset,
        key=record.key.decode(errors="replace") if record.key is not None else None,
        event_id=_header(record, "ce_id"),
        event_type=_header(record, "ce_type"),
        reason=_header(record, "dlq_reason"),
        original_topic=_header(record, "dlq_original_topic"),
        original_offset=int(original_offset) if original_offset else None,
        failed_at=_header(record, "dlq_failed_at"),
    )


async def _drain(
    consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int], limit: int
) -> list[ConsumerRecord]:
    """Records up to the end offsets seen at the start, at most ``limit``."""
    found: list[ConsumerRecord] = []
    deadline = time.monotonic() + READ_TIMEOUT_S
    while len(found) < limit and time.monotonic() < deadline:
        positions = {tp: await consumer.position(tp) for tp in ends}
        if all(positions[tp] >= end for tp, end in ends.items()):
            break
        batch = await consumer.getmany(timeout_ms=200, max_records=limit - len(found))
        for records in batch.values():
            found.extend(
                record
                for record in records
                if record.offset < ends[TopicPartition(record.topic, record.partition)]
            )
    return found[:limit]


def dead_letter_router() -> APIRouter:
    router = APIRouter(
        prefix="/dead-letters", tags=["operations"], responses=problem_responses(401, 403, 422, 429)
    )

    @router.get("", response_model=list[DeadLetter])
    async def list_dead_letters(
        request: Request,
        _operator: Annotated[Principal, require(Scope.DEAD_LETTERS_REDRIVE)],
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[DeadLetter]:
        """What this service's consumer could not apply, with the reason, oldest first."""
        runtime = request.app.state.runtime
        consumer = AIOKafkaConsumer(
            bootstrap_servers=runtime.settings.kafka_bootstrap_servers, enable_auto_commit=False
        )
        await consumer.start()
        try:
            partitions = await topic_partitions(consumer, runtime.dead_letter_topic)
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            return [_describe(record) for record in await _drain(consumer, ends, limit)]
        finally:
            await consumer.stop()

    @router.post("/redrive", response_model=Redriven, responses=problem_responses(503))
    async def redrive_dead_letters(
        request: Request,
        _operator: Annotated[Principal, require(Scope.DEAD_LETTERS_REDRIVE)],
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> Redriven:
        """Send the dead letters not yet re-driven back to their topics, oldest first."""
        runtime = request.app.state.runtime
        if runtime.producer is None:
            raise Problem(503, "Not ready", "Kafka is not connected yet.")
        consumer = AIOKafkaConsumer(
            runtime.dead_letter_topic,
            bootstrap_servers=runtime.settings.kafka_bootstrap_servers,
            group_id=f"{runtime.consumer_group}.redrive",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            while not consumer.assignment():
                await consumer.getmany(timeout_ms=100)  # joins the group
            ends = await consumer.end_offsets(list(consumer.assignment()))
            records = await _drain(consumer, ends, limit)
            for record in records:
                original = _header(record, "dlq_original_topic")
                if original is None:
                    continue
                headers = [
                    (name, value) for name, value in record.headers if not name.startswith("dlq_")
                ]
                await runtime.producer.send_and_wait(
                    original, value=record.value, key=record.key, headers=headers
                )
            if records:
                done: dict[TopicPartition, int] = {}
                for record in records:
                    done[TopicPartition(record.topic, record.partition)] = record.offset + 1
                await consumer.commit(done)
            return Redriven(redriven=[_describe(record) for record in records])
        finally:
            await consumer.stop()

    return router
