"""The messaging tables that live in every service's own database."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
)

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
_POSITION = BigInteger().with_variant(Integer(), "sqlite")


@dataclass(frozen=True)
class MessagingTables:
    outbox: Table
    inbox: Table
    sequences: Table

    @classmethod
    def define(cls, metadata: MetaData) -> MessagingTables:
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
            Column("created_at", DateTime(timezone=True), nullable=False),
            Column("published_at", DateTime(timezone=True), nullable=True),
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
            Column("processed_at", DateTime(timezone=True), nullable=False),
            PrimaryKeyConstraint("consumer_group", "event_id"),
        )
        sequences = Table(
            "event_sequences",
            metadata,
            Column("subject", String(64), primary_key=True),
            Column("last_sequence", Integer, nullable=False),
        )
        return cls(outbox=outbox, inbox=inbox, sequences=sequences)
