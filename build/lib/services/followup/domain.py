"""followup's rules, free of I/O: trials, safety reporting deadlines, stages."""

from __future__ import annotations

import calendar
import tomllib
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from shared.events.codes import ProgramStage, Seriousness, SeriousnessCriterion, StudyStatus
from shared.events.stages import ENDED, StageConflict, check_transition

RULES_FILE = Path(__file__).with_name("deadline_rules.toml")

OPENING_STATUSES = frozenset(
    {StudyStatus.IN_REVIEW, StudyStatus.APPROVED, StudyStatus.NOT_YET_RECRUITING}
)
RUNNING_STATUSES = frozenset(
    {
        StudyStatus.RECRUITING,
        StudyStatus.ACTIVE,
        StudyStatus.ENROLLING_BY_INVITATION,
        StudyStatus.TEMPORARILY_CLOSED_TO_ACCRUAL,
        StudyStatus.TEMPORARILY_CLOSED_TO_ACCRUAL_AND_INTERVENTION,
        StudyStatus.ACTIVE_BUT_NOT_RECRUITING,
        StudyStatus.CLOSED_TO_ACCRUAL,
        StudyStatus.CLOSED_TO_ACCRUAL_AND_INTERVENTION,
    }
)
STOPPED_STATUSES = frozenset(
    {StudyStatus.TERMINATED, StudyStatus.ADMINISTRATIVELY_COMPLETED, StudyStatus.WITHDRAWN}
)
FINAL_STATUSES = STOPPED_STATUSES | {StudyStatus.COMPLETED, StudyStatus.DISAPPROVED}


class RuleViolation(Exception):
    """A step the candidate's or the trial's state does not allow (answered with 409)."""


@dataclass(frozen=True)
class DeadlineRule:
    code: str
    trigger: str
    basis: str
    due_days: int = 0
    due_months: int = 0
    seriousness: str | None = None
    expected: bool | None = None
    criteria_any: frozenset[str] = field(default_factory=frozenset)

    def due_on(self, start: date) -> date:
        return add_months(start, self.due_months) + timedelta(days=self.due_days)


def load_rules(path: Path = RULES_FILE) -> list[DeadlineRule]:
    with path.open("rb") as file:
        rules = tomllib.load(file)["rule"]
    return [
        DeadlineRule(**{**rule, "criteria_any": frozenset(rule.get("criteria_any", []))})
        for rule in rules
    ]


def add_months(start: date, months: int) -> date:
    month = start.month - 1 + months
    year, month = start.year + month // 12, month % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def adverse_event_deadline(
    rules: list[DeadlineRule],
    *,
    seriousness: Seriousness,
    expected: bool,
    criteria: list[SeriousnessCriterion],
) -> DeadlineRule | None:
    """The first adverse-event rule the event meets, or None if it needs no expedited report."""
    for rule in rules:
        if rule.trigger != "adverse-event":
            continue
        if rule.seriousness is not None and rule.seriousness != seriousness:
            continue
        if rule.expected is not None and rule.expected != expected:
            continue
        if rule.criteria_any and not rule.criteria_any & {str(item) for item in criteria}:
            continue
        return rule
    return None


def trial_deadlines(rules: list[DeadlineRule], trigger: str) -> list[DeadlineRule]:
    return [rule for rule in rules if rule.trigger == trigger]


def check_seriousness(seriousness: Seriousness, criteria: list[SeriousnessCriterion]) -> None:
    """A serious event names at least one criterion, a non-serious one none."""
    if seriousness is Seriousness.SERIOUS and not criteria:
        raise ValueError("a serious adverse event needs at least one seriousness criterion")
    if seriousness is Seriousness.NON_SERIOUS and criteria:
        raise ValueError("a non-serious adverse event has no seriousness criteria")


def may_register_trial(stage: ProgramStage | None, is_support_target: bool) -> None:
    if not is_support_target or stage in ENDED or stage is None:
        raise RuleViolation(
            f"the candidate is not a support target (stage: {stage or 'unknown'}); "
            "only a candidate the committee selected can have a trial"
        )


def start_trial(stage: ProgramStage, status: StudyStatus, started: bool) -> ProgramStage:
    """The candidate's stage once this trial starts (its first trial moves it on)."""
    if started or status not in OPENING_STATUSES:
        raise RuleViolation(f"the trial already started (status {status})")
    if stage in {ProgramStage.TRIAL_STARTED, ProgramStage.DATA_COLLECTION}:
        return stage
    return _move(stage, ProgramStage.TRIAL_STARTED)


def change_status(
    current: StudyStatus, new: StudyStatus, started: bool, reason: str | None
) -> None:
    if new == current:
        raise RuleViolation(f"the trial is already {current}")
    if new in RUNNING_STATUSES | {StudyStatus.COMPLETED} and not started:
        raise RuleViolation("start the trial before it can recruit, run or complete")
    if current in FINAL_STATUSES and not (reason and reason.strip()):
        raise RuleViolation(
            f"the trial is {current}; correcting a final status needs a reason (field 'reason')"
        )
    if new in STOPPED_STATUSES and not (reason and reason.strip()):
        raise RuleViolation(f"stopping a trial ({new}) needs a reason (field 'reason')")


def begin_data_collection(stage: ProgramStage) -> ProgramStage:
    if stage is ProgramStage.DATA_COLLECTION:
        return stage
    return _move(stage, ProgramStage.DATA_COLLECTION)


def decide_implementation(stage: ProgramStage) -> ProgramStage:
    return _move(stage, ProgramStage.SOCIAL_IMPLEMENTATION)


def discontinue(stage: ProgramStage) -> ProgramStage:
    return _move(stage, ProgramStage.DISCONTINUED)


def _move(stage: ProgramStage, target: ProgramStage) -> ProgramStage:
    try:
        check_transition(stage, target)
    except StageConflict as error:
        raise RuleViolation(str(error)) from error
    return target
