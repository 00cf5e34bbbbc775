"""The tables every service keeps in its own database, beside its domain tables."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from shared.db import UtcDateTime

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
_POSITION = BigInteger().with_variant(Integer(), "sqlite")


@dataclass(frozen=True)
class ServiceTables:
    """Outbox, inbox and event sequences (messaging); audit trail and idempotency keys."""

    outbox: Table
    inbox: Table
    sequences: Table
    audit: Table
    idempotency: Table

    @classmethod
    def define(cls, metadata: MetaData) -> ServiceTables:
        outbox = Table(
            "outbox",
            metadata,
            Column("position", _POSITION, primary_key=True, autoincrement=True),
            Column("event_id", String(64), nullable=False, unique=True),
            Column("topic", String(200), nullable=False),
            Column("event_type", String(200), nullable=False),
            Column("subject", String(64), nullable=False),
            Column("sequence", Integer, nullable=False),
            Column("envelope", JSON, nullable=False),
            Column("created_at", UtcDateTime(), nullable=False),
            Column("published_at", UtcDateTime(), nullable=True),
        )
        Index(
            "ix_outbox_unpublished",
            outbox.c.position,
            postgresql_where=outbox.c.published_at.is_(None),
            sqlite_where=outbox.c.published_at.is_(None),
        )
        inbox = Table(
            "inbox",
            metadata,
            Column("consumer_group", String(100), nullable=False),
            Column("event_id", String(64), nullable=False),
            Column("event_type", String(200), nullable=False),
            Column("subject", String(64), nullable=False),
            Column("processed_at", UtcDateTime(), nullable=False),
            PrimaryKeyConstraint("consumer_group", "event_id"),
        )
        sequences = Table(
            "event_sequences",
            metadata,
            Column("subject", String(64), primary_key=True),
            Column("last_sequence", Integer, nullable=False),
        )
        audit = Table(
            "audit_log",
            metadata,
            Column("position", _POSITION, primary_key=True, autoincrement=True),
            Column("occurred_at", UtcDateTime(), nullable=False, index=True),
            Column("actor_client_id", String(100), nullable=False),
            Column("actor_institution_id", String(100), nullable=True, index=True),
            Column("actor_role", String(40), nullable=False),
            Column("action", String(100), nullable=False),
            Column("entity_type", String(60), nullable=False),
            Column("entity_id", String(64), nullable=False, index=True),
            Column("changes", JSON, nullable=False),
            Column("reason", Text, nullable=True),
            Column("request_id", String(64), nullable=False),
        )
        idempotency = Table(
            "idempotency_keys",
            metadata,
            Column("client_id", String(100), nullable=False),
            Column("key", String(255), nullable=False),
            Column("request_hash", String(64), nullable=False),
            Column("response_status", Integer, nullable=True),
            Column("response_headers", JSON, nullable=True),
            Column("response_body", Text, nullable=True),
            Column("created_at", UtcDateTime(), nullable=False),
            Column("expires_at", UtcDateTime(), nullable=False, index=True),
            PrimaryKeyConstraint("client_id", "key"),
        )
        return cls(
            outbox=outbox,
            inbox=inbox,
            sequences=sequences,
            audit=audit,
            idempotency=idempotency,
        )
