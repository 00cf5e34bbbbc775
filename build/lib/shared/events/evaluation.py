"""Events published by evaluation: the expert committee's assessments and decisions."""

from datetime import date
from typing import ClassVar

from pydantic import Field

from shared.events.codes import SupportDecision
from shared.events.registry import Contract, EventPayload, StageChange


class CriterionResult(Contract):
    criterion_code: str = Field(min_length=1, max_length=64)
    met: bool | None = Field(description="None while the committee has not concluded")
    note: str = Field(default="", max_length=2000)


class CandidateAssessed(EventPayload):
    producer: ClassVar[str] = "evaluation"
    name: ClassVar[str] = "candidate.assessed"

    assessment_id: str
    meeting_id: str | None = None
    results: list[CriterionResult] = Field(min_length=1)
    summary: str = Field(default="", max_length=4000)


class CandidateShortlisted(EventPayload):
    """支援候補の同定."""

    producer: ClassVar[str] = "evaluation"
    name: ClassVar[str] = "candidate.shortlisted"

    meeting_id: str | None = None
    rationale: str = Field(min_length=1, max_length=4000)
    stage: StageChange


class SupportDecided(EventPayload):
    """支援対象の選定・最終決定; a deferred decision leaves the stage where it was."""

    producer: ClassVar[str] = "evaluation"
    name: ClassVar[str] = "support.decided"

    decision_id: str
    decision: SupportDecision
    rationale: str = Field(min_length=1, max_length=4000)
    conditions: list[str] = Field(default_factory=list, max_length=50)
    decided_on: date
    meeting_id: str | None = None
    stage: StageChange


class SupportDecisionCorrected(EventPayload):
    producer: ClassVar[str] = "evaluation"
    name: ClassVar[str] = "support.decision-corrected"

    decision_id: str
    previous_decision: SupportDecision
    decision: SupportDecision
    rationale: str = Field(min_length=1, max_length=4000)
    conditions: list[str] = Field(default_factory=list, max_length=50)
    decided_on: date
    reason: str = Field(min_length=1, max_length=2000, description="Why it was corrected")
    stage: StageChange
