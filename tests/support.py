"""Helpers for tests that talk to the real broker and databases."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from shared.messaging.kafka import topic_partitions


async def read_topic(
    bootstrap: str, topic: str, *, expected: int, timeout_s: float = 20.0
) -> list[ConsumerRecord]:
    """Every record of ``topic`` from the beginning, once ``expected`` have arrived.

    Returns what arrived by the timeout, so that a test can assert on the exact count.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        assigned = await topic_partitions(consumer, topic)
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout_s
        while len(records) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for partition_records in batch.values():
                records.extend(partition_records)
        # Anything beyond the expected count would be a duplicate: give it a moment to show.
        batch = await consumer.getmany(timeout_ms=500)
        for partition_records in batch.values():
            records.extend(partition_records)
        return records
    finally:
        await consumer.stop()


async def wait_until(
    condition: Callable[[], Awaitable[bool]], *, timeout_s: float = 20.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def header(record: ConsumerRecord, name: str) -> str | None:
    for key, value in record.headers:
        if key == name:
            return value.decode()
    return None
