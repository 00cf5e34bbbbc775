"""The candidate's program stage: one state machine, each transition checked where it happens.

surveyed -> shortlisted -> selected -> trial-started -> data-collection ->
social-implementation; declined, discontinued and withdrawn end the path. A corrected
support decision may turn declined into selected and back, before any trial starts.
"""

from shared.events.codes import ProgramStage as S

ENDED = frozenset({S.DECLINED, S.DISCONTINUED, S.WITHDRAWN})

TRANSITIONS: dict[S | None, frozenset[S]] = {
    None: frozenset({S.SURVEYED}),
    S.SURVEYED: frozenset({S.SHORTLISTED, S.DECLINED, S.WITHDRAWN}),
    S.SHORTLISTED: frozenset({S.SELECTED, S.DECLINED, S.WITHDRAWN}),
    S.SELECTED: frozenset({S.TRIAL_STARTED, S.DECLINED, S.DISCONTINUED, S.WITHDRAWN}),
    S.TRIAL_STARTED: frozenset({S.DATA_COLLECTION, S.DISCONTINUED, S.WITHDRAWN}),
    S.DATA_COLLECTION: frozenset({S.SOCIAL_IMPLEMENTATION, S.DISCONTINUED, S.WITHDRAWN}),
    S.SOCIAL_IMPLEMENTATION: frozenset({S.DISCONTINUED, S.WITHDRAWN}),
    S.DECLINED: frozenset({S.SELECTED}),  # only through a corrected decision
    S.DISCONTINUED: frozenset(),
    S.WITHDRAWN: frozenset(),
}


class StageConflict(Exception):
    """A stage move the program does not allow; the message says why."""


def check_transition(previous: S | None, current: S) -> None:
    if current not in TRANSITIONS[previous]:
        allowed = ", ".join(sorted(TRANSITIONS[previous])) or "none (the path has ended)"
        raise StageConflict(
            f"a candidate at stage {previous or 'unregistered'} cannot move to {current}; "
            f"allowed next: {allowed}"
        )
