"""intake's rules, free of I/O: registering, updating and withdrawing a candidate."""

from typing import Any

from shared.events.codes import ProgramStage, SurveyReportKind
from shared.events.intake import Candidate, CandidateProfile


class RuleViolation(Exception):
    """A write the candidate's current state does not allow (answered with 409)."""


PROFILE_FIELDS = tuple(CandidateProfile.model_fields)


def register(
    profile: CandidateProfile, *, candidate_id: str, registered_by: str | None
) -> Candidate:
    return Candidate(
        **profile.model_dump(),
        candidate_id=candidate_id,
        registered_by=registered_by,
        stage=ProgramStage.SURVEYED,
        version=1,
    )


def ensure_open(candidate: Candidate) -> None:
    if candidate.stage is ProgramStage.WITHDRAWN:
        raise RuleViolation("the candidate was withdrawn; its survey record is closed")


def revise(
    candidate: Candidate,
    changes: dict[str, Any],
    *,
    survey_concluded: bool = False,
    reason: str | None = None,
) -> tuple[Candidate, list[str]]:
    """Apply partial changes; the merged profile must satisfy every profile rule.

    Once the final survey report is in, the survey record is accepted and a change is a
    correction, which needs a reason. Raises ValidationError for an invalid result and
    RuleViolation for a change the candidate's state does not allow.
    """
    ensure_open(candidate)
    current = candidate.model_dump(include=set(PROFILE_FIELDS))
    merged = {**current, **changes}
    profile = CandidateProfile.model_validate(merged)  # re-checks cross-field rules
    revised = profile.model_dump()
    changed = [name for name in PROFILE_FIELDS if revised[name] != current[name]]
    if not changed:
        return candidate, []
    if survey_concluded and not (reason and reason.strip()):
        raise RuleViolation(
            "the final survey report is in: a correction needs a reason (field 'reason')"
        )
    updated = {**candidate.model_dump(), **revised, "version": candidate.version + 1}
    return Candidate.model_validate(updated), changed


def withdraw(candidate: Candidate) -> Candidate:
    ensure_open(candidate)
    return candidate.model_copy(
        update={"stage": ProgramStage.WITHDRAWN, "version": candidate.version + 1}
    )


def ensure_report_allowed(candidate: Candidate, kind: SurveyReportKind, final_exists: bool) -> None:
    ensure_open(candidate)
    if kind is SurveyReportKind.FINAL and final_exists:
        raise RuleViolation("a final survey report was already submitted for this candidate")
