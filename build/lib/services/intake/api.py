"""intake's HTTP API: partner institutions register candidates and record survey data."""

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import domain
from services.intake.tables import CandidateRow, SurveyReportRow
from shared.auth import Principal, Scope, require
from shared.events.codes import (
    AccessRoute,
    DeveloperType,
    DiseaseClass,
    DomesticStatus,
    Modality,
    ProductCategory,
    ProgramStage,
    SurveyReportKind,
)
from shared.events.intake import (
    MAX_DOMESTIC_PATIENTS,
    Candidate,
    CandidateProfile,
    CandidateRegistered,
    CandidateUpdated,
    CandidateWithdrawn,
    DrugLossLinkage,
    OverseasApproval,
    SurveyReportSubmitted,
)
from shared.events.registry import Contract, StageChange
from shared.service import runtime_of
from shared.web import MAX_OFFSET, Problem, problem_responses, validation_problem
from shared.writes import Write, Writer, field_changes

router = APIRouter(
    prefix="/candidates",
    tags=["candidates"],
    responses=problem_responses(400, 401, 403, 404, 413, 422, 429),
)
Reader = Annotated[Principal, require(Scope.CANDIDATES_READ)]
CandidateId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9-]+$")]
CandidateWriter = Annotated[Write, Writer(Scope.CANDIDATES_WRITE)]


class CandidateOut(Candidate):
    created_at: datetime
    updated_at: datetime


class CandidatePage(BaseModel):
    items: list[CandidateOut]
    total: int
    limit: int
    offset: int


class CandidatePatch(Contract):
    """Fields to change; those left out keep their value."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    modality: Modality | None = None
    product_category: ProductCategory | None = None
    target_disease: str | None = Field(default=None, min_length=1, max_length=200)
    disease_category: str | None = Field(default=None, max_length=200)
    disease_class: DiseaseClass | None = None
    estimated_domestic_patients: int | None = Field(default=None, ge=0, le=MAX_DOMESTIC_PATIENTS)
    overseas_approvals: list[OverseasApproval] | None = Field(default=None, max_length=20)
    domestic_status: DomesticStatus | None = None
    access_route: AccessRoute | None = None
    developer_type: DeveloperType | None = None
    developer_name: str | None = Field(default=None, max_length=200)
    orphan_designation: bool | None = None
    pediatric: bool | None = None
    drug_loss: DrugLossLinkage | None = None
    market_viability_notes: str | None = Field(default=None, max_length=4000)
    reason: str | None = Field(
        default=None,
        max_length=2000,
        description="Why; required once the final survey report is in (a correction)",
    )


class Withdrawal(Contract):
    reason: str = Field(min_length=1, max_length=2000)


class SurveyReportIn(Contract):
    kind: SurveyReportKind
    title: str = Field(min_length=1, max_length=200)
    summary: str = Field(min_length=1, max_length=8000)
    submitted_on: date


class SurveyReportOut(SurveyReportIn):
    report_id: str
    candidate_id: str
    created_at: datetime


def _candidate(row: CandidateRow) -> Candidate:
    return Candidate.model_validate({name: getattr(row, name) for name in Candidate.model_fields})


def _out(row: CandidateRow) -> CandidateOut:
    return CandidateOut.model_validate(
        {name: getattr(row, name) for name in CandidateOut.model_fields}
    )


def _store(row: CandidateRow, candidate: Candidate) -> None:
    for name, value in candidate.model_dump(mode="json").items():
        setattr(row, name, value)
    row.updated_at = datetime.now(UTC)


async def _load(
    session: AsyncSession,
    candidate_id: CandidateId,
    principal: Principal,
    *,
    for_update: bool = False,
) -> CandidateRow:
    """The candidate, if the caller is party to it; 404 alike for absent and not theirs."""
    query = select(CandidateRow).where(CandidateRow.candidate_id == candidate_id)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).scalar_one_or_none()
    if row is None or not principal.party_to(row.registered_by):
        raise Problem(404, "Not found", f"No candidate {candidate_id}.")
    return row


async def _final_report_exists(session: AsyncSession, candidate_id: str) -> bool:
    count = await session.execute(
        select(func.count())
        .select_from(SurveyReportRow)
        .where(
            SurveyReportRow.candidate_id == candidate_id,
            SurveyReportRow.kind == SurveyReportKind.FINAL.value,
        )
    )
    return count.scalar_one() > 0


def _etag(row: CandidateRow) -> str:
    return f'"{row.version}"'


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CandidateOut,
    responses=problem_responses(409),
)
async def register_candidate(profile: CandidateProfile, write: CandidateWriter) -> JSONResponse:
    """Register a candidate technology found by the domestic and overseas survey."""
    candidate = domain.register(
        profile, candidate_id=str(uuid.uuid4()), registered_by=write.principal.institution_id
    )
    row = CandidateRow(created_at=datetime.now(UTC))
    _store(row, candidate)
    async with write.transaction() as session:
        session.add(row)
        await session.flush()
        await write.audit(
            action="candidate.registered",
            entity_type="candidate",
            entity_id=candidate.candidate_id,
            changes=field_changes(None, candidate.model_dump(mode="json")),
        )
        await write.publish(
            CandidateRegistered(
                candidate_id=candidate.candidate_id,
                candidate=candidate,
                stage=StageChange(previous=None, current=candidate.stage),
            )
        )
        response = write.respond(
            _out(row),
            status_code=status.HTTP_201_CREATED,
            headers={"Location": f"/candidates/{candidate.candidate_id}", "ETag": _etag(row)},
        )
    return response


@router.get("", response_model=CandidatePage)
async def list_candidates(
    request: Request,
    principal: Reader,
    modality: Modality | None = None,
    product_category: ProductCategory | None = None,
    disease_class: DiseaseClass | None = None,
    stage: ProgramStage | None = None,
    q: Annotated[
        str | None,
        Query(max_length=100, pattern=r"^[^\x00]*$", description="Text in name or disease"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> CandidatePage:
    """List candidates, newest first, with optional filters."""
    filters: list[Any] = []
    for column, value in (
        (CandidateRow.modality, modality),
        (CandidateRow.product_category, product_category),
        (CandidateRow.disease_class, disease_class),
        (CandidateRow.stage, stage),
    ):
        if value is not None:
            filters.append(column == value.value)
    if not principal.sees_everything:
        filters.append(CandidateRow.registered_by == principal.institution_id)
    if q:
        pattern = f"%{q}%"
        filters.append(
            CandidateRow.name.ilike(pattern) | CandidateRow.target_disease.ilike(pattern)
        )
    async with runtime_of(request).db.sessions() as session:
        total = (
            await session.execute(select(func.count()).select_from(CandidateRow).where(*filters))
        ).scalar_one()
        rows = (
            await session.execute(
                select(CandidateRow)
                .where(*filters)
                .order_by(CandidateRow.created_at.desc(), CandidateRow.candidate_id)
                .limit(limit)
                .offset(offset)
            )
        ).scalars()
        items = [_out(row) for row in rows]
    return CandidatePage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{candidate_id}", response_model=CandidateOut)
async def get_candidate(
    candidate_id: CandidateId, request: Request, response: Response, principal: Reader
) -> CandidateOut:
    async with runtime_of(request).db.sessions() as session:
        row = await _load(session, candidate_id, principal)
    response.headers["ETag"] = _etag(row)
    return _out(row)


@router.patch(
    "/{candidate_id}",
    response_model=CandidateOut,
    responses=problem_responses(409, 412),
)
async def update_candidate(
    candidate_id: CandidateId,
    patch: CandidatePatch,
    write: CandidateWriter,
    if_match: Annotated[str | None, Header(description="ETag of the version being changed")] = None,
) -> JSONResponse:
    """Change survey data; the result must still satisfy every rule of a candidate."""
    changes = patch.model_dump(exclude_unset=True, exclude={"reason"})
    async with write.transaction() as session:
        row = await _load(session, candidate_id, write.principal, for_update=True)
        if if_match is not None and if_match != _etag(row):
            raise Problem(412, "Precondition failed", f"The candidate is now at {_etag(row)}.")
        before = _candidate(row)
        try:
            revised, changed = domain.revise(
                before,
                changes,
                survey_concluded=await _final_report_exists(session, candidate_id),
                reason=patch.reason,
            )
        except ValidationError as error:
            raise validation_problem(error) from error
        except domain.RuleViolation as error:
            raise Problem(409, "Conflict", str(error)) from error
        if changed:
            _store(row, revised)
            await write.publish(
                CandidateUpdated(
                    candidate_id=candidate_id, candidate=revised, changed_fields=changed
                )
            )
        await write.audit(
            action="candidate.updated",
            entity_type="candidate",
            entity_id=candidate_id,
            changes=field_changes(
                before.model_dump(mode="json", include=set(changed)),
                revised.model_dump(mode="json", include=set(changed)),
            ),
            reason=patch.reason,
        )
        response = write.respond(_out(row), headers={"ETag": _etag(row)})
    return response


@router.post(
    "/{candidate_id}/withdrawal", response_model=CandidateOut, responses=problem_responses(409)
)
async def withdraw_candidate(
    candidate_id: CandidateId, withdrawal: Withdrawal, write: CandidateWriter
) -> JSONResponse:
    """Withdraw a candidate from the program; its survey record is closed."""
    async with write.transaction() as session:
        row = await _load(session, candidate_id, write.principal, for_update=True)
        candidate = _candidate(row)
        try:
            withdrawn = domain.withdraw(candidate)
        except domain.RuleViolation as error:
            raise Problem(409, "Conflict", str(error)) from error
        _store(row, withdrawn)
        await write.audit(
            action="candidate.withdrawn",
            entity_type="candidate",
            entity_id=candidate_id,
            changes=field_changes({"stage": candidate.stage}, {"stage": withdrawn.stage}),
            reason=withdrawal.reason,
        )
        await write.publish(
            CandidateWithdrawn(
                candidate_id=candidate_id,
                reason=withdrawal.reason,
                stage=StageChange(previous=candidate.stage, current=withdrawn.stage),
            )
        )
        response = write.respond(_out(row), headers={"ETag": _etag(row)})
    return response


@router.post(
    "/{candidate_id}/survey-reports",
    status_code=status.HTTP_201_CREATED,
    response_model=SurveyReportOut,
    responses=problem_responses(409),
)
async def submit_survey_report(
    candidate_id: CandidateId, report: SurveyReportIn, write: CandidateWriter
) -> JSONResponse:
    """Submit an interim (中間報告) or final (調査結果報告) survey report."""
    async with write.transaction() as session:
        row = await _load(session, candidate_id, write.principal, for_update=True)
        try:
            domain.ensure_report_allowed(
                _candidate(row), report.kind, await _final_report_exists(session, candidate_id)
            )
        except domain.RuleViolation as error:
            raise Problem(409, "Conflict", str(error)) from error
        stored = SurveyReportRow(
            report_id=str(uuid.uuid4()),
            candidate_id=candidate_id,
            created_at=datetime.now(UTC),
            **report.model_dump(),
        )
        session.add(stored)
        await write.audit(
            action="survey-report.submitted",
            entity_type="survey-report",
            entity_id=stored.report_id,
            changes=field_changes(None, report.model_dump(mode="json")),
        )
        await write.publish(
            SurveyReportSubmitted(
                candidate_id=candidate_id, report_id=stored.report_id, **report.model_dump()
            )
        )
        location = f"/candidates/{candidate_id}/survey-reports/{stored.report_id}"
        response = write.respond(
            SurveyReportOut.model_validate(stored, from_attributes=True),
            status_code=status.HTTP_201_CREATED,
            headers={"Location": location},
        )
    return response


@router.get("/{candidate_id}/survey-reports", response_model=list[SurveyReportOut])
async def list_survey_reports(
    candidate_id: CandidateId, request: Request, principal: Reader
) -> list[SurveyReportOut]:
    async with runtime_of(request).db.sessions() as session:
        await _load(session, candidate_id, principal)
        rows = (
            await session.execute(
                select(SurveyReportRow)
                .where(SurveyReportRow.candidate_id == candidate_id)
                .order_by(SurveyReportRow.submitted_on, SurveyReportRow.created_at)
            )
        ).scalars()
        return [SurveyReportOut.model_validate(row, from_attributes=True) for row in rows]
