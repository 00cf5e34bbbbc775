"""Choreography: services react to each other's events only, whatever their order or count."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer

from deploy.demo import EXAMPLES, prepare_committee, walk
from services.followup.tables import CandidateView
from shared.events import CloudEvent, EventPayload
from shared.events.evaluation import SupportDecided
from shared.events.followup import DeadlineOverdue, SupportTargetCreated
from shared.events.intake import CandidateRegistered
from shared.messaging.kafka import make_producer
from tests.examples import cystic_fibrosis
from tests.identities import Identities
from tests.integration.conftest import RunningService, System, run_service, service_settings
from tests.support import header, read_topic, wait_until

pytestmark = pytest.mark.integration


def _event(source: str, payload: EventPayload, sequence: int) -> CloudEvent:
    return CloudEvent(
        source=f"/services/{source}",
        type=payload.event_type(),
        subject=payload.candidate_id,
        sequence=sequence,
        data=payload.model_dump(mode="json"),
    )


async def _send(producer: AIOKafkaProducer, prefix: str, event: CloudEvent) -> None:
    producer_name = event.source.removeprefix("/services/")
    await producer.send_and_wait(
        f"{prefix}pipeline.{producer_name}.v1",
        value=event.kafka_value(),
        key=event.kafka_key(),
        headers=event.kafka_headers(),
    )


async def test_a_decision_before_the_registration_and_twice_creates_one_support_target(
    new_database, kafka_bootstrap: str, topic_prefix: str, identities: Identities
) -> None:
    settings = service_settings(
        "followup", await new_database(), kafka_bootstrap, topic_prefix, identities
    )
    decided = _event(
        "evaluation",
        SupportDecided(
            candidate_id="cand-late",
            decision_id="dec-1",
            decision="selected",
            rationale="選定",
            conditions=["年次報告"],
            decided_on="2027-03-10",
            stage={"previous": "shortlisted", "current": "selected"},
        ),
        sequence=3,
    )
    registered = _event(
        "intake",
        CandidateRegistered(
            candidate_id="cand-late",
            candidate={
                **cystic_fibrosis(),
                "candidate_id": "cand-late",
                "registered_by": "ncchd",
                "stage": "surveyed",
                "version": 1,
            },
            stage={"previous": None, "current": "surveyed"},
        ),
        sequence=1,
    )
    producer = make_producer(kafka_bootstrap)
    await producer.start()
    try:
        async with run_service(settings, identities) as followup:
            await _send(producer, topic_prefix, decided)  # heard of before its registration
            await _send(producer, topic_prefix, decided)  # and delivered twice
            await wait_until(lambda: _stage_is(followup, "cand-late", "selected"))
            await _send(producer, topic_prefix, registered)  # the late registration
            await wait_until(lambda: _registered_by(followup, "cand-late", "ncchd"))

            view = await _view(followup, "cand-late")
            assert view.stage == "selected"  # the older news did not move it back
            assert view.conditions == ["年次報告"]
            target = await followup.client.get("/support-targets/cand-late")
            assert target.status_code == 200  # now scoped to the registering partner
            await wait_until(lambda: _published(followup))
    finally:
        await producer.stop()
    created = [
        record
        for record in await read_topic(
            kafka_bootstrap, f"{topic_prefix}pipeline.followup.v1", expected=1
        )
        if header(record, "ce_type") == SupportTargetCreated.event_type()
    ]
    assert len(created) == 1
    assert header(created[0], "ce_causationid") == decided.id


async def _view(service: RunningService, candidate_id: str) -> CandidateView:
    async with service.runtime.db.sessions() as session:
        view = await session.get(CandidateView, candidate_id)
    assert view is not None
    return view


async def _stage_is(service: RunningService, candidate_id: str, stage: str) -> bool:
    async with service.runtime.db.sessions() as session:
        view = await session.get(CandidateView, candidate_id)
    return view is not None and view.stage == stage


async def _registered_by(service: RunningService, candidate_id: str, institution: str) -> bool:
    return (await _view(service, candidate_id)).registered_by == institution


async def _published(service: RunningService) -> bool:
    return await service.pending_events() == 0


async def test_overdue_reports_are_announced_once(system: System) -> None:
    p = system.pipeline
    candidate_id, _ = await walk(p, EXAMPLES[0], await prepare_committee(p))
    owed = (
        await p.followup.get(
            "/obligations", params={"candidate_id": candidate_id}, headers=p.partner
        )
    ).json()
    assert {item["rule_code"] for item in owed} == {"periodic-report", "final-summary-report"}

    operator = system.followup.as_("operator")
    scan = await p.followup.post(
        "/deadlines/scan", params={"as_of": "2031-01-01"}, headers=operator
    )
    assert sorted(scan.json()["announced"]) == sorted(item["obligation_id"] for item in owed)
    again = await p.followup.post(
        "/deadlines/scan", params={"as_of": "2031-02-01"}, headers=operator
    )
    assert again.json()["announced"] == []

    await wait_until(lambda: _published(system.followup))
    overdue = [
        record
        for record in await read_topic(
            system.bootstrap, f"{system.prefix}pipeline.followup.v1", expected=12
        )
        if header(record, "ce_type") == DeadlineOverdue.event_type()
    ]
    assert len(overdue) == 2
    assert {record.key.decode() for record in overdue} == {candidate_id}


async def test_operators_list_dead_letters_and_redrive_them_once(
    new_database, kafka_bootstrap: str, topic_prefix: str, identities: Identities
) -> None:
    settings = service_settings(
        "evaluation", await new_database(), kafka_bootstrap, topic_prefix, identities
    )
    registration = _event(
        "intake",
        CandidateRegistered(
            candidate_id="cand-dead",
            candidate={
                **cystic_fibrosis(),
                "candidate_id": "cand-dead",
                "registered_by": "ncchd",
                "stage": "surveyed",
                "version": 1,
            },
            stage={"previous": None, "current": "surveyed"},
        ),
        sequence=1,
    )
    intake_topic = f"{topic_prefix}pipeline.intake.v1"
    dead_letters = f"{topic_prefix}pipeline.evaluation.dlq"
    producer = make_producer(kafka_bootstrap)
    await producer.start()
    try:
        async with run_service(settings, identities) as evaluation:
            operator = evaluation.as_("operator")
            await producer.send_and_wait(intake_topic, value=b"{broken", key=b"cand-broken")
            # As the consumer leaves a valid event whose retries ran out during an outage:
            await producer.send_and_wait(
                dead_letters,
                value=registration.kafka_value(),
                key=registration.kafka_key(),
                headers=[
                    *registration.kafka_headers(),
                    ("dlq_reason", b"gave up after 5 attempts: OperationalError"),
                    ("dlq_original_topic", intake_topic.encode()),
                    ("dlq_original_offset", b"7"),
                ],
            )

            async def listed(count: int) -> bool:
                reply = await evaluation.client.get("/dead-letters", headers=operator)
                return len(reply.json()) == count

            await wait_until(lambda: listed(2), what="both dead letters")
            letters = {
                letter["key"]: letter
                for letter in (
                    await evaluation.client.get("/dead-letters", headers=operator)
                ).json()
            }
            assert set(letters) == {"cand-broken", "cand-dead"}
            assert "invalid envelope" in letters["cand-broken"]["reason"]
            assert letters["cand-dead"]["event_type"] == CandidateRegistered.event_type()
            partner = await evaluation.client.get("/dead-letters")
            assert partner.status_code == 403

            redriven = await evaluation.client.post("/dead-letters/redrive", headers=operator)
            assert {letter["key"] for letter in redriven.json()["redriven"]} == {
                "cand-broken",
                "cand-dead",
            }

            async def applied() -> bool:
                reply = await evaluation.client.get(
                    "/candidates/cand-dead", headers=evaluation.as_("secretariat")
                )
                return reply.status_code == 200

            await wait_until(applied, what="the re-driven event to be applied")
            # The broken record is still broken: it comes back, and only it is re-driven next.
            await wait_until(lambda: listed(3), what="the broken record to return")
            again = await evaluation.client.post("/dead-letters/redrive", headers=operator)
            assert [letter["key"] for letter in again.json()["redriven"]] == ["cand-broken"]
    finally:
        await producer.stop()
