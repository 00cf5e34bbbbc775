"""followup's HTTP API: lead and collaborating institutions report on supported candidates."""

import uuid
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.followup import domain
from services.followup.tables import (
    AdverseEventRow,
    CandidateView,
    EfficacyReadoutRow,
    ImplementationRow,
    ObligationRow,
    TrialRow,
)
from shared.auth import Principal, Scope, require
from shared.events.codes import (
    AdverseEventOutcome,
    Causality,
    ImplementationRoute,
    ImplementationStatus,
    LegalBasis,
    ProgramStage,
    ReasonStopped,
    Seriousness,
    SeriousnessCriterion,
    Severity,
    StudyPhase,
    StudyStatus,
    TrialType,
)
from shared.events.followup import (
    AdverseEventCorrected,
    AdverseEventReported,
    CandidateStageChanged,
    DeadlineOverdue,
    EfficacyReadoutRecorded,
    EnrolmentUpdated,
    FollowupReportSubmitted,
    ImplementationDecided,
    ImplementationStatusChanged,
    TrialRegistered,
    TrialStarted,
    TrialStatusChanged,
)
from shared.events.registry import Contract, StageChange
from shared.service import ServiceRuntime, runtime_of
from shared.web import Problem, problem_responses
from shared.writes import Write, Writer, field_changes

Reader = Annotated[Principal, require(Scope.CANDIDATES_READ)]
Reporter = Annotated[Write, Writer(Scope.TRIALS_WRITE)]
EntityId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9-]+$")]
RULES = domain.load_rules()

_problems = problem_responses(400, 401, 403, 404, 409, 413, 422, 429)
targets = APIRouter(prefix="/support-targets", tags=["support targets"], responses=_problems)
trials = APIRouter(prefix="/trials", tags=["trials"], responses=_problems)
safety = APIRouter(prefix="/adverse-events", tags=["safety"], responses=_problems)
obligations = APIRouter(prefix="/obligations", tags=["deadlines"], responses=_problems)
implementations = APIRouter(
    prefix="/implementations", tags=["social implementation"], responses=_problems
)
operations = APIRouter(prefix="/deadlines", tags=["operations"], responses=_problems)


# ----- request and response bodies -------------------------------------------------


class TrialIn(Contract):
    trial_type: TrialType
    legal_basis: list[LegalBasis] = Field(min_length=1, max_length=4)
    jrct_id: str | None = Field(default=None, pattern=r"^jRCT[a-z]?\d{10}$")
    phase: StudyPhase
    status: StudyStatus = StudyStatus.NOT_YET_RECRUITING
    collaborating_institutions: list[str] = Field(default_factory=list, max_length=50)
    planned_start_on: date | None = None
    planned_end_on: date | None = None
    target_enrolment: int | None = Field(default=None, ge=1, le=10000)


class TrialOut(TrialIn):
    trial_id: str
    candidate_id: str
    lead_institution: str
    started_on: date | None
    enrolled: int
    enrolled_as_of: date | None


class TrialStart(Contract):
    started_on: date
    status: StudyStatus = StudyStatus.RECRUITING


class StatusChange(Contract):
    status: StudyStatus
    effective_on: date
    reason_stopped: ReasonStopped | None = None
    why_stopped: str | None = Field(default=None, max_length=250)
    reason: str | None = Field(default=None, max_length=2000, description="Why; see the rules")


class EnrolmentIn(Contract):
    enrolled: int = Field(ge=0, le=10000)
    as_of: date


class ReadoutIn(Contract):
    endpoint: str = Field(min_length=1, max_length=500)
    primary: bool
    result_summary: str = Field(min_length=1, max_length=8000)
    as_of: date


class ReadoutOut(ReadoutIn):
    readout_id: str
    trial_id: str


class AdverseEventIn(Contract):
    meddra_term: str = Field(min_length=1, max_length=200)
    meddra_code: str | None = Field(default=None, pattern=r"^\d{8}$")
    meddra_version: str | None = Field(default=None, max_length=10)
    seriousness: Seriousness
    seriousness_criteria: list[SeriousnessCriterion] = Field(default_factory=list, max_length=6)
    severity: Severity | None = None
    ctcae_grade: int | None = Field(default=None, ge=1, le=5)
    causality: Causality
    expected: bool
    outcome: AdverseEventOutcome
    onset_on: date
    reported_on: date


class AdverseEventCorrection(AdverseEventIn):
    reason: str = Field(min_length=1, max_length=2000)


class AdverseEventOut(AdverseEventIn):
    adverse_event_id: str
    trial_id: str
    report_due_on: date | None
    version: int


class ReportIn(Contract):
    submitted_on: date


class ObligationOut(BaseModel):
    obligation_id: str
    candidate_id: str
    trial_id: str | None
    rule_code: str
    subject: str
    due_on: date
    fulfilled_on: date | None
    overdue_announced_on: date | None


class ImplementationIn(Contract):
    route: ImplementationRoute
    status: ImplementationStatus = ImplementationStatus.PLANNED
    target_on: date | None = None


class ImplementationOut(ImplementationIn):
    implementation_id: str
    candidate_id: str


class ImplementationStatusIn(Contract):
    status: ImplementationStatus
    effective_on: date
    reason: str = Field(default="", max_length=2000)


class Discontinuation(Contract):
    reason: str = Field(min_length=1, max_length=2000)
    effective_on: date


class SupportTargetOut(BaseModel):
    candidate_id: str
    support_target_id: str
    decision_id: str | None
    name: str | None
    registered_by: str | None
    stage: ProgramStage
    conditions: list[str]
    trial_ids: list[str]
    implementation: ImplementationOut | None


class ScanResult(BaseModel):
    as_of: date
    announced: list[str]


# ----- loading with scoping -------------------------------------------------------------


async def _trials_of(session: AsyncSession, candidate_id: str) -> list[TrialRow]:
    query = (
        select(TrialRow).where(TrialRow.candidate_id == candidate_id).order_by(TrialRow.created_at)
    )
    return list((await session.execute(query)).scalars())


def _trial_parties(trial: TrialRow) -> set[str | None]:
    return {trial.lead_institution, *trial.collaborating_institutions}


async def _candidate(
    session: AsyncSession,
    candidate_id: str,
    principal: Principal,
    *,
    writing: bool = False,
) -> CandidateView:
    """A candidate the caller is party to: its registrant, or a party to one of its trials."""
    view = await session.get(CandidateView, candidate_id, with_for_update=writing)
    parties: set[str | None] = set()
    if view is not None:
        parties = {view.registered_by}
        for trial in await _trials_of(session, candidate_id):
            parties |= _trial_parties(trial)
    if view is None or not principal.party_to(parties):
        raise Problem(404, "Not found", f"No candidate {candidate_id} known to followup.")
    return view


async def _trial(
    session: AsyncSession, trial_id: str, principal: Principal, *, writing: bool = False
) -> tuple[TrialRow, CandidateView]:
    """The trial, if the caller is party to it (registrants of the candidate may read)."""
    trial = await session.get(TrialRow, trial_id, with_for_update=writing)
    view = (
        await session.get(CandidateView, trial.candidate_id, with_for_update=writing)
        if trial
        else None
    )
    if trial is None or view is None:
        raise Problem(404, "Not found", f"No trial {trial_id}.")
    parties = _trial_parties(trial) if writing else _trial_parties(trial) | {view.registered_by}
    if not principal.party_to(parties):
        raise Problem(404, "Not found", f"No trial {trial_id}.")
    return trial, view


def _conflict(error: domain.RuleViolation) -> Problem:
    return Problem(409, "Conflict", str(error))


def _trial_out(trial: TrialRow) -> TrialOut:
    return TrialOut.model_validate(trial, from_attributes=True)


def _stage(view: CandidateView) -> ProgramStage | None:
    return ProgramStage(view.stage) if view.stage else None


async def _owe(
    session: AsyncSession,
    rule: domain.DeadlineRule,
    *,
    candidate_id: str,
    trial_id: str | None,
    start: date,
    subject: str,
) -> ObligationRow:
    obligation = ObligationRow(
        obligation_id=str(uuid.uuid4()),
        candidate_id=candidate_id,
        trial_id=trial_id,
        rule_code=rule.code,
        subject=subject,
        due_on=rule.due_on(start),
        created_at=datetime.now(UTC),
    )
    session.add(obligation)
    return obligation


async def _move_stage(
    write: Write, view: CandidateView, target: ProgramStage, *, reason: str, on: date
) -> None:
    """Record and announce a stage move that has no richer event of its own."""
    previous = _stage(view)
    view.stage = target
    view.updated_at = datetime.now(UTC)
    await write.audit(
        action="candidate.stage-changed",
        entity_type="candidate",
        entity_id=view.candidate_id,
        changes=field_changes({"stage": previous}, {"stage": target}),
        reason=reason,
    )
    await write.publish(
        CandidateStageChanged(
            candidate_id=view.candidate_id,
            stage=StageChange(previous=previous, current=target),
            reason=reason,
            effective_on=on,
        )
    )


# ----- support targets -----------------------------------------------------------------


async def _target_out(session: AsyncSession, view: CandidateView) -> SupportTargetOut:
    implementation = (
        await session.execute(
            select(ImplementationRow).where(ImplementationRow.candidate_id == view.candidate_id)
        )
    ).scalar_one_or_none()
    assert view.support_target_id is not None and view.stage is not None
    return SupportTargetOut(
        candidate_id=view.candidate_id,
        support_target_id=view.support_target_id,
        decision_id=view.decision_id,
        name=view.name,
        registered_by=view.registered_by,
        stage=ProgramStage(view.stage),
        conditions=view.conditions,
        trial_ids=[trial.trial_id for trial in await _trials_of(session, view.candidate_id)],
        implementation=ImplementationOut.model_validate(implementation, from_attributes=True)
        if implementation
        else None,
    )


@targets.get("", response_model=list[SupportTargetOut])
async def list_support_targets(request: Request, principal: Reader) -> list[SupportTargetOut]:
    """Support targets (支援対象) the caller is party to; ministry staff see all."""
    async with runtime_of(request).db.sessions() as session:
        views = (
            await session.execute(
                select(CandidateView)
                .where(CandidateView.support_target_id.is_not(None))
                .order_by(CandidateView.candidate_id)
            )
        ).scalars()
        found = []
        for view in views:
            parties = {view.registered_by}
            for trial in await _trials_of(session, view.candidate_id):
                parties |= _trial_parties(trial)
            if principal.party_to(parties):
                found.append(await _target_out(session, view))
        return found


@targets.get("/{candidate_id}", response_model=SupportTargetOut)
async def get_support_target(
    candidate_id: EntityId, request: Request, principal: Reader
) -> SupportTargetOut:
    async with runtime_of(request).db.sessions() as session:
        view = await _candidate(session, candidate_id, principal)
        if view.support_target_id is None:
            raise Problem(404, "Not found", f"{candidate_id} is not a support target.")
        return await _target_out(session, view)


@targets.post(
    "/{candidate_id}/trials", status_code=status.HTTP_201_CREATED, response_model=TrialOut
)
async def register_trial(candidate_id: EntityId, trial: TrialIn, write: Reporter) -> JSONResponse:
    """Register a trial of a support target; the caller's institution leads it (代表機関)."""
    async with write.transaction() as session:
        view = await session.get(CandidateView, candidate_id, with_for_update=True)
        if view is None:
            raise Problem(404, "Not found", f"No candidate {candidate_id} known to followup.")
        try:
            domain.may_register_trial(_stage(view), view.support_target_id is not None)
        except domain.RuleViolation as error:
            raise _conflict(error) from error
        if trial.jrct_id and await session.scalar(
            select(TrialRow.trial_id).where(TrialRow.jrct_id == trial.jrct_id)
        ):
            raise Problem(409, "Conflict", f"A trial with {trial.jrct_id} is already registered.")
        now = datetime.now(UTC)
        row = TrialRow(
            trial_id=str(uuid.uuid4()),
            candidate_id=candidate_id,
            lead_institution=write.principal.institution_id,
            enrolled=0,
            created_at=now,
            updated_at=now,
            **trial.model_dump(),
        )
        session.add(row)
        out = _trial_out(row)
        await write.audit(
            action="trial.registered",
            entity_type="trial",
            entity_id=row.trial_id,
            changes=field_changes(None, out.model_dump(mode="json")),
        )
        await write.publish(
            TrialRegistered(
                candidate_id=candidate_id,
                trial_id=row.trial_id,
                lead_institution=row.lead_institution,
                **trial.model_dump(),
            )
        )
        response = write.respond(
            out, status_code=201, headers={"Location": f"/trials/{row.trial_id}"}
        )
    return response


@targets.post(
    "/{candidate_id}/implementation",
    status_code=status.HTTP_201_CREATED,
    response_model=ImplementationOut,
)
async def decide_implementation(
    candidate_id: EntityId, implementation: ImplementationIn, write: Reporter
) -> JSONResponse:
    """Choose the social-implementation route once efficacy and safety data are in."""
    async with write.transaction() as session:
        view = await _candidate(session, candidate_id, write.principal, writing=True)
        previous = _stage(view)
        try:
            current = domain.decide_implementation(previous or ProgramStage.SURVEYED)
        except domain.RuleViolation as error:
            raise _conflict(error) from error
        now = datetime.now(UTC)
        row = ImplementationRow(
            implementation_id=str(uuid.uuid4()),
            candidate_id=candidate_id,
            created_at=now,
            updated_at=now,
            **implementation.model_dump(),
        )
        session.add(row)
        view.stage = current
        view.updated_at = now
        await write.audit(
            action="implementation.decided",
            entity_type="implementation",
            entity_id=row.implementation_id,
            changes=field_changes(
                {"stage": previous}, {"stage": current, **implementation.model_dump(mode="json")}
            ),
        )
        await write.publish(
            ImplementationDecided(
                candidate_id=candidate_id,
                implementation_id=row.implementation_id,
                route=implementation.route,
                status=implementation.status,
                target_on=implementation.target_on,
                stage=StageChange(previous=previous, current=current),
            )
        )
        response = write.respond(
            ImplementationOut.model_validate(row, from_attributes=True), status_code=201
        )
    return response


@targets.post("/{candidate_id}/discontinuation", response_model=SupportTargetOut)
async def discontinue_candidate(
    candidate_id: EntityId, discontinuation: Discontinuation, write: Reporter
) -> JSONResponse:
    """Discontinue support (開発中止), with the reason."""
    async with write.transaction() as session:
        view = await _candidate(session, candidate_id, write.principal, writing=True)
        if view.support_target_id is None:
            raise Problem(409, "Conflict", f"{candidate_id} is not a support target.")
        try:
            target = domain.discontinue(_stage(view) or ProgramStage.SURVEYED)
        except domain.RuleViolation as error:
            raise _conflict(error) from error
        await _move_stage(
            write, view, target, reason=discontinuation.reason, on=discontinuation.effective_on
        )
        response = write.respond(await _target_out(session, view))
    return response


# ----- trials ----------------------------------------------------------------------------


@trials.get("/{trial_id}", response_model=TrialOut)
async def get_trial(trial_id: EntityId, request: Request, principal: Reader) -> TrialOut:
    async with runtime_of(request).db.sessions() as session:
        trial, _ = await _trial(session, trial_id, principal)
    return _trial_out(trial)


@trials.post("/{trial_id}/start", response_model=TrialOut)
async def start_trial(trial_id: EntityId, start: TrialStart, write: Reporter) -> JSONResponse:
    """Start the trial; a candidate's first trial moves it to trial-started."""
    async with write.transaction() as session:
        trial, view = await _trial(session, trial_id, write.principal, writing=True)
        previous = _stage(view) or ProgramStage.SURVEYED
        try:
            current = domain.start_trial(
                previous, StudyStatus(trial.status), trial.started_on is not None
            )
        except domain.RuleViolation as error:
            raise _conflict(error) from error
        before = {"status": trial.status, "started_on": None, "stage": previous}
        trial.status = start.status
        trial.started_on = start.started_on
        trial.updated_at = datetime.now(UTC)
        view.stage = current
        for rule in domain.trial_deadlines(RULES, "trial-started"):
            await _owe(
                session,
                rule,
                candidate_id=view.candidate_id,
                trial_id=trial_id,
                start=start.started_on,
                subject=f"{rule.code} for trial {trial_id}",
            )
        await write.audit(
            action="trial.started",
            entity_type="trial",
            entity_id=trial_id,
            changes=field_changes(
                before,
                {
                    "status": trial.status,
                    "started_on": start.started_on.isoformat(),
                    "stage": current,
                },
            ),
        )
        await write.publish(
            TrialStarted(
                candidate_id=view.candidate_id,
                trial_id=trial_id,
                started_on=start.started_on,
                status=start.status,
                stage=StageChange(previous=previous, current=current),
            )
        )
        response = write.respond(_trial_out(trial))
    return response


@trials.post("/{trial_id}/status", response_model=TrialOut)
async def change_trial_status(
    trial_id: EntityId, change: StatusChange, write: Reporter
) -> JSONResponse:
    """Change the trial's FHIR research-study-status; stopping or correcting needs a reason."""
    async with write.transaction() as session:
        trial, view = await _trial(session, trial_id, write.principal, writing=True)
        current = StudyStatus(trial.status)
        try:
            domain.change_status(
                current, change.status, trial.started_on is not None, change.reason
            )
        except domain.RuleViolation as error:
            raise _conflict(error) from error
        trial.status = change.status
        trial.updated_at = datetime.now(UTC)
        trigger = {
            **dict.fromkeys(domain.STOPPED_STATUSES, "trial-stopped"),
            StudyStatus.COMPLETED: "trial-completed",
        }.get(change.status)
        for rule in domain.trial_deadlines(RULES, trigger) if trigger else []:
            await _owe(
                session,
                rule,
                candidate_id=view.candidate_id,
                trial_id=trial_id,
                start=change.effective_on,
                subject=f"{rule.code} for trial {trial_id}",
            )
        await write.audit(
            action="trial.status-changed",
            entity_type="trial",
            entity_id=trial_id,
            changes=field_changes({"status": current}, {"status": change.status}),
            reason=change.reason or change.why_stopped,
        )
        await write.publish(
            TrialStatusChanged(
                candidate_id=view.candidate_id,
                trial_id=trial_id,
                previous_status=current,
                status=change.status,
                effective_on=change.effective_on,
                reason_stopped=change.reason_stopped,
                why_stopped=change.why_stopped,
            )
        )
        response = write.respond(_trial_out(trial))
    return response


@trials.post("/{trial_id}/enrolment", response_model=TrialOut)
async def report_enrolment(
    trial_id: EntityId, enrolment: EnrolmentIn, write: Reporter
) -> JSONResponse:
    """Report enrolment; the first enrolled patient starts the collection of data."""
    async with write.transaction() as session:
        trial, view = await _trial(session, trial_id, write.principal, writing=True)
        if trial.started_on is None:
            raise Problem(409, "Conflict", "the trial has not started; nobody can be enrolled yet")
        before = {"enrolled": trial.enrolled}
        trial.enrolled = enrolment.enrolled
        trial.enrolled_as_of = enrolment.as_of
        trial.updated_at = datetime.now(UTC)
        await write.audit(
            action="enrolment.updated",
            entity_type="trial",
            entity_id=trial_id,
            changes=field_changes(before, {"enrolled": enrolment.enrolled}),
        )
        await write.publish(
            EnrolmentUpdated(
                candidate_id=view.candidate_id,
                trial_id=trial_id,
                enrolled=enrolment.enrolled,
                as_of=enrolment.as_of,
            )
        )
        if enrolment.enrolled > 0 and view.stage == ProgramStage.TRIAL_STARTED:
            await _move_stage(
                write,
                view,
                domain.begin_data_collection(ProgramStage.TRIAL_STARTED),
                reason="first patient enrolled: efficacy and safety data collection begins",
                on=enrolment.as_of,
            )
        response = write.respond(_trial_out(trial))
    return response


@trials.post(
    "/{trial_id}/efficacy-readouts", status_code=status.HTTP_201_CREATED, response_model=ReadoutOut
)
async def record_readout(trial_id: EntityId, readout: ReadoutIn, write: Reporter) -> JSONResponse:
    async with write.transaction() as session:
        trial, view = await _trial(session, trial_id, write.principal, writing=True)
        if trial.started_on is None:
            raise Problem(
                409, "Conflict", "the trial has not started; there is nothing to read out"
            )
        row = EfficacyReadoutRow(
            readout_id=str(uuid.uuid4()),
            trial_id=trial_id,
            created_at=datetime.now(UTC),
            **readout.model_dump(),
        )
        session.add(row)
        await write.audit(
            action="efficacy-readout.recorded",
            entity_type="efficacy-readout",
            entity_id=row.readout_id,
            changes=field_changes(None, readout.model_dump(mode="json")),
        )
        await write.publish(
            EfficacyReadoutRecorded(
                candidate_id=view.candidate_id,
                trial_id=trial_id,
                readout_id=row.readout_id,
                **readout.model_dump(),
            )
        )
        response = write.respond(
            ReadoutOut.model_validate(row, from_attributes=True), status_code=201
        )
    return response


@trials.get("/{trial_id}/efficacy-readouts", response_model=list[ReadoutOut])
async def list_readouts(
    trial_id: EntityId, request: Request, principal: Reader
) -> list[ReadoutOut]:
    async with runtime_of(request).db.sessions() as session:
        await _trial(session, trial_id, principal)
        rows = (
            await session.execute(
                select(EfficacyReadoutRow)
                .where(EfficacyReadoutRow.trial_id == trial_id)
                .order_by(EfficacyReadoutRow.as_of)
            )
        ).scalars()
        return [ReadoutOut.model_validate(row, from_attributes=True) for row in rows]


def _checked_seriousness(event: AdverseEventIn) -> None:
    try:
        domain.check_seriousness(event.seriousness, event.seriousness_criteria)
    except ValueError as error:
        raise Problem(
            422,
            "Invalid request",
            str(error),
            errors=[
                {
                    "field": "seriousness_criteria",
                    "in": "body",
                    "rule": "seriousness",
                    "message": str(error),
                }
            ],
        ) from error


@trials.post(
    "/{trial_id}/adverse-events",
    status_code=status.HTTP_201_CREATED,
    response_model=AdverseEventOut,
)
async def report_adverse_event(
    trial_id: EntityId, event: AdverseEventIn, write: Reporter
) -> JSONResponse:
    """Report an adverse event; a serious one gets its statutory report deadline."""
    _checked_seriousness(event)
    async with write.transaction() as session:
        _, view = await _trial(session, trial_id, write.principal, writing=True)
        rule = domain.adverse_event_deadline(
            RULES,
            seriousness=event.seriousness,
            expected=event.expected,
            criteria=event.seriousness_criteria,
        )
        now = datetime.now(UTC)
        row = AdverseEventRow(
            adverse_event_id=str(uuid.uuid4()),
            trial_id=trial_id,
            report_due_on=rule.due_on(event.reported_on) if rule else None,
            version=1,
            created_at=now,
            updated_at=now,
            **event.model_dump(),
        )
        session.add(row)
        if rule is not None:
            await _owe(
                session,
                rule,
                candidate_id=view.candidate_id,
                trial_id=trial_id,
                start=event.reported_on,
                subject=f"{rule.code}: {event.meddra_term}",
            )
        out = AdverseEventOut.model_validate(row, from_attributes=True)
        await write.audit(
            action="adverse-event.reported",
            entity_type="adverse-event",
            entity_id=row.adverse_event_id,
            changes=field_changes(None, out.model_dump(mode="json")),
        )
        await write.publish(
            AdverseEventReported(
                candidate_id=view.candidate_id,
                trial_id=trial_id,
                adverse_event_id=row.adverse_event_id,
                report_due_on=row.report_due_on,
                **event.model_dump(),
            )
        )
        response = write.respond(out, status_code=201)
    return response


@trials.get("/{trial_id}/adverse-events", response_model=list[AdverseEventOut])
async def list_adverse_events(
    trial_id: EntityId, request: Request, principal: Reader
) -> list[AdverseEventOut]:
    async with runtime_of(request).db.sessions() as session:
        await _trial(session, trial_id, principal)
        rows = (
            await session.execute(
                select(AdverseEventRow)
                .where(AdverseEventRow.trial_id == trial_id)
                .order_by(AdverseEventRow.onset_on)
            )
        ).scalars()
        return [AdverseEventOut.model_validate(row, from_attributes=True) for row in rows]


@safety.post("/{adverse_event_id}/corrections", response_model=AdverseEventOut)
async def correct_adverse_event(
    adverse_event_id: EntityId, correction: AdverseEventCorrection, write: Reporter
) -> JSONResponse:
    """Correct an accepted adverse-event report; the reason is required."""
    _checked_seriousness(correction)
    async with write.transaction() as session:
        row = await session.get(AdverseEventRow, adverse_event_id, with_for_update=True)
        if row is None:
            raise Problem(404, "Not found", f"No adverse event {adverse_event_id}.")
        _, view = await _trial(session, row.trial_id, write.principal, writing=True)
        before = AdverseEventOut.model_validate(row, from_attributes=True).model_dump(mode="json")
        fields = correction.model_dump(exclude={"reason"})
        for name, value in fields.items():
            setattr(row, name, value)
        row.version += 1
        row.updated_at = datetime.now(UTC)
        out = AdverseEventOut.model_validate(row, from_attributes=True)
        await write.audit(
            action="adverse-event.corrected",
            entity_type="adverse-event",
            entity_id=adverse_event_id,
            changes=field_changes(before, out.model_dump(mode="json")),
            reason=correction.reason,
        )
        await write.publish(
            AdverseEventCorrected(
                candidate_id=view.candidate_id,
                trial_id=row.trial_id,
                adverse_event_id=adverse_event_id,
                report_due_on=row.report_due_on,
                **correction.model_dump(),
            )
        )
        response = write.respond(out)
    return response


# ----- reporting obligations -------------------------------------------------------------


@obligations.get("", response_model=list[ObligationOut])
async def list_obligations(
    request: Request,
    principal: Reader,
    candidate_id: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9-]+$")] = None,
    open_only: bool = False,
) -> list[ObligationOut]:
    """Reports owed, with their due dates; those past due and unmet are overdue."""
    query = select(ObligationRow).order_by(ObligationRow.due_on)
    if candidate_id is not None:
        query = query.where(ObligationRow.candidate_id == candidate_id)
    if open_only:
        query = query.where(ObligationRow.fulfilled_on.is_(None))
    async with runtime_of(request).db.sessions() as session:
        rows = list((await session.execute(query)).scalars())
        visible = []
        for row in rows:
            if row.trial_id is None or principal.sees_everything:
                allowed = principal.sees_everything
            else:
                trial = await session.get(TrialRow, row.trial_id)
                allowed = trial is not None and principal.party_to(_trial_parties(trial))
            if allowed:
                visible.append(ObligationOut.model_validate(row, from_attributes=True))
        return visible


@obligations.post("/{obligation_id}/report", response_model=ObligationOut)
async def submit_report(obligation_id: EntityId, report: ReportIn, write: Reporter) -> JSONResponse:
    """Record that the owed report was submitted."""
    async with write.transaction() as session:
        row = await session.get(ObligationRow, obligation_id, with_for_update=True)
        if row is None or row.trial_id is None:
            raise Problem(404, "Not found", f"No obligation {obligation_id}.")
        await _trial(session, row.trial_id, write.principal, writing=True)
        if row.fulfilled_on is not None:
            raise Problem(
                409, "Conflict", f"The report was already submitted on {row.fulfilled_on}."
            )
        row.fulfilled_on = report.submitted_on
        await write.audit(
            action="followup-report.submitted",
            entity_type="obligation",
            entity_id=obligation_id,
            changes=field_changes(
                {"fulfilled_on": None}, {"fulfilled_on": report.submitted_on.isoformat()}
            ),
        )
        await write.publish(
            FollowupReportSubmitted(
                candidate_id=row.candidate_id,
                trial_id=row.trial_id,
                report_id=obligation_id,
                rule_code=row.rule_code,
                due_on=row.due_on,
                submitted_on=report.submitted_on,
            )
        )
        response = write.respond(ObligationOut.model_validate(row, from_attributes=True))
    return response


async def announce_overdue(runtime: ServiceRuntime, as_of: date) -> list[str]:
    """Publish DeadlineOverdue once for every unmet obligation due before ``as_of``."""
    async with runtime.db.transaction() as session:
        rows = list(
            (
                await session.execute(
                    select(ObligationRow)
                    .where(
                        ObligationRow.due_on < as_of,
                        ObligationRow.fulfilled_on.is_(None),
                        ObligationRow.overdue_announced_on.is_(None),
                    )
                    .order_by(ObligationRow.due_on)
                    .with_for_update()
                )
            ).scalars()
        )
        for row in rows:
            row.overdue_announced_on = as_of
            await runtime.outbox.add(
                session,
                DeadlineOverdue(
                    candidate_id=row.candidate_id,
                    trial_id=row.trial_id,
                    obligation_id=row.obligation_id,
                    rule_code=row.rule_code,
                    due_on=row.due_on,
                    detected_on=as_of,
                ),
            )
    return [row.obligation_id for row in rows]


@operations.post("/scan", response_model=ScanResult)
async def scan_deadlines(
    request: Request,
    _operator: Annotated[Principal, require(Scope.OPERATIONS_RUN)],
    as_of: date | None = None,
) -> ScanResult:
    """Announce overdue reports now (it also runs on its own every hour)."""
    day = as_of or datetime.now(UTC).date()
    return ScanResult(as_of=day, announced=await announce_overdue(runtime_of(request), day))


# ----- social implementation --------------------------------------------------------------


@implementations.post("/{implementation_id}/status", response_model=ImplementationOut)
async def change_implementation_status(
    implementation_id: EntityId, change: ImplementationStatusIn, write: Reporter
) -> JSONResponse:
    async with write.transaction() as session:
        row = await session.get(ImplementationRow, implementation_id, with_for_update=True)
        if row is None:
            raise Problem(404, "Not found", f"No implementation {implementation_id}.")
        await _candidate(session, row.candidate_id, write.principal, writing=True)
        previous = ImplementationStatus(row.status)
        if change.status is previous:
            raise Problem(409, "Conflict", f"The implementation is already {previous}.")
        row.status = change.status
        row.updated_at = datetime.now(UTC)
        await write.audit(
            action="implementation.status-changed",
            entity_type="implementation",
            entity_id=implementation_id,
            changes=field_changes({"status": previous}, {"status": change.status}),
            reason=change.reason or None,
        )
        await write.publish(
            ImplementationStatusChanged(
                candidate_id=row.candidate_id,
                implementation_id=implementation_id,
                route=ImplementationRoute(row.route),
                previous_status=previous,
                status=change.status,
                effective_on=change.effective_on,
                reason=change.reason,
            )
        )
        response = write.respond(ImplementationOut.model_validate(row, from_attributes=True))
    return response


routers = [targets, trials, safety, obligations, implementations, operations]
