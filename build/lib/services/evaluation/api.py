"""evaluation's HTTP API: the committee secretariat records meetings, criteria and decisions."""

import uuid
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.evaluation import domain
from services.evaluation.tables import (
    AssessmentRow,
    CandidateView,
    CriterionRow,
    DecisionRow,
    MeetingRow,
)
from shared.auth import Principal, Scope, require
from shared.events.codes import ProgramStage, SupportDecision
from shared.events.evaluation import (
    CandidateAssessed,
    CandidateShortlisted,
    CriterionResult,
    SupportDecided,
    SupportDecisionCorrected,
)
from shared.events.registry import Contract, StageChange
from shared.service import runtime_of
from shared.web import Problem, problem_responses
from shared.writes import Write, Writer, field_changes

Reader = Annotated[Principal, require(Scope.CANDIDATES_READ)]
Secretariat = Annotated[Write, Writer(Scope.DECISIONS_WRITE)]
EntityId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9-]+$")]

candidates = APIRouter(
    prefix="/candidates",
    tags=["candidates"],
    responses=problem_responses(400, 401, 403, 404, 413, 422, 429),
)
meetings = APIRouter(
    prefix="/meetings", tags=["meetings"], responses=problem_responses(400, 401, 403, 413, 422, 429)
)
criteria = APIRouter(
    prefix="/criteria", tags=["criteria"], responses=problem_responses(400, 401, 403, 413, 422, 429)
)


class CandidateOut(Contract):
    candidate_id: str
    name: str | None
    modality: str | None
    disease_class: str | None
    target_disease: str | None
    registered_by: str | None
    stage: ProgramStage
    decision: SupportDecision | None = None


class MeetingIn(Contract):
    title: str = Field(min_length=1, max_length=200)
    held_on: date
    agenda: list[str] = Field(default_factory=list, max_length=50)
    candidate_ids: list[str] = Field(default_factory=list, max_length=200)


class MeetingOut(MeetingIn):
    meeting_id: str


class CriterionIn(Contract):
    code: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    active: bool = True


class AssessmentIn(Contract):
    meeting_id: str | None = Field(default=None, max_length=64)
    results: list[CriterionResult] = Field(min_length=1, max_length=100)
    summary: str = Field(default="", max_length=4000)


class AssessmentOut(AssessmentIn):
    assessment_id: str
    candidate_id: str
    created_at: datetime


class ShortlistingIn(Contract):
    meeting_id: str | None = Field(default=None, max_length=64)
    rationale: str = Field(min_length=1, max_length=4000)


class DecisionIn(Contract):
    decision: SupportDecision
    rationale: str = Field(min_length=1, max_length=4000)
    conditions: list[str] = Field(default_factory=list, max_length=50)
    decided_on: date
    meeting_id: str | None = Field(default=None, max_length=64)


class CorrectionIn(Contract):
    decision: SupportDecision
    rationale: str = Field(min_length=1, max_length=4000)
    conditions: list[str] = Field(default_factory=list, max_length=50)
    decided_on: date
    reason: str = Field(min_length=1, max_length=2000, description="Why the decision changes")


class DecisionOut(BaseModel):
    decision_id: str
    candidate_id: str
    decision: SupportDecision
    rationale: str
    conditions: list[str]
    decided_on: date
    meeting_id: str | None
    version: int


async def _candidate(
    session: AsyncSession, candidate_id: str, principal: Principal, *, for_update: bool = False
) -> CandidateView:
    query = select(CandidateView).where(CandidateView.candidate_id == candidate_id)
    if for_update:
        query = query.with_for_update()
    view = (await session.execute(query)).scalar_one_or_none()
    if view is None or not principal.party_to(view.registered_by):
        raise Problem(404, "Not found", f"No candidate {candidate_id} known to evaluation.")
    return view


async def _decision(session: AsyncSession, candidate_id: str) -> DecisionRow | None:
    query = select(DecisionRow).where(DecisionRow.candidate_id == candidate_id)
    return (await session.execute(query)).scalar_one_or_none()


async def _meeting_exists(session: AsyncSession, meeting_id: str | None) -> None:
    if meeting_id is not None and await session.get(MeetingRow, meeting_id) is None:
        raise Problem(
            422,
            "Invalid request",
            f"No meeting {meeting_id}.",
            errors=[{"field": "meeting_id", "in": "body", "rule": "exists", "message": "unknown"}],
        )


def _conflict(error: domain.RuleViolation) -> Problem:
    return Problem(409, "Conflict", str(error))


def _candidate_out(view: CandidateView, decision: str | None) -> CandidateOut:
    fields = {name: getattr(view, name) for name in CandidateOut.model_fields if name != "decision"}
    return CandidateOut.model_validate({**fields, "decision": decision})


def _decision_out(row: DecisionRow) -> DecisionOut:
    return DecisionOut.model_validate(row, from_attributes=True)


@candidates.get("", response_model=list[CandidateOut])
async def list_candidates(
    request: Request, principal: Reader, stage: ProgramStage | None = None
) -> list[CandidateOut]:
    """Candidates as evaluation knows them, with the committee's decision."""
    query = select(CandidateView, DecisionRow.decision).outerjoin(
        DecisionRow, DecisionRow.candidate_id == CandidateView.candidate_id
    )
    if stage is not None:
        query = query.where(CandidateView.stage == stage.value)
    if not principal.sees_everything:
        query = query.where(CandidateView.registered_by == principal.institution_id)
    async with runtime_of(request).db.sessions() as session:
        rows = (await session.execute(query.order_by(CandidateView.candidate_id))).all()
    return [_candidate_out(view, decision) for view, decision in rows]


@candidates.get("/{candidate_id}", response_model=CandidateOut)
async def get_candidate(
    candidate_id: EntityId, request: Request, principal: Reader
) -> CandidateOut:
    async with runtime_of(request).db.sessions() as session:
        view = await _candidate(session, candidate_id, principal)
        row = await _decision(session, candidate_id)
    return _candidate_out(view, row.decision if row else None)


@candidates.get("/{candidate_id}/decision", response_model=DecisionOut)
async def get_decision(candidate_id: EntityId, request: Request, principal: Reader) -> DecisionOut:
    async with runtime_of(request).db.sessions() as session:
        await _candidate(session, candidate_id, principal)
        row = await _decision(session, candidate_id)
    if row is None:
        raise Problem(404, "Not found", f"No decision yet on {candidate_id}.")
    return _decision_out(row)


@candidates.post(
    "/{candidate_id}/assessments",
    status_code=status.HTTP_201_CREATED,
    response_model=AssessmentOut,
    responses=problem_responses(409),
)
async def assess_candidate(
    candidate_id: EntityId, assessment: AssessmentIn, write: Secretariat
) -> JSONResponse:
    """Assess a candidate against the committee's criteria."""
    async with write.transaction() as session:
        await _candidate(session, candidate_id, write.principal)
        await _meeting_exists(session, assessment.meeting_id)
        codes = [result.criterion_code for result in assessment.results]
        known = set(
            (
                await session.execute(
                    select(CriterionRow.code).where(
                        CriterionRow.code.in_(codes), CriterionRow.active
                    )
                )
            ).scalars()
        )
        unknown = sorted(set(codes) - known)
        if unknown:
            raise Problem(
                422,
                "Invalid request",
                f"Unknown or inactive criteria: {', '.join(unknown)}.",
                errors=[
                    {"field": "results", "in": "body", "rule": "criterion", "message": code}
                    for code in unknown
                ],
            )
        row = AssessmentRow(
            assessment_id=str(uuid.uuid4()),
            candidate_id=candidate_id,
            created_at=datetime.now(UTC),
            **assessment.model_dump(mode="json"),
        )
        session.add(row)
        await write.audit(
            action="candidate.assessed",
            entity_type="assessment",
            entity_id=row.assessment_id,
            changes=field_changes(None, assessment.model_dump(mode="json")),
        )
        await write.publish(
            CandidateAssessed(
                candidate_id=candidate_id,
                assessment_id=row.assessment_id,
                meeting_id=assessment.meeting_id,
                results=assessment.results,
                summary=assessment.summary,
            )
        )
        response = write.respond(
            AssessmentOut.model_validate(row, from_attributes=True), status_code=201
        )
    return response


@candidates.get("/{candidate_id}/assessments", response_model=list[AssessmentOut])
async def list_assessments(
    candidate_id: EntityId, request: Request, principal: Reader
) -> list[AssessmentOut]:
    async with runtime_of(request).db.sessions() as session:
        await _candidate(session, candidate_id, principal)
        rows = (
            await session.execute(
                select(AssessmentRow)
                .where(AssessmentRow.candidate_id == candidate_id)
                .order_by(AssessmentRow.created_at)
            )
        ).scalars()
        return [AssessmentOut.model_validate(row, from_attributes=True) for row in rows]


@candidates.post(
    "/{candidate_id}/shortlisting", response_model=CandidateOut, responses=problem_responses(409)
)
async def shortlist_candidate(
    candidate_id: EntityId, shortlisting: ShortlistingIn, write: Secretariat
) -> JSONResponse:
    """Identify the candidate as a support candidate (支援候補の同定)."""
    async with write.transaction() as session:
        view = await _candidate(session, candidate_id, write.principal, for_update=True)
        await _meeting_exists(session, shortlisting.meeting_id)
        previous = ProgramStage(view.stage)
        try:
            view.stage = domain.shortlist(previous)
        except domain.RuleViolation as error:
            raise _conflict(error) from error
        view.updated_at = datetime.now(UTC)
        await write.audit(
            action="candidate.shortlisted",
            entity_type="candidate",
            entity_id=candidate_id,
            changes=field_changes({"stage": previous}, {"stage": view.stage}),
            reason=shortlisting.rationale,
        )
        await write.publish(
            CandidateShortlisted(
                candidate_id=candidate_id,
                meeting_id=shortlisting.meeting_id,
                rationale=shortlisting.rationale,
                stage=StageChange(previous=previous, current=view.stage),
            )
        )
        response = write.respond(_candidate_out(view, None))
    return response


@candidates.post(
    "/{candidate_id}/decision",
    status_code=status.HTTP_201_CREATED,
    response_model=DecisionOut,
    responses=problem_responses(409),
)
async def decide_support(
    candidate_id: EntityId, decision: DecisionIn, write: Secretariat
) -> JSONResponse:
    """Record the committee's support decision (支援対象の選定・最終決定)."""
    async with write.transaction() as session:
        view = await _candidate(session, candidate_id, write.principal, for_update=True)
        await _meeting_exists(session, decision.meeting_id)
        row = await _decision(session, candidate_id)
        previous = ProgramStage(view.stage)
        try:
            current = domain.decide(
                previous, decision.decision, SupportDecision(row.decision) if row else None
            )
        except domain.RuleViolation as error:
            raise _conflict(error) from error
        before = _decision_out(row).model_dump(mode="json") if row else None
        if row is None:
            row = DecisionRow(decision_id=str(uuid.uuid4()), candidate_id=candidate_id, version=0)
            session.add(row)
        row.decision = decision.decision
        row.rationale = decision.rationale
        row.conditions = decision.conditions
        row.decided_on = decision.decided_on
        row.meeting_id = decision.meeting_id
        row.version += 1
        row.updated_at = datetime.now(UTC)
        view.stage = current
        view.updated_at = row.updated_at
        out = _decision_out(row)
        await write.audit(
            action="support.decided",
            entity_type="decision",
            entity_id=row.decision_id,
            changes=field_changes(before, out.model_dump(mode="json")),
            reason=decision.rationale,
        )
        await write.publish(
            SupportDecided(
                candidate_id=candidate_id,
                decision_id=row.decision_id,
                decision=decision.decision,
                rationale=decision.rationale,
                conditions=decision.conditions,
                decided_on=decision.decided_on,
                meeting_id=decision.meeting_id,
                stage=StageChange(previous=previous, current=current),
            )
        )
        response = write.respond(out, status_code=201)
    return response


@candidates.post(
    "/{candidate_id}/decision/corrections",
    response_model=DecisionOut,
    responses=problem_responses(409),
)
async def correct_decision(
    candidate_id: EntityId, correction: CorrectionIn, write: Secretariat
) -> JSONResponse:
    """Correct a recorded decision; the reason is required and kept in the audit trail."""
    async with write.transaction() as session:
        view = await _candidate(session, candidate_id, write.principal, for_update=True)
        row = await _decision(session, candidate_id)
        previous = ProgramStage(view.stage)
        current_decision = SupportDecision(row.decision) if row else None
        try:
            current = domain.correct(previous, current_decision, correction.decision)
        except domain.RuleViolation as error:
            raise _conflict(error) from error
        assert row is not None and current_decision is not None
        before = _decision_out(row).model_dump(mode="json")
        row.decision = correction.decision
        row.rationale = correction.rationale
        row.conditions = correction.conditions
        row.decided_on = correction.decided_on
        row.version += 1
        row.updated_at = datetime.now(UTC)
        view.stage = current
        view.updated_at = row.updated_at
        out = _decision_out(row)
        await write.audit(
            action="support.decision-corrected",
            entity_type="decision",
            entity_id=row.decision_id,
            changes=field_changes(before, out.model_dump(mode="json")),
            reason=correction.reason,
        )
        await write.publish(
            SupportDecisionCorrected(
                candidate_id=candidate_id,
                decision_id=row.decision_id,
                previous_decision=current_decision,
                decision=correction.decision,
                rationale=correction.rationale,
                conditions=correction.conditions,
                decided_on=correction.decided_on,
                reason=correction.reason,
                stage=StageChange(previous=previous, current=current),
            )
        )
        response = write.respond(out)
    return response


@meetings.post("", status_code=status.HTTP_201_CREATED, response_model=MeetingOut)
async def schedule_meeting(meeting: MeetingIn, write: Secretariat) -> JSONResponse:
    """Record a committee meeting (検討会) and the candidates on its agenda."""
    row = MeetingRow(
        meeting_id=str(uuid.uuid4()), created_at=datetime.now(UTC), **meeting.model_dump()
    )
    async with write.transaction() as session:
        session.add(row)
        await write.audit(
            action="meeting.scheduled",
            entity_type="meeting",
            entity_id=row.meeting_id,
            changes=field_changes(None, meeting.model_dump(mode="json")),
        )
        response = write.respond(
            MeetingOut.model_validate(row, from_attributes=True),
            status_code=201,
            headers={"Location": f"/meetings/{row.meeting_id}"},
        )
    return response


@meetings.get("", response_model=list[MeetingOut])
async def list_meetings(request: Request, _principal: Reader) -> list[MeetingOut]:
    async with runtime_of(request).db.sessions() as session:
        rows = (await session.execute(select(MeetingRow).order_by(MeetingRow.held_on))).scalars()
        return [MeetingOut.model_validate(row, from_attributes=True) for row in rows]


@meetings.get("/{meeting_id}", response_model=MeetingOut, responses=problem_responses(404))
async def get_meeting(meeting_id: EntityId, request: Request, _principal: Reader) -> MeetingOut:
    async with runtime_of(request).db.sessions() as session:
        row = await session.get(MeetingRow, meeting_id)
    if row is None:
        raise Problem(404, "Not found", f"No meeting {meeting_id}.")
    return MeetingOut.model_validate(row, from_attributes=True)


@criteria.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CriterionIn,
    responses=problem_responses(409),
)
async def define_criterion(criterion: CriterionIn, write: Secretariat) -> JSONResponse:
    """Add a requirement for support targets; the committee defines them, so they are data."""
    async with write.transaction() as session:
        if await session.get(CriterionRow, criterion.code) is not None:
            raise Problem(409, "Conflict", f"Criterion {criterion.code} already exists.")
        session.add(CriterionRow(created_at=datetime.now(UTC), **criterion.model_dump()))
        await write.audit(
            action="criterion.defined",
            entity_type="criterion",
            entity_id=criterion.code,
            changes=field_changes(None, criterion.model_dump(mode="json")),
        )
        response = write.respond(criterion, status_code=201)
    return response


@criteria.get("", response_model=list[CriterionIn])
async def list_criteria(request: Request, _principal: Reader) -> list[CriterionIn]:
    async with runtime_of(request).db.sessions() as session:
        rows = (await session.execute(select(CriterionRow).order_by(CriterionRow.code))).scalars()
        return [CriterionIn.model_validate(row, from_attributes=True) for row in rows]


routers = [candidates, meetings, criteria]
