"""evaluation's reactions to intake's events: its own projection of the candidates."""

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.evaluation.tables import CandidateView
from shared.events.codes import ProgramStage
from shared.events.intake import (
    Candidate,
    CandidateRegistered,
    CandidateUpdated,
    CandidateWithdrawn,
)
from shared.messaging.consumer import Handler, Reaction


async def _apply_snapshot(session: AsyncSession, candidate: Candidate) -> None:
    view = await session.get(CandidateView, candidate.candidate_id, with_for_update=True)
    if view is None:
        view = CandidateView(
            candidate_id=candidate.candidate_id, stage=candidate.stage, intake_version=0
        )
        session.add(view)
    if candidate.version <= view.intake_version:
        return  # an older snapshot than the one applied: events of one topic may repeat
    view.name = candidate.name
    view.modality = candidate.modality
    view.disease_class = candidate.disease_class
    view.target_disease = candidate.target_disease
    view.registered_by = candidate.registered_by
    view.intake_version = candidate.version
    view.updated_at = datetime.now(UTC)


async def on_snapshot(reaction: Reaction) -> None:
    assert isinstance(reaction.payload, CandidateRegistered | CandidateUpdated)
    await _apply_snapshot(reaction.session, reaction.payload.candidate)


async def on_withdrawn(reaction: Reaction) -> None:
    session, candidate_id = reaction.session, reaction.payload.candidate_id
    view = await session.get(CandidateView, candidate_id, with_for_update=True)
    if view is None:
        # Withdrawn before its registration reached us: keep what we know, lose nothing.
        view = CandidateView(candidate_id=candidate_id, intake_version=0)
        session.add(view)
    view.stage = ProgramStage.WITHDRAWN
    view.updated_at = datetime.now(UTC)


HANDLERS: dict[str, Handler] = {
    CandidateRegistered.event_type(): on_snapshot,
    CandidateUpdated.event_type(): on_snapshot,
    CandidateWithdrawn.event_type(): on_withdrawn,
}
