"""followup's own database."""

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import UtcDateTime, service_metadata
from shared.tables import ServiceTables


class Base(DeclarativeBase):
    metadata = service_metadata()


service_tables = ServiceTables.define(Base.metadata)


class CandidateView(Base):
    """A candidate as followup knows it: from intake and evaluation events, then its own."""

    __tablename__ = "candidates"

    candidate_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    registered_by: Mapped[str | None] = mapped_column(String(100), index=True)
    stage: Mapped[str | None] = mapped_column(String(40), index=True)
    support_target_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    decision_id: Mapped[str | None] = mapped_column(String(36))
    conditions: Mapped[list[str]] = mapped_column(JSON)
    intake_version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class TrialRow(Base):
    __tablename__ = "trials"

    trial_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    candidate_id: Mapped[str] = mapped_column(ForeignKey("candidates.candidate_id"), index=True)
    trial_type: Mapped[str] = mapped_column(String(40))
    legal_basis: Mapped[list[str]] = mapped_column(JSON)
    jrct_id: Mapped[str | None] = mapped_column(String(20), unique=True)
    phase: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(60))
    lead_institution: Mapped[str] = mapped_column(String(100), index=True)
    collaborating_institutions: Mapped[list[str]] = mapped_column(JSON)
    planned_start_on: Mapped[date | None] = mapped_column(Date)
    planned_end_on: Mapped[date | None] = mapped_column(Date)
    target_enrolment: Mapped[int | None] = mapped_column(Integer)
    started_on: Mapped[date | None] = mapped_column(Date)
    enrolled: Mapped[int] = mapped_column(Integer)
    enrolled_as_of: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class EfficacyReadoutRow(Base):
    __tablename__ = "efficacy_readouts"

    readout_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    trial_id: Mapped[str] = mapped_column(ForeignKey("trials.trial_id"), index=True)
    endpoint: Mapped[str] = mapped_column(String(500))
    primary: Mapped[bool] = mapped_column(Boolean)
    result_summary: Mapped[str] = mapped_column(Text)
    as_of: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AdverseEventRow(Base):
    """Safety data, kept apart from efficacy."""

    __tablename__ = "adverse_events"

    adverse_event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    trial_id: Mapped[str] = mapped_column(ForeignKey("trials.trial_id"), index=True)
    meddra_term: Mapped[str] = mapped_column(String(200))
    meddra_code: Mapped[str | None] = mapped_column(String(8))
    meddra_version: Mapped[str | None] = mapped_column(String(10))
    seriousness: Mapped[str] = mapped_column(String(20))
    seriousness_criteria: Mapped[list[str]] = mapped_column(JSON)
    severity: Mapped[str | None] = mapped_column(String(20))
    ctcae_grade: Mapped[int | None] = mapped_column(Integer)
    causality: Mapped[str] = mapped_column(String(40))
    expected: Mapped[bool] = mapped_column(Boolean)
    outcome: Mapped[str] = mapped_column(String(30))
    onset_on: Mapped[date] = mapped_column(Date)
    reported_on: Mapped[date] = mapped_column(Date)
    report_due_on: Mapped[date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ObligationRow(Base):
    """A report owed by a deadline rule; overdue ones are announced once."""

    __tablename__ = "obligations"

    obligation_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    candidate_id: Mapped[str] = mapped_column(ForeignKey("candidates.candidate_id"), index=True)
    trial_id: Mapped[str | None] = mapped_column(ForeignKey("trials.trial_id"), index=True)
    rule_code: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200))
    due_on: Mapped[date] = mapped_column(Date, index=True)
    fulfilled_on: Mapped[date | None] = mapped_column(Date)
    overdue_announced_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ImplementationRow(Base):
    """The social-implementation route chosen for a candidate (最適な社会実装方策)."""

    __tablename__ = "implementations"

    implementation_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    candidate_id: Mapped[str] = mapped_column(ForeignKey("candidates.candidate_id"), unique=True)
    route: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(30))
    target_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
