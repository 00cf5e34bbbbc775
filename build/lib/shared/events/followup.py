"""Events published by followup: support targets, trials, safety and social implementation."""

from datetime import date
from typing import ClassVar

from pydantic import Field

from shared.events.codes import (
    AdverseEventOutcome,
    Causality,
    ImplementationRoute,
    ImplementationStatus,
    LegalBasis,
    ReasonStopped,
    Seriousness,
    SeriousnessCriterion,
    Severity,
    StudyPhase,
    StudyStatus,
    TrialType,
)
from shared.events.registry import EventPayload, StageChange


class SupportTargetCreated(EventPayload):
    """A "selected" decision made the candidate a support target (支援対象)."""

    producer: ClassVar[str] = "followup"
    name: ClassVar[str] = "support-target.created"

    support_target_id: str
    decision_id: str


class TrialRegistered(EventPayload):
    producer: ClassVar[str] = "followup"
    name: ClassVar[str] = "trial.registered"

    trial_id: str
    trial_type: TrialType
    legal_basis: list[LegalBasis] = Field(min_length=1)
    jrct_id: str | None = Field(default=None, pattern=r"^jRCT[a-z]?\d{10}$")
    phase: StudyPhase
    status: StudyStatus
    lead_institution: str = Field(min_length=1, max_length=200)
    collaborating_institutions: list[str] = Field(default_factory=list, max_length=50)
    planned_start_on: date | None = None
    planned_end_on: date | None = None
    target_enrolment: int | None = Field(default=None, ge=1, le=10000)


class TrialStarted(EventPayload):
    producer: ClassVar[str] = "followup"
    name: ClassVar[str] = "trial.started"

    trial_id: str
    started_on: date
    status: StudyStatus
    stage: StageChange


class TrialStatusChanged(EventPayload):
    producer: ClassVar[str] = "followup"
    name: ClassVar[str] = "trial.status-changed"

    trial_id: str
    previous_status: StudyStatus
    status: StudyStatus
    effective_on: date
    reason_stopped: ReasonStopped | None = None
    why_stopped: str | None = Field(default=None, max_length=250)


class EnrolmentUpdated(EventPayload):
    producer: ClassVar[str] = "followup"
    name: ClassVar[str] = "enrolment.updated"

    trial_id: str
    enrolled: int = Field(ge=0, le=10000)
    as_of: date


class EfficacyReadoutRecorded(EventPayload):
    producer: ClassVar[str] = "followup"
    name: ClassVar[str] = "efficacy-readout.recorded"

    trial_id: str
    readout_id: str
    endpoint: str = Field(min_length=1, max_length=500)
    primary: bool
    result_summary: str = Field(min_length=1, max_length=8000)
    as_of: date


class AdverseEventReported(EventPayload):
    """Kept apart from efficacy; a serious event is urgent for subscribers."""

    producer: ClassVar[str] = "followup"
    name: ClassVar[str] = "adverse-event.reported"

    trial_id: str
    adverse_event_id: str
    meddra_term: str = Field(min_length=1, max_length=200)
    meddra_code: str | None = Field(default=None, pattern=r"^\d{8}$")
    meddra_version: str | None = Field(default=None, max_length=10)
    seriousness: Seriousness
    seriousness_criteria: list[SeriousnessCriterion] = Field(default_factory=list)
    severity: Severity | None = None
    ctcae_grade: int | None = Field(default=None, ge=1, le=5)
    causality: Causality
    expected: bool
    outcome: AdverseEventOutcome
    onset_on: date
    reported_on: date
    report_due_on: date | None = None


class AdverseEventCorrected(AdverseEventReported):
    producer: ClassVar[str] = "followup"
    name: ClassVar[str] = "adverse-event.corrected"

    reason: str = Field(min_length=1, max_length=2000)


class FollowupReportSubmitted(EventPayload):
    producer: ClassVar[str] = "followup"
    name: ClassVar[str] = "followup-report.submitted"

    trial_id: str
    report_id: str
    rule_code: str
    due_on: date
    submitted_on: date


class DeadlineOverdue(EventPayload):
    """A reporting obligation passed its due date unmet: urgent for subscribers."""

    producer: ClassVar[str] = "followup"
    name: ClassVar[str] = "deadline.overdue"

    trial_id: str | None = None
    obligation_id: str
    rule_code: str
    due_on: date
    detected_on: date


class CandidateStageChanged(EventPayload):
    """A stage move with no richer event of its own (data collection, discontinuation)."""

    producer: ClassVar[str] = "followup"
    name: ClassVar[str] = "candidate.stage-changed"

    stage: StageChange
    reason: str = Field(default="", max_length=2000)
    effective_on: date


class ImplementationDecided(EventPayload):
    """The social-implementation route chosen for the candidate (最適な社会実装方策)."""

    producer: ClassVar[str] = "followup"
    name: ClassVar[str] = "implementation.decided"

    implementation_id: str
    route: ImplementationRoute
    status: ImplementationStatus
    target_on: date | None = None
    stage: StageChange


class ImplementationStatusChanged(EventPayload):
    producer: ClassVar[str] = "followup"
    name: ClassVar[str] = "implementation.status-changed"

    implementation_id: str
    route: ImplementationRoute
    previous_status: ImplementationStatus
    status: ImplementationStatus
    effective_on: date
    reason: str = Field(default="", max_length=2000)
