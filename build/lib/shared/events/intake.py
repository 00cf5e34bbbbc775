"""Events published by intake: candidate technologies and their survey (調査・準備)."""

from datetime import date
from typing import ClassVar

from pydantic import Field, ValidationInfo, field_validator

from shared.events.codes import (
    AccessRoute,
    ApprovalStatus,
    DeveloperType,
    DevelopmentRequest,
    DiseaseClass,
    DomesticStatus,
    Modality,
    ProductCategory,
    ProgramStage,
    Region,
    SurveyReportKind,
)
from shared.events.registry import Contract, EventPayload, StageChange

# Ultra-rare means 1 to a few tens of patients; anything past this is a typo, not a candidate.
MAX_DOMESTIC_PATIENTS = 1000


class OverseasApproval(Contract):
    region: Region
    status: ApprovalStatus
    decided_on: date | None = None
    authority: str | None = Field(default=None, max_length=100)


class DrugLossLinkage(Contract):
    """Whether the candidate is one of the drug-loss items, and how far that track went."""

    is_drug_loss_item: bool = False
    medical_need_confirmed: bool | None = None
    development_request: DevelopmentRequest = DevelopmentRequest.NONE
    company_declared_intent: bool = False


class CandidateProfile(Contract):
    """The survey data of one candidate technology (候補技術等), as partners record it."""

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    modality: Modality
    product_category: ProductCategory
    target_disease: str = Field(min_length=1, max_length=200)
    disease_category: str = Field(default="", max_length=200)
    disease_class: DiseaseClass
    estimated_domestic_patients: int = Field(ge=0, le=MAX_DOMESTIC_PATIENTS)
    overseas_approvals: list[OverseasApproval] = Field(default_factory=list, max_length=20)
    domestic_status: DomesticStatus
    access_route: AccessRoute
    developer_type: DeveloperType
    developer_name: str = Field(default="", max_length=200)
    orphan_designation: bool = False
    pediatric: bool = False
    drug_loss: DrugLossLinkage = Field(default_factory=DrugLossLinkage)
    market_viability_notes: str = Field(default="", max_length=4000)

    @field_validator("estimated_domestic_patients")
    @classmethod
    def _ultra_rare_has_patients(cls, patients: int, info: ValidationInfo) -> int:
        if info.data.get("disease_class") is DiseaseClass.ULTRA_RARE and patients < 1:
            raise ValueError("an ultra-rare disease has at least 1 domestic patient")
        return patients

    @field_validator("overseas_approvals")
    @classmethod
    def _one_entry_per_region(cls, approvals: list[OverseasApproval]) -> list[OverseasApproval]:
        regions = [approval.region for approval in approvals]
        if len(regions) != len(set(regions)):
            raise ValueError("each region may appear only once")
        return approvals


class Candidate(CandidateProfile):
    """A candidate as intake holds it: the profile plus identity, stage and version."""

    candidate_id: str
    registered_by: str | None = None
    stage: ProgramStage
    version: int = Field(ge=1)


class CandidateRegistered(EventPayload):
    producer: ClassVar[str] = "intake"
    name: ClassVar[str] = "candidate.registered"

    candidate: Candidate
    stage: StageChange


class CandidateUpdated(EventPayload):
    producer: ClassVar[str] = "intake"
    name: ClassVar[str] = "candidate.updated"

    candidate: Candidate
    changed_fields: list[str] = Field(min_length=1)


class CandidateWithdrawn(EventPayload):
    producer: ClassVar[str] = "intake"
    name: ClassVar[str] = "candidate.withdrawn"

    reason: str = Field(min_length=1, max_length=2000)
    stage: StageChange


class SurveyReportSubmitted(EventPayload):
    producer: ClassVar[str] = "intake"
    name: ClassVar[str] = "survey-report.submitted"

    report_id: str
    kind: SurveyReportKind
    title: str = Field(min_length=1, max_length=200)
    summary: str = Field(min_length=1, max_length=8000)
    submitted_on: date
