"""Kafka clients configured the way every service needs them."""

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


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
