"""Code systems shared by every event contract.

Where a standard exists its codes are used verbatim (FHIR research-study-status and
research-study-phase, FHIR AdverseEvent, WHO-UMC causality, CTCAE grades); the program
stage and the product vocabulary are the program's own, because no standard spans
survey to social implementation.
"""

from enum import StrEnum


class ProgramStage(StrEnum):
    """Where a candidate stands in the program (one state machine, owned across services)."""

    SURVEYED = "surveyed"  # 候補技術等の国内外調査
    SHORTLISTED = "shortlisted"  # 支援候補の同定
    SELECTED = "selected"  # 支援対象の選定・最終決定
    TRIAL_STARTED = "trial-started"  # 医師主導治験・特定臨床研究の開始
    DATA_COLLECTION = "data-collection"  # 有効性・安全性に関する知見の収集
    SOCIAL_IMPLEMENTATION = "social-implementation"  # 最適な社会実装方策
    DECLINED = "declined"  # 非採択
    DISCONTINUED = "discontinued"  # 開発中止
    WITHDRAWN = "withdrawn"  # 取下げ・承認整理


class ProductCategory(StrEnum):
    """The three legal kinds of 特定医療技術等."""

    DRUG = "drug"  # 医薬品
    REGENERATIVE_PRODUCT = "regenerative-medicine-product"  # 再生医療等製品
    REGENERATIVE_TECHNIQUE = "regenerative-medicine-technique"  # 再生医療等技術


class Modality(StrEnum):
    SMALL_MOLECULE = "small-molecule"
    ANTIBODY = "antibody"
    RECOMBINANT_PROTEIN = "recombinant-protein"
    NUCLEIC_ACID = "nucleic-acid"
    MRNA = "mrna"
    IN_VIVO_GENE_THERAPY = "in-vivo-gene-therapy"  # e.g. AAV vectors
    EX_VIVO_GENE_THERAPY = "ex-vivo-gene-therapy"
    GENOME_EDITING = "genome-editing"
    PERSONALIZED_GENE_THERAPY = "personalized-gene-therapy"
    CELL_THERAPY = "cell-therapy"
    VACCINE = "vaccine"
    ANTI_INFECTIVE = "anti-infective"
    DIAGNOSTIC = "diagnostic"
    XENOTRANSPLANTATION = "xenotransplantation"
    OTHER = "other"


class DiseaseClass(StrEnum):
    ULTRA_RARE = "ultra-rare"  # 超希少疾患
    PEACETIME_ABSENT_INFECTION = "peacetime-absent-infection"  # 平時には発生のない感染症


class ApprovalStatus(StrEnum):
    """A product's regulatory status in one region."""

    APPROVED = "approved"
    CONDITIONALLY_APPROVED = "conditionally-approved"
    EMERGENCY_AUTHORIZED = "emergency-authorized"
    UNDER_REVIEW = "under-review"
    IN_DEVELOPMENT = "in-development"
    NOT_SUBMITTED = "not-submitted"
    WITHDRAWN = "withdrawn"


class Region(StrEnum):
    US = "US"
    EU = "EU"
    UK = "UK"
    CA = "CA"
    AU = "AU"
    CH = "CH"
    CN = "CN"
    KR = "KR"
    OTHER = "other"


class DomesticStatus(StrEnum):
    NOT_STARTED = "not-started"  # 国内開発未着手
    CLINICAL_RESEARCH = "clinical-research"  # 国内で臨床研究が進んでいるが未承認
    TRIAL = "trial"  # 国内治験中
    SUBMITTED = "submitted"  # 承認申請済み


class AccessRoute(StrEnum):
    """The two kinds of technology the program brings in (S000 ③)."""

    OVERSEAS_APPROVED = "overseas-approved"  # 海外で承認済みで国内未承認
    DOMESTIC_RESEARCH = "domestic-research"  # 国内で臨床研究が進んでいるが未承認


class DeveloperType(StrEnum):
    VENTURE = "venture"
    PHARMA = "pharma"
    ACADEMIA = "academia"
    PUBLIC_INSTITUTION = "public-institution"
    NONE = "none"


class DevelopmentRequest(StrEnum):
    """Whether the unapproved-drug review meeting asked for development (開発要請/開発公募)."""

    NONE = "none"
    REQUESTED = "requested"  # 開発要請
    OPEN_CALL = "open-call"  # 開発公募


class SurveyReportKind(StrEnum):
    INTERIM = "interim"  # 中間報告
    FINAL = "final"  # 調査結果報告


class SupportDecision(StrEnum):
    SELECTED = "selected"
    NOT_SELECTED = "not-selected"
    DEFERRED = "deferred"


class TrialType(StrEnum):
    """jRCT 研究の種別."""

    INVESTIGATOR_INITIATED_TRIAL = "investigator-initiated-trial"  # 医師主導治験
    SPECIFIED_CLINICAL_RESEARCH = "specified-clinical-research"  # 特定臨床研究
    OTHER = "other"


class LegalBasis(StrEnum):
    CLINICAL_TRIALS_ACT = "clinical-trials-act"  # 臨床研究法
    PMD_ACT_GCP = "pmd-act-gcp"  # 薬機法 (GCP)
    REGENERATIVE_MEDICINE_SAFETY_ACT = "regenerative-medicine-safety-act"  # 再生医療等安全性確保法
    MIXED_BILLING = "mixed-billing"  # 保険外併用療養費制度


class StudyPhase(StrEnum):
    """FHIR research-study-phase, plus the CTIS phase III/IV that FHIR lacks."""

    NA = "n-a"
    EARLY_PHASE_1 = "early-phase-1"
    PHASE_1 = "phase-1"
    PHASE_1_PHASE_2 = "phase-1-phase-2"
    PHASE_2 = "phase-2"
    PHASE_2_PHASE_3 = "phase-2-phase-3"
    PHASE_3 = "phase-3"
    PHASE_3_PHASE_4 = "phase-3-phase-4"
    PHASE_4 = "phase-4"


class StudyStatus(StrEnum):
    """FHIR R5 research-study-status."""

    IN_REVIEW = "in-review"
    APPROVED = "approved"
    DISAPPROVED = "disapproved"
    NOT_YET_RECRUITING = "not-yet-recruiting"
    RECRUITING = "recruiting"
    ACTIVE = "active"
    ENROLLING_BY_INVITATION = "enrolling-by-invitation"
    TEMPORARILY_CLOSED_TO_ACCRUAL = "temporarily-closed-to-accrual"
    TEMPORARILY_CLOSED_TO_ACCRUAL_AND_INTERVENTION = (
        "temporarily-closed-to-accrual-and-intervention"
    )
    ACTIVE_BUT_NOT_RECRUITING = "active-but-not-recruiting"
    CLOSED_TO_ACCRUAL = "closed-to-accrual"
    CLOSED_TO_ACCRUAL_AND_INTERVENTION = "closed-to-accrual-and-intervention"
    COMPLETED = "completed"
    TERMINATED = "terminated"
    ADMINISTRATIVELY_COMPLETED = "administratively-completed"
    WITHDRAWN = "withdrawn"


class Seriousness(StrEnum):
    NON_SERIOUS = "non-serious"
    SERIOUS = "serious"


class SeriousnessCriterion(StrEnum):
    """FHIR R4 adverse-event-seriousness criteria (ICH E2B(R3) E.i.3.2a-f)."""

    DEATH = "SeriousResultsInDeath"
    LIFE_THREATENING = "SeriousIsLifeThreatening"
    HOSPITALIZATION = "SeriousResultsInHospitalization"
    DISABILITY = "SeriousResultsInDisability"
    BIRTH_DEFECT = "SeriousIsBirthDefect"
    PREVENT_IMPAIRMENT = "SeriousRequiresPreventImpairment"


class Severity(StrEnum):
    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"


class Causality(StrEnum):
    """WHO-UMC causality categories."""

    CERTAIN = "certain"
    PROBABLY_LIKELY = "probably-likely"
    POSSIBLE = "possible"
    UNLIKELY = "unlikely"
    CONDITIONAL_CLASSIFIED = "conditional-classified"
    UNASSESSABLE = "unassessable-unclassifiable"


class AdverseEventOutcome(StrEnum):
    RESOLVED = "resolved"
    RECOVERING = "recovering"
    ONGOING = "ongoing"
    RESOLVED_WITH_SEQUELAE = "resolvedWithSequelae"
    FATAL = "fatal"
    UNKNOWN = "unknown"


class ImplementationRoute(StrEnum):
    """Social-implementation routes, shaped like FHIR RegulatedAuthorization types."""

    MARKETING_APPROVAL = "marketing-approval"
    CONDITIONAL_TIME_LIMITED_APPROVAL = "conditional-time-limited-approval"
    EMERGENCY_APPROVAL = "emergency-approval"
    PUBLIC_KNOWLEDGE_APPLICATION = "public-knowledge-application"
    ORPHAN_DESIGNATION = "orphan-designation"
    PRIORITY_REVIEW = "sakigake-or-priority-review"
    INSURANCE_LISTING = "insurance-listing"
    ADVANCED_MEDICAL_CARE = "advanced-medical-care"
    MIXED_BILLING_CONTINUED_ACCESS = "patient-proposed-or-mixed-care"
    DEVELOPMENT_REQUEST = "development-request"
    OPEN_CALL_FOR_DEVELOPER = "open-call-for-developer"


class ImplementationStatus(StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in-progress"
    SUBMITTED = "submitted"
    COMPLETED = "completed"
    DISCONTINUED = "discontinued"


class ReasonStopped(StrEnum):
    """FHIR research-study-reason-stopped plus the program's own reasons."""

    ACCRUAL_GOAL_MET = "accrual-goal-met"
    CLOSED_DUE_TO_TOXICITY = "closed-due-to-toxicity"
    CLOSED_DUE_TO_LACK_OF_STUDY_PROGRESS = "closed-due-to-lack-of-study-progress"
    TEMPORARILY_CLOSED_PER_STUDY_DESIGN = "temporarily-closed-per-study-design"
    FUNDING_ENDED = "funding-ended"
    NO_DEVELOPER = "no-developer"
    REGULATORY_DECISION = "regulatory-decision"
    SPONSOR_DECISION = "sponsor-decision"
