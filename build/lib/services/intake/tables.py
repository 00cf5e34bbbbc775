"""intake's own database."""

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import UtcDateTime, service_metadata
from shared.tables import ServiceTables


class Base(DeclarativeBase):
    metadata = service_metadata()


service_tables = ServiceTables.define(Base.metadata)


class CandidateRow(Base):
    __tablename__ = "candidates"
    __table_args__ = (
        CheckConstraint("estimated_domestic_patients >= 0", name="patients_not_negative"),
    )

    candidate_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    modality: Mapped[str] = mapped_column(String(40), index=True)
    product_category: Mapped[str] = mapped_column(String(40), index=True)
    target_disease: Mapped[str] = mapped_column(String(200))
    disease_category: Mapped[str] = mapped_column(String(200))
    disease_class: Mapped[str] = mapped_column(String(40), index=True)
    estimated_domestic_patients: Mapped[int] = mapped_column(Integer)
    overseas_approvals: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    domestic_status: Mapped[str] = mapped_column(String(40))
    access_route: Mapped[str] = mapped_column(String(40))
    developer_type: Mapped[str] = mapped_column(String(40))
    developer_name: Mapped[str] = mapped_column(String(200))
    orphan_designation: Mapped[bool] = mapped_column(Boolean)
    pediatric: Mapped[bool] = mapped_column(Boolean)
    drug_loss: Mapped[dict[str, object]] = mapped_column(JSON)
    market_viability_notes: Mapped[str] = mapped_column(Text)
    registered_by: Mapped[str | None] = mapped_column(String(100), index=True)
    stage: Mapped[str] = mapped_column(String(40), index=True)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class SurveyReportRow(Base):
    __tablename__ = "survey_reports"

    report_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    candidate_id: Mapped[str] = mapped_column(ForeignKey("candidates.candidate_id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    submitted_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
