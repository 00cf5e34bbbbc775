"""followup's reactions to intake's and evaluation's events."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.followup.tables import CandidateView, TrialRow
from shared.events.codes import ProgramStage, SupportDecision
from shared.events.evaluation import SupportDecided, SupportDecisionCorrected
from shared.events.followup import SupportTargetCreated
from shared.events.intake import CandidateRegistered, CandidateUpdated, CandidateWithdrawn
from shared.messaging.consumer import Handler, PermanentEventError, Reaction

# How far along a candidate is, so that a late event never moves it back.
_PROGRESS = {
    None: 0,
    ProgramStage.SURVEYED: 1,
    ProgramStage.SHORTLISTED: 2,
    ProgramStage.SELECTED: 3,
    ProgramStage.DECLINED: 3,
}


async def _view(session: AsyncSession, candidate_id: str) -> CandidateView:
    view = await session.get(CandidateView, candidate_id, with_for_update=True)
    if view is None:
        # Events from different topics arrive in any order; whichever comes first creates it.
        view = CandidateView(candidate_id=candidate_id, conditions=[], intake_version=0)
        session.add(view)
    view.updated_at = datetime.now(UTC)
    return view


def _advance(view: CandidateView, stage: ProgramStage) -> None:
    known = ProgramStage(view.stage) if view.stage else None
    if known in _PROGRESS and _PROGRESS[stage] >= _PROGRESS[known]:
        view.stage = stage


async def on_snapshot(reaction: Reaction) -> None:
    assert isinstance(reaction.payload, CandidateRegistered | CandidateUpdated)
    candidate = reaction.payload.candidate
    view = await _view(reaction.session, candidate.candidate_id)
    if candidate.version > view.intake_version:
        view.name = candidate.name
        view.registered_by = candidate.registered_by
        view.intake_version = candidate.version
        _advance(view, ProgramStage.SURVEYED)


async def on_withdrawn(reaction: Reaction) -> None:
    view = await _view(reaction.session, reaction.payload.candidate_id)
    view.stage = ProgramStage.WITHDRAWN


async def on_decision(reaction: Reaction) -> None:
    payload = reaction.payload
    assert isinstance(payload, SupportDecided | SupportDecisionCorrected)
    view = await _view(reaction.session, payload.candidate_id)
    view.decision_id = payload.decision_id
    if payload.decision is SupportDecision.SELECTED:
        view.conditions = list(payload.conditions)
        if view.support_target_id is None:
            view.support_target_id = str(uuid.uuid4())
            await reaction.publish(
                SupportTargetCreated(
                    candidate_id=payload.candidate_id,
                    support_target_id=view.support_target_id,
                    decision_id=payload.decision_id,
                )
            )
        _advance(view, ProgramStage.SELECTED)
    elif payload.decision is SupportDecision.NOT_SELECTED:
        trials = await reaction.session.execute(
            select(func.count())
            .select_from(TrialRow)
            .where(TrialRow.candidate_id == payload.candidate_id)
        )
        if trials.scalar_one():
            raise PermanentEventError(
                "the decision was corrected to not-selected, but the candidate has trials; "
                "discontinue it in followup first"
            )
        view.support_target_id = None
        view.stage = ProgramStage.DECLINED
    else:
        _advance(view, ProgramStage.SHORTLISTED)


HANDLERS: dict[str, Handler] = {
    CandidateRegistered.event_type(): on_snapshot,
    CandidateUpdated.event_type(): on_snapshot,
    CandidateWithdrawn.event_type(): on_withdrawn,
    SupportDecided.event_type(): on_decision,
    SupportDecisionCorrected.event_type(): on_decision,
}
