"""notify's own database: the cross-stage read model, subscriptions and deliveries."""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import UtcDateTime, service_metadata
from shared.tables import ServiceTables


class Base(DeclarativeBase):
    metadata = service_metadata()


service_tables = ServiceTables.define(Base.metadata)


class TimelineEntry(Base):
    """One pipeline event about a candidate, from whichever service published it."""

    __tablename__ = "timeline"

    # The order notify received events in: live-stream clients resume from a position.
    position: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    candidate_id: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(60))
    event_type: Mapped[str] = mapped_column(String(200))
    sequence: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    stage_previous: Mapped[str | None] = mapped_column(String(40))
    stage_current: Mapped[str | None] = mapped_column(String(40))
    urgent: Mapped[bool] = mapped_column(Boolean)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class CandidateState(Base):
    """Where a candidate stands, and every stage it has reached (for the funnel)."""

    __tablename__ = "candidate_states"

    candidate_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    modality: Mapped[str | None] = mapped_column(String(40))
    disease_class: Mapped[str | None] = mapped_column(String(40))
    registered_by: Mapped[str | None] = mapped_column(String(100), index=True)
    stage: Mapped[str | None] = mapped_column(String(40))
    stage_time: Mapped[datetime | None] = mapped_column(UtcDateTime())
    stages_reached: Mapped[list[str]] = mapped_column(JSON)


class SubscriptionRow(Base):
    __tablename__ = "subscriptions"

    subscription_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner_client_id: Mapped[str] = mapped_column(String(100), index=True)
    owner_institution_id: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(20))
    endpoint: Mapped[str] = mapped_column(String(2000))
    language: Mapped[str] = mapped_column(String(5))
    filters: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), index=True)
    secrets: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    events_since_start: Mapped[int] = mapped_column(Integer)
    digest: Mapped[bool] = mapped_column(Boolean)
    heartbeat_seconds: Mapped[int | None] = mapped_column(Integer)
    last_sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class NotificationRow(Base):
    """The n-th event of a subscription: numbers are contiguous, so gaps show."""

    __tablename__ = "notifications"
    __table_args__ = (PrimaryKeyConstraint("subscription_id", "event_number"),)

    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.subscription_id"))
    event_number: Mapped[int] = mapped_column(Integer)
    event_id: Mapped[str] = mapped_column(ForeignKey("timeline.event_id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class DeliveryRow(Base):
    """One notification's delivery to a webhook; its id is the webhook-id receivers see."""

    __tablename__ = "deliveries"

    delivery_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("subscriptions.subscription_id"), index=True
    )
    event_number: Mapped[int] = mapped_column(Integer)
    # A digest delivers several held notifications at once: their numbers, in order.
    digest_of: Mapped[list[int] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), index=True)
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AttemptRow(Base):
    __tablename__ = "delivery_attempts"

    attempt_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.delivery_id"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)
