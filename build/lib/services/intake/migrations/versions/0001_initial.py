"""candidates, survey reports and messaging tables

Revision ID: 0001
Revises:
Create Date: 2026-11-23 01:34:46.348994
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "candidates",
        sa.Column("candidate_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("modality", sa.String(length=40), nullable=False),
        sa.Column("product_category", sa.String(length=40), nullable=False),
        sa.Column("target_disease", sa.String(length=200), nullable=False),
        sa.Column("disease_category", sa.String(length=200), nullable=False),
        sa.Column("disease_class", sa.String(length=40), nullable=False),
        sa.Column("estimated_domestic_patients", sa.Integer(), nullable=False),
        sa.Column("overseas_approvals", sa.JSON(), nullable=False),
        sa.Column("domestic_status", sa.String(length=40), nullable=False),
        sa.Column("access_route", sa.String(length=40), nullable=False),
        sa.Column("developer_type", sa.String(length=40), nullable=False),
        sa.Column("developer_name", sa.String(length=200), nullable=False),
        sa.Column("orphan_designation", sa.Boolean(), nullable=False),
        sa.Column("pediatric", sa.Boolean(), nullable=False),
        sa.Column("drug_loss", sa.JSON(), nullable=False),
        sa.Column("market_viability_notes", sa.Text(), nullable=False),
        sa.Column("registered_by", sa.String(length=100), nullable=True),
        sa.Column("stage", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "estimated_domestic_patients >= 0", name=op.f("ck_candidates_patients_not_negative")
        ),
        sa.PrimaryKeyConstraint("candidate_id", name=op.f("pk_candidates")),
    )
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_candidates_disease_class"), ["disease_class"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_candidates_modality"), ["modality"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_candidates_product_category"), ["product_category"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_candidates_registered_by"), ["registered_by"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_candidates_stage"), ["stage"], unique=False)

    op.create_table(
        "event_sequences",
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("last_sequence", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("subject", name=op.f("pk_event_sequences")),
    )
    op.create_table(
        "inbox",
        sa.Column("consumer_group", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer_group", "event_id", name=op.f("pk_inbox")),
    )
    op.create_table(
        "outbox",
        sa.Column(
            "position",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("envelope", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_outbox")),
        sa.UniqueConstraint("event_id", name=op.f("uq_outbox_event_id")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_unpublished",
            ["position"],
            unique=False,
            postgresql_where=sa.text("published_at IS NULL"),
            sqlite_where=sa.text("published_at IS NULL"),
        )

    op.create_table(
        "survey_reports",
        sa.Column("report_id", sa.String(length=36), nullable=False),
        sa.Column("candidate_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("submitted_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["candidates.candidate_id"],
            name=op.f("fk_survey_reports_candidate_id_candidates"),
        ),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_survey_reports")),
    )
    with op.batch_alter_table("survey_reports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_survey_reports_candidate_id"), ["candidate_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("survey_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_survey_reports_candidate_id"))

    op.drop_table("survey_reports")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_outbox_unpublished",
            postgresql_where=sa.text("published_at IS NULL"),
            sqlite_where=sa.text("published_at IS NULL"),
        )

    op.drop_table("outbox")
    op.drop_table("inbox")
    op.drop_table("event_sequences")
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_candidates_stage"))
        batch_op.drop_index(batch_op.f("ix_candidates_registered_by"))
        batch_op.drop_index(batch_op.f("ix_candidates_product_category"))
        batch_op.drop_index(batch_op.f("ix_candidates_modality"))
        batch_op.drop_index(batch_op.f("ix_candidates_disease_class"))

    op.drop_table("candidates")
