"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 02:08:06.757195
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
        "audit_log",
        sa.Column(
            "position",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_client_id", sa.String(length=100), nullable=False),
        sa.Column("actor_institution_id", sa.String(length=100), nullable=True),
        sa.Column("actor_role", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("entity_type", sa.String(length=60), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_audit_log_actor_institution_id"), ["actor_institution_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_audit_log_entity_id"), ["entity_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_occurred_at"), ["occurred_at"], unique=False)

    op.create_table(
        "candidates",
        sa.Column("candidate_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("registered_by", sa.String(length=100), nullable=True),
        sa.Column("stage", sa.String(length=40), nullable=True),
        sa.Column("support_target_id", sa.String(length=36), nullable=True),
        sa.Column("decision_id", sa.String(length=36), nullable=True),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("intake_version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("candidate_id", name=op.f("pk_candidates")),
        sa.UniqueConstraint("support_target_id", name=op.f("uq_candidates_support_target_id")),
    )
    with op.batch_alter_table("candidates", schema=None) as batch_op:
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
        "idempotency_keys",
        sa.Column("client_id", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_headers", sa.JSON(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "key", name=op.f("pk_idempotency_keys")),
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotency_keys_expires_at"), ["expires_at"], unique=False
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
        "implementations",
        sa.Column("implementation_id", sa.String(length=36), nullable=False),
        sa.Column("candidate_id", sa.String(length=64), nullable=False),
        sa.Column("route", sa.String(length=60), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("target_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["candidates.candidate_id"],
            name=op.f("fk_implementations_candidate_id_candidates"),
        ),
        sa.PrimaryKeyConstraint("implementation_id", name=op.f("pk_implementations")),
        sa.UniqueConstraint("candidate_id", name=op.f("uq_implementations_candidate_id")),
    )
    op.create_table(
        "trials",
        sa.Column("trial_id", sa.String(length=36), nullable=False),
        sa.Column("candidate_id", sa.String(length=64), nullable=False),
        sa.Column("trial_type", sa.String(length=40), nullable=False),
        sa.Column("legal_basis", sa.JSON(), nullable=False),
        sa.Column("jrct_id", sa.String(length=20), nullable=True),
        sa.Column("phase", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=60), nullable=False),
        sa.Column("lead_institution", sa.String(length=100), nullable=False),
        sa.Column("collaborating_institutions", sa.JSON(), nullable=False),
        sa.Column("planned_start_on", sa.Date(), nullable=True),
        sa.Column("planned_end_on", sa.Date(), nullable=True),
        sa.Column("target_enrolment", sa.Integer(), nullable=True),
        sa.Column("started_on", sa.Date(), nullable=True),
        sa.Column("enrolled", sa.Integer(), nullable=False),
        sa.Column("enrolled_as_of", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["candidates.candidate_id"],
            name=op.f("fk_trials_candidate_id_candidates"),
        ),
        sa.PrimaryKeyConstraint("trial_id", name=op.f("pk_trials")),
        sa.UniqueConstraint("jrct_id", name=op.f("uq_trials_jrct_id")),
    )
    with op.batch_alter_table("trials", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trials_candidate_id"), ["candidate_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_trials_lead_institution"), ["lead_institution"], unique=False
        )

    op.create_table(
        "adverse_events",
        sa.Column("adverse_event_id", sa.String(length=36), nullable=False),
        sa.Column("trial_id", sa.String(length=36), nullable=False),
        sa.Column("meddra_term", sa.String(length=200), nullable=False),
        sa.Column("meddra_code", sa.String(length=8), nullable=True),
        sa.Column("meddra_version", sa.String(length=10), nullable=True),
        sa.Column("seriousness", sa.String(length=20), nullable=False),
        sa.Column("seriousness_criteria", sa.JSON(), nullable=False),
        sa.Column("severity", sa.String(length=20), nullable=True),
        sa.Column("ctcae_grade", sa.Integer(), nullable=True),
        sa.Column("causality", sa.String(length=40), nullable=False),
        sa.Column("expected", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(length=30), nullable=False),
        sa.Column("onset_on", sa.Date(), nullable=False),
        sa.Column("reported_on", sa.Date(), nullable=False),
        sa.Column("report_due_on", sa.Date(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["trial_id"], ["trials.trial_id"], name=op.f("fk_adverse_events_trial_id_trials")
        ),
        sa.PrimaryKeyConstraint("adverse_event_id", name=op.f("pk_adverse_events")),
    )
    with op.batch_alter_table("adverse_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_adverse_events_trial_id"), ["trial_id"], unique=False)

    op.create_table(
        "efficacy_readouts",
        sa.Column("readout_id", sa.String(length=36), nullable=False),
        sa.Column("trial_id", sa.String(length=36), nullable=False),
        sa.Column("endpoint", sa.String(length=500), nullable=False),
        sa.Column("primary", sa.Boolean(), nullable=False),
        sa.Column("result_summary", sa.Text(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["trial_id"], ["trials.trial_id"], name=op.f("fk_efficacy_readouts_trial_id_trials")
        ),
        sa.PrimaryKeyConstraint("readout_id", name=op.f("pk_efficacy_readouts")),
    )
    with op.batch_alter_table("efficacy_readouts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_efficacy_readouts_trial_id"), ["trial_id"], unique=False
        )

    op.create_table(
        "obligations",
        sa.Column("obligation_id", sa.String(length=36), nullable=False),
        sa.Column("candidate_id", sa.String(length=64), nullable=False),
        sa.Column("trial_id", sa.String(length=36), nullable=True),
        sa.Column("rule_code", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("fulfilled_on", sa.Date(), nullable=True),
        sa.Column("overdue_announced_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["candidates.candidate_id"],
            name=op.f("fk_obligations_candidate_id_candidates"),
        ),
        sa.ForeignKeyConstraint(
            ["trial_id"], ["trials.trial_id"], name=op.f("fk_obligations_trial_id_trials")
        ),
        sa.PrimaryKeyConstraint("obligation_id", name=op.f("pk_obligations")),
    )
    with op.batch_alter_table("obligations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_obligations_candidate_id"), ["candidate_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_obligations_due_on"), ["due_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_obligations_trial_id"), ["trial_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("obligations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_obligations_trial_id"))
        batch_op.drop_index(batch_op.f("ix_obligations_due_on"))
        batch_op.drop_index(batch_op.f("ix_obligations_candidate_id"))

    op.drop_table("obligations")
    with op.batch_alter_table("efficacy_readouts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_efficacy_readouts_trial_id"))

    op.drop_table("efficacy_readouts")
    with op.batch_alter_table("adverse_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_adverse_events_trial_id"))

    op.drop_table("adverse_events")
    with op.batch_alter_table("trials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trials_lead_institution"))
        batch_op.drop_index(batch_op.f("ix_trials_candidate_id"))

    op.drop_table("trials")
    op.drop_table("implementations")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_outbox_unpublished",
            postgresql_where=sa.text("published_at IS NULL"),
            sqlite_where=sa.text("published_at IS NULL"),
        )

    op.drop_table("outbox")
    op.drop_table("inbox")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_expires_at"))

    op.drop_table("idempotency_keys")
    op.drop_table("event_sequences")
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_candidates_stage"))
        batch_op.drop_index(batch_op.f("ix_candidates_registered_by"))

    op.drop_table("candidates")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_occurred_at"))
        batch_op.drop_index(batch_op.f("ix_audit_log_entity_id"))
        batch_op.drop_index(batch_op.f("ix_audit_log_actor_institution_id"))

    op.drop_table("audit_log")
