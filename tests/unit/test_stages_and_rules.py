"""The stage machine and the evaluation and followup rules, without I/O."""

import itertools
from datetime import date

import pytest

from services.evaluation import domain as evaluation
from services.followup import domain as followup
from shared.events.codes import (
    ProgramStage as S,
)
from shared.events.codes import (
    Seriousness,
    SeriousnessCriterion,
    StudyStatus,
    SupportDecision,
)
from shared.events.stages import ENDED, TRANSITIONS, StageConflict, check_transition

HAPPY_PATH = [
    None,
    S.SURVEYED,
    S.SHORTLISTED,
    S.SELECTED,
    S.TRIAL_STARTED,
    S.DATA_COLLECTION,
    S.SOCIAL_IMPLEMENTATION,
]


def test_the_happy_path_is_allowed_step_by_step_and_never_skips() -> None:
    for previous, current in itertools.pairwise(HAPPY_PATH):
        check_transition(previous, current)
    for index, previous in enumerate(HAPPY_PATH):
        for later in HAPPY_PATH[index + 2 :]:
            with pytest.raises(StageConflict):
                check_transition(previous, later)


def test_ended_paths_stay_ended_except_a_corrected_decline() -> None:
    assert TRANSITIONS[S.WITHDRAWN] == TRANSITIONS[S.DISCONTINUED] == frozenset()
    assert TRANSITIONS[S.DECLINED] == {S.SELECTED}
    with pytest.raises(StageConflict, match="the path has ended"):
        check_transition(S.WITHDRAWN, S.SURVEYED)
    assert all(stage in TRANSITIONS for stage in S)
    assert {S.DECLINED, S.DISCONTINUED, S.WITHDRAWN} == ENDED


def test_a_decision_needs_a_shortlisted_candidate_and_is_final() -> None:
    with pytest.raises(evaluation.RuleViolation, match="shortlisted"):
        evaluation.decide(S.SURVEYED, SupportDecision.SELECTED, None)
    assert evaluation.decide(S.SHORTLISTED, SupportDecision.DEFERRED, None) is S.SHORTLISTED
    assert (
        evaluation.decide(S.SHORTLISTED, SupportDecision.SELECTED, SupportDecision.DEFERRED)
        is S.SELECTED
    )
    with pytest.raises(evaluation.RuleViolation, match="correction"):
        evaluation.decide(S.SELECTED, SupportDecision.NOT_SELECTED, SupportDecision.SELECTED)


def test_corrections_flip_final_decisions_only() -> None:
    assert (
        evaluation.correct(S.DECLINED, SupportDecision.NOT_SELECTED, SupportDecision.SELECTED)
        is S.SELECTED
    )
    assert (
        evaluation.correct(S.SELECTED, SupportDecision.SELECTED, SupportDecision.NOT_SELECTED)
        is S.DECLINED
    )
    assert (
        evaluation.correct(S.SELECTED, SupportDecision.SELECTED, SupportDecision.SELECTED)
        is S.SELECTED
    )
    with pytest.raises(evaluation.RuleViolation, match="no final decision"):
        evaluation.correct(S.SHORTLISTED, SupportDecision.DEFERRED, SupportDecision.SELECTED)
    with pytest.raises(evaluation.RuleViolation, match="deferred"):
        evaluation.correct(S.SELECTED, SupportDecision.SELECTED, SupportDecision.DEFERRED)


RULES = followup.load_rules()


@pytest.mark.parametrize(
    ("expected", "criteria", "rule", "due"),
    [
        (False, [SeriousnessCriterion.DEATH], "ae-unexpected-death-7d", date(2027, 10, 8)),
        (
            True,
            [SeriousnessCriterion.LIFE_THREATENING],
            "ae-expected-death-15d",
            date(2027, 10, 16),
        ),
        (
            False,
            [SeriousnessCriterion.HOSPITALIZATION],
            "ae-unexpected-serious-15d",
            date(2027, 10, 16),
        ),
        (True, [SeriousnessCriterion.HOSPITALIZATION], None, None),
    ],
)
def test_serious_adverse_events_get_their_statutory_deadline(
    expected: bool, criteria: list, rule: str | None, due: date | None
) -> None:
    found = followup.adverse_event_deadline(
        RULES, seriousness=Seriousness.SERIOUS, expected=expected, criteria=criteria
    )
    assert (found.code if found else None) == rule
    assert (found.due_on(date(2027, 10, 1)) if found else None) == due


def test_non_serious_events_need_no_expedited_report_and_no_criteria() -> None:
    assert (
        followup.adverse_event_deadline(
            RULES, seriousness=Seriousness.NON_SERIOUS, expected=False, criteria=[]
        )
        is None
    )
    with pytest.raises(ValueError, match="at least one"):
        followup.check_seriousness(Seriousness.SERIOUS, [])
    with pytest.raises(ValueError, match="no seriousness criteria"):
        followup.check_seriousness(Seriousness.NON_SERIOUS, [SeriousnessCriterion.DEATH])


def test_trial_deadlines_and_month_arithmetic() -> None:
    [periodic] = followup.trial_deadlines(RULES, "trial-started")
    assert periodic.due_on(date(2027, 6, 1)) == date(2028, 8, 1)
    assert followup.add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert followup.add_months(date(2027, 11, 15), 3) == date(2028, 2, 15)
    [stop] = followup.trial_deadlines(RULES, "trial-stopped")
    assert stop.due_on(date(2027, 12, 25)) == date(2028, 1, 4)


def test_a_trial_starts_once_and_stops_with_a_reason() -> None:
    assert (
        followup.start_trial(S.SELECTED, StudyStatus.NOT_YET_RECRUITING, started=False)
        is S.TRIAL_STARTED
    )
    assert (
        followup.start_trial(S.DATA_COLLECTION, StudyStatus.APPROVED, started=False)
        is S.DATA_COLLECTION
    )
    with pytest.raises(followup.RuleViolation, match="already started"):
        followup.start_trial(S.TRIAL_STARTED, StudyStatus.RECRUITING, started=True)
    with pytest.raises(followup.RuleViolation, match="start the trial"):
        followup.change_status(
            StudyStatus.APPROVED, StudyStatus.RECRUITING, started=False, reason=None
        )
    with pytest.raises(followup.RuleViolation, match="needs a reason"):
        followup.change_status(
            StudyStatus.RECRUITING, StudyStatus.TERMINATED, started=True, reason=None
        )
    followup.change_status(
        StudyStatus.RECRUITING, StudyStatus.TERMINATED, started=True, reason="toxicity"
    )
    with pytest.raises(followup.RuleViolation, match="correcting a final status"):
        followup.change_status(
            StudyStatus.COMPLETED, StudyStatus.RECRUITING, started=True, reason=""
        )
    with pytest.raises(followup.RuleViolation, match="not a support target"):
        followup.may_register_trial(S.DECLINED, is_support_target=False)
