"""notify's reaction to every pipeline event: the read model, then the subscribers' share."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from services.notify.domain import Filters, is_urgent
from services.notify.tables import (
    CandidateState,
    DeliveryRow,
    NotificationRow,
    SubscriptionRow,
    TimelineEntry,
)
from shared.events import catalog
from shared.messaging.consumer import Handler, Reaction


async def record(reaction: Reaction) -> None:
    session, event = reaction.session, reaction.event
    data = event.data
    stage = data.get("stage") if isinstance(data.get("stage"), dict) else None
    urgent = is_urgent(event.type, data)
    session.add(
        TimelineEntry(
            event_id=event.id,
            candidate_id=event.subject,
            source=event.source.removeprefix("/services/"),
            event_type=event.type,
            sequence=event.sequence,
            occurred_at=event.time,
            stage_previous=stage["previous"] if stage else None,
            stage_current=stage["current"] if stage else None,
            urgent=urgent,
            data=data,
        )
    )
    state = await session.get(CandidateState, event.subject, with_for_update=True)
    if state is None:
        state = CandidateState(candidate_id=event.subject, stages_reached=[])
        session.add(state)
    if isinstance(data.get("candidate"), dict):
        snapshot = data["candidate"]
        state.name = snapshot.get("name")
        state.modality = snapshot.get("modality")
        state.disease_class = snapshot.get("disease_class")
        state.registered_by = snapshot.get("registered_by")
    if stage and (state.stage_time is None or event.time >= state.stage_time):
        state.stage, state.stage_time = stage["current"], event.time
    if stage and stage["current"] not in state.stages_reached:
        state.stages_reached = [*state.stages_reached, stage["current"]]
    await session.flush()

    active = await session.execute(
        select(SubscriptionRow).where(SubscriptionRow.status == "active").with_for_update()
    )
    now = datetime.now(UTC)
    for subscription in active.scalars():
        wanted = Filters.of(subscription.filters).matches(
            event_type=event.type,
            candidate_id=event.subject,
            stage_current=stage["current"] if stage else None,
            urgent=urgent,
            modality=state.modality,
            disease_class=state.disease_class,
        )
        if not wanted:
            continue
        subscription.events_since_start += 1
        number = subscription.events_since_start
        session.add(
            NotificationRow(
                subscription_id=subscription.subscription_id,
                event_number=number,
                event_id=event.id,
                created_at=now,
            )
        )
        held = subscription.digest and not urgent  # urgent news never waits for a digest
        session.add(
            DeliveryRow(
                delivery_id=f"msg_{uuid.uuid4().hex}",
                subscription_id=subscription.subscription_id,
                event_number=number,
                status="held" if held else "pending",
                attempts=0,
                next_attempt_at=None if held else now,
                created_at=now,
            )
        )


HANDLERS: dict[str, Handler] = dict.fromkeys(catalog(), record)
