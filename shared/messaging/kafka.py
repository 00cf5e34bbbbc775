"""Kafka clients configured the way every service needs them."""

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition


def make_producer(bootstrap_servers: str) -> AIOKafkaProducer:
    # Idempotence (which implies acks=all) keeps retried sends from duplicating or
    # reordering records within a partition.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        request_timeout_ms=15_000,
    )


def make_consumer(bootstrap_servers: str, group_id: str, topics: list[str]) -> AIOKafkaConsumer:
    # Offsets are committed by hand, and only after the effect is committed in the database.
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_poll_records=100,
    )


async def topic_partitions(
    consumer: AIOKafkaConsumer, topic: str, attempts: int = 50
) -> list[TopicPartition]:
    """The partitions of ``topic``, for a consumer that assigns them itself.

    A consumer without subscriptions has no metadata of the topic yet, and aiokafka has
    no public way to ask for it, hence the refresh through its client.
    """
    for _ in range(attempts):
        numbers = consumer.partitions_for_topic(topic)
        if numbers:
            return [TopicPartition(topic, number) for number in sorted(numbers)]
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.1)
    raise LookupError(f"topic {topic} has no partitions (does it exist?)")
