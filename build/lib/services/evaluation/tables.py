"""evaluation's own database, with its projection of intake's candidates."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import UtcDateTime, service_metadata
from shared.tables import ServiceTables


class Base(DeclarativeBase):
    metadata = service_metadata()


service_tables = ServiceTables.define(Base.metadata)


class CandidateView(Base):
    """What evaluation knows of a candidate, built from intake's events."""

    __tablename__ = "candidates"

    candidate_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    modality: Mapped[str | None] = mapped_column(String(40))
    disease_class: Mapped[str | None] = mapped_column(String(40))
    target_disease: Mapped[str | None] = mapped_column(String(200))
    registered_by: Mapped[str | None] = mapped_column(String(100), index=True)
    stage: Mapped[str] = mapped_column(String(40), index=True)
    intake_version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class MeetingRow(Base):
    __tablename__ = "meetings"

    meeting_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    held_on: Mapped[date] = mapped_column(Date)
    agenda: Mapped[list[str]] = mapped_column(JSON)
    candidate_ids: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class CriterionRow(Base):
    """A requirement the committee sets for support targets (要件), kept as data."""

    __tablename__ = "criteria"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AssessmentRow(Base):
    __tablename__ = "assessments"

    assessment_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    candidate_id: Mapped[str] = mapped_column(ForeignKey("candidates.candidate_id"), index=True)
    meeting_id: Mapped[str | None] = mapped_column(ForeignKey("meetings.meeting_id"))
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    summary: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class DecisionRow(Base):
    """The committee's current support decision on a candidate; its history is the audit."""

    __tablename__ = "decisions"

    decision_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    candidate_id: Mapped[str] = mapped_column(ForeignKey("candidates.candidate_id"), unique=True)
    decision: Mapped[str] = mapped_column(String(20))
    rationale: Mapped[str] = mapped_column(Text)
    conditions: Mapped[list[str]] = mapped_column(JSON)
    decided_on: Mapped[date] = mapped_column(Date)
    meeting_id: Mapped[str | None] = mapped_column(ForeignKey("meetings.meeting_id"))
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
