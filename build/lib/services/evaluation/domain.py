"""evaluation's rules, free of I/O: shortlisting, deciding, correcting a decision."""

from shared.events.codes import ProgramStage, SupportDecision
from shared.events.stages import StageConflict, check_transition

FINAL_DECISIONS = frozenset({SupportDecision.SELECTED, SupportDecision.NOT_SELECTED})

STAGE_AFTER = {
    SupportDecision.SELECTED: ProgramStage.SELECTED,
    SupportDecision.NOT_SELECTED: ProgramStage.DECLINED,
}


class RuleViolation(Exception):
    """A step the committee's process does not allow (answered with 409)."""


def shortlist(stage: ProgramStage) -> ProgramStage:
    _move(stage, ProgramStage.SHORTLISTED)
    return ProgramStage.SHORTLISTED


def decide(
    stage: ProgramStage, decision: SupportDecision, current: SupportDecision | None
) -> ProgramStage:
    """The stage after a decision; deferring leaves the candidate shortlisted."""
    if current in FINAL_DECISIONS:
        raise RuleViolation(
            f"the committee already decided '{current}'; record a correction with a reason"
        )
    if stage is not ProgramStage.SHORTLISTED:
        raise RuleViolation(f"only a shortlisted candidate can be decided on (it is {stage})")
    if decision is SupportDecision.DEFERRED:
        return stage
    return _move(stage, STAGE_AFTER[decision])


def correct(
    stage: ProgramStage, current: SupportDecision | None, corrected: SupportDecision
) -> ProgramStage:
    """The stage after correcting a final decision (selected <-> not selected)."""
    if current not in FINAL_DECISIONS:
        raise RuleViolation("there is no final decision to correct; record a decision")
    if corrected is SupportDecision.DEFERRED:
        raise RuleViolation("a final decision cannot be corrected to 'deferred'")
    if corrected is current:
        return stage  # rationale, conditions or date corrected; the outcome stands
    return _move(stage, STAGE_AFTER[corrected])


def _move(stage: ProgramStage, target: ProgramStage) -> ProgramStage:
    try:
        check_transition(stage, target)
    except StageConflict as error:
        raise RuleViolation(str(error)) from error
    return target
