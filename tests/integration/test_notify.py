"""notify on the whole running system: subscriptions, signed webhooks, the read model."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook

from deploy.demo import EXAMPLES, prepare_committee, walk
from shared.events import CloudEvent
from shared.events.followup import TrialStarted
from shared.messaging.kafka import make_producer
from tests.conftest import CollectedMail
from tests.identities import Identities
from tests.integration.conftest import System, run_service, service_settings
from tests.integration.processes import ServiceProcess
from tests.receiver import Receiver, running_receiver
from tests.support import wait_until

pytestmark = pytest.mark.integration


async def _subscribe(system: System, receiver: Receiver, **filters: Any) -> dict[str, Any]:
    reply = await system.notify.client.post(
        "/subscriptions",
        json={"endpoint": receiver.url(), "filters": filters},
        headers=system.notify.as_("ministry"),
    )
    assert reply.status_code == 201, reply.text
    return reply.json()


async def _events_about(system: System, candidate_id: str) -> int:
    """How many events the producing services wrote about a candidate (their outboxes)."""
    total = 0
    for service in (system.intake, system.evaluation, system.followup):
        outbox = service.runtime.tables.outbox
        async with service.runtime.db.sessions() as session:
            total += (
                await session.execute(
                    select(func.count()).select_from(outbox).where(outbox.c.subject == candidate_id)
                )
            ).scalar_one()
    return total


async def _until_received(receiver: Receiver, count: int) -> None:
    async def arrived() -> bool:
        return len(receiver.notifications()) >= count

    await wait_until(arrived, timeout_s=30, what=f"{count} notifications")


async def test_a_stage_change_reaches_a_webhook_signed_per_standard_webhooks(
    system: System,
) -> None:
    async with running_receiver() as receiver:
        subscription = await _subscribe(system, receiver, stages=["trial-started"])
        assert subscription["status"] == "active"
        handshake = receiver.received[0]
        assert handshake.json == {
            "type": "handshake",
            "subscription_id": subscription["subscription_id"],
        }
        verifier = Webhook(subscription["secret"])
        verifier.verify(handshake.body, handshake.headers)

        candidate_id, _ = await walk(
            system.pipeline, EXAMPLES[0], await prepare_committee(system.pipeline)
        )
        await _until_received(receiver, 1)
        [notification] = receiver.notifications()
        payload = verifier.verify(notification.body, notification.headers)
        assert payload["event"]["type"] == TrialStarted.event_type()
        assert payload["event"]["subject"] == candidate_id
        assert payload["event"]["data"]["stage"] == {
            "previous": "selected",
            "current": "trial-started",
        }
        assert payload["event_number"] == 1
        assert notification.headers["webhook-id"].startswith("msg_")

        forged = dict(notification.headers, **{"webhook-signature": "v1,AAAA"})
        with pytest.raises(Exception, match="signature"):
            verifier.verify(notification.body, forged)


async def test_a_failing_receiver_gets_the_delivery_on_the_fourth_attempt(system: System) -> None:
    async with running_receiver() as receiver:
        subscription = await _subscribe(system, receiver, stages=["selected"])
        receiver.answers = [500, 503, 500]  # the next three calls fail
        await walk(system.pipeline, EXAMPLES[1], await prepare_committee(system.pipeline))
        await _until_received(receiver, 4)
        ids = {item.headers["webhook-id"] for item in receiver.notifications()}
        assert len(ids) == 1  # one delivery, attempted four times: receivers de-duplicate on it
        log = (
            await system.notify.client.get(
                f"/subscriptions/{subscription['subscription_id']}/deliveries",
                headers=system.notify.as_("ministry"),
            )
        ).json()
        [delivery] = log
        assert delivery["status"] == "delivered"
        assert [attempt["status_code"] for attempt in delivery["attempts"]] == [500, 503, 500, 200]


async def test_filters_hold_numbers_are_contiguous_and_missed_events_are_returned(
    system: System,
) -> None:
    async with running_receiver() as declined_only, running_receiver() as everything_urgent_or_not:
        declined = await _subscribe(system, declined_only, stages=["declined"])
        everything = await _subscribe(system, everything_urgent_or_not)
        meeting = await prepare_committee(system.pipeline)
        candidate_id, _ = await walk(system.pipeline, EXAMPLES[0], meeting)
        await system.published()

        expected = await _events_about(system, candidate_id)

        async def timeline_complete() -> bool:
            timeline = await system.notify.client.get(
                f"/candidates/{candidate_id}/timeline", headers=system.notify.as_("ministry")
            )
            return len(timeline.json()["events"]) == expected

        await wait_until(timeline_complete, what="notify to receive every event")
        await _until_received(everything_urgent_or_not, expected)
        numbers = sorted(
            item.json["event_number"] for item in everything_urgent_or_not.notifications()
        )
        assert numbers == list(range(1, expected + 1))
        assert declined_only.notifications() == []  # nothing of another stage

        missed = (
            await system.notify.client.get(
                f"/subscriptions/{everything['subscription_id']}/events",
                params={"since": 5},
                headers=system.notify.as_("ministry"),
            )
        ).json()
        assert [item["event_number"] for item in missed] == list(range(6, expected + 1))
        by_number = {
            item.json["event_number"]: item.json["event"]["id"]
            for item in everything_urgent_or_not.notifications()
        }
        assert all(by_number[item["event_number"]] == item["event"]["id"] for item in missed)
        assert declined["events_since_start"] == 0


async def test_a_receiver_that_answers_410_turns_its_subscription_off(system: System) -> None:
    async with running_receiver() as receiver:
        subscription = await _subscribe(system, receiver, stages=["shortlisted"])
        receiver.answers = [410]
        await walk(system.pipeline, EXAMPLES[2], await prepare_committee(system.pipeline))
        await _until_received(receiver, 1)

        async def off() -> bool:
            reply = await system.notify.client.get(
                f"/subscriptions/{subscription['subscription_id']}",
                headers=system.notify.as_("ministry"),
            )
            return reply.json()["status"] == "off"

        await wait_until(off, what="the subscription to be turned off")


async def test_bad_subscriptions_are_refused_at_subscription_time(system: System) -> None:
    ministry = system.notify.as_("ministry")
    async with running_receiver() as receiver:
        cases = {
            "unknown event type": {
                "endpoint": receiver.url(),
                "filters": {"event_types": ["x.v1"]},
            },
            "unknown stage": {"endpoint": receiver.url(), "filters": {"stages": ["finished"]}},
            "not a URL": {"endpoint": "mailto:someone"},
            "host not allowed": {"endpoint": "https://example.org/hook"},
            "unreachable": {"endpoint": "http://127.0.0.1:9/hook"},
        }
        for case, body in cases.items():
            reply = await system.notify.client.post("/subscriptions", json=body, headers=ministry)
            assert reply.status_code == 422, case
            assert reply.json()["errors"], case
        receiver.answers = [500]
        refused = await system.notify.client.post(
            "/subscriptions", json={"endpoint": receiver.url()}, headers=ministry
        )
        assert refused.status_code == 422
        assert "handshake" in refused.json()["detail"]
    listed = (await system.notify.client.get("/subscriptions", headers=ministry)).json()
    assert listed == []


async def test_timeline_and_funnel_agree_with_the_other_services(system: System) -> None:
    p = system.pipeline
    meeting = await prepare_committee(p)
    walked = [await walk(p, example, meeting) for example in EXAMPLES]
    await system.published()

    async def caught_up() -> bool:
        funnel = (
            await system.notify.client.get("/funnel", headers=system.notify.as_("ministry"))
        ).json()
        return (
            funnel["candidates"] == 3
            and funnel["reached"]["declined"] == 1
            and (funnel["reached"]["social-implementation"] == 2)
        )

    await wait_until(caught_up, what="notify to see every event")
    funnel = (
        await system.notify.client.get("/funnel", headers=system.notify.as_("ministry"))
    ).json()
    assert funnel["reached"] == {
        "surveyed": 3,
        "shortlisted": 3,
        "selected": 2,
        "trial-started": 2,
        "data-collection": 2,
        "social-implementation": 2,
        "declined": 1,
        "discontinued": 0,
        "withdrawn": 0,
    }
    assert funnel["by"]["disease_class"]["peacetime-absent-infection"]["declined"] == 1
    assert funnel["by"]["modality"]["in-vivo-gene-therapy"]["social-implementation"] == 1

    for candidate_id, stage in walked:
        timeline = (
            await system.notify.client.get(
                f"/candidates/{candidate_id}/timeline", headers=system.notify.as_("ministry")
            )
        ).json()
        assert timeline["stage"] == stage
        evaluation = (
            await system.evaluation.client.get(f"/candidates/{candidate_id}", headers=p.secretariat)
        ).json()
        assert evaluation["decision"] in {"selected", "not-selected"}
        sources = {event["source"] for event in timeline["events"]}
        assert sources <= {"/services/intake", "/services/evaluation", "/services/followup"}
    other = await system.notify.client.get(
        f"/candidates/{walked[0][0]}/timeline", headers=system.notify.as_("other-partner")
    )
    assert other.status_code == 404


async def test_a_delivery_pending_across_a_restart_of_notify_arrives_once(
    new_database: Callable[[], Awaitable[str]],
    kafka_bootstrap: str,
    topic_prefix: str,
    identities: Identities,
) -> None:
    notify = ServiceProcess(
        "notify",
        "all",
        await new_database(),
        kafka_bootstrap,
        topic_prefix,
        identities,
        extra_environment={
            "NOTIFY_DELIVERY_RETRY_SECONDS": "[1, 1, 1, 1, 1, 1]",
            "NOTIFY_DELIVERY_POLL_SECONDS": "0.2",
        },
    )
    started = TrialStarted(
        candidate_id="cand-restart",
        trial_id="trial-1",
        started_on="2027-06-01",
        status="recruiting",
        stage={"previous": "selected", "current": "trial-started"},
    )
    event = CloudEvent(
        source="/services/followup",
        type=started.event_type(),
        subject="cand-restart",
        sequence=3,
        data=started.model_dump(mode="json"),
    )
    async with running_receiver() as receiver:
        await notify.start()
        try:
            async with httpx.AsyncClient(base_url=notify.base_url) as client:
                reply = await client.post(
                    "/subscriptions",
                    json={"endpoint": receiver.url()},
                    headers=identities.headers("ministry"),
                )
                assert reply.status_code == 201, reply.text
            receiver.answers = [503, 503]
            producer = make_producer(kafka_bootstrap)
            await producer.start()
            try:
                await producer.send_and_wait(
                    f"{topic_prefix}pipeline.followup.v1",
                    value=event.kafka_value(),
                    key=event.kafka_key(),
                    headers=event.kafka_headers(),
                )
            finally:
                await producer.stop()
            await _until_received(receiver, 1)  # the first attempt failed
            await notify.stop()  # in the middle of the retries
            await notify.start()
            await _until_received(receiver, 3)
        finally:
            await notify.stop()
    attempts = receiver.notifications()
    assert len({item.headers["webhook-id"] for item in attempts}) == 1
    assert len(attempts) == 3  # 503, 503, then accepted: delivered once, never again


async def test_an_email_arrives_in_the_subscribers_language(
    system: System, smtp_server: tuple[int, CollectedMail]
) -> None:
    _, mailbox = smtp_server
    mailbox.messages.clear()
    ministry = system.notify.as_("ministry")
    for address, language, stage in [
        ("kenkyu@mhlw.example.jp", "ja", "selected"),
        ("liaison@mhlw.example.jp", "en", "declined"),
    ]:
        reply = await system.notify.client.post(
            "/subscriptions",
            json={
                "channel": "email",
                "endpoint": address,
                "language": language,
                "filters": {"stages": [stage]},
            },
            headers=ministry,
        )
        assert reply.status_code == 201, reply.text
    meeting = await prepare_committee(system.pipeline)
    await walk(system.pipeline, EXAMPLES[1], meeting)  # selected
    await walk(system.pipeline, EXAMPLES[2], meeting)  # declined

    async def both_arrived() -> bool:
        return len(mailbox.messages) >= 2

    await wait_until(both_arrived, timeout_s=30, what="two e-mails")
    by_recipient = {message["To"]: message for message in mailbox.messages}
    japanese = by_recipient["kenkyu@mhlw.example.jp"]
    assert japanese["Subject"] == (
        "【未承認薬等アクセス確保事業】AAV in vivo gene therapy for AADC deficiency: "
        "支援候補 → 支援対象"
    )
    assert "候補ID:" in japanese.get_content()
    english = by_recipient["liaison@mhlw.example.jp"]
    assert english["Subject"] == (
        "[Access program] SYNTHETIC DEMO antiviral (not a real product): shortlisted -> declined"
    )
    bad = await system.notify.client.post(
        "/subscriptions", json={"channel": "email", "endpoint": "not-an-address"}, headers=ministry
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "endpoint"


def _server_sent_events(text: str) -> list[dict[str, str]]:
    events = []
    for block in text.split("\n\n"):
        fields = dict(
            line.split(": ", 1)
            for line in block.splitlines()
            if ": " in line and not line.startswith(":")
        )
        if "data" in fields:
            events.append(fields)
    return events


async def test_the_live_stream_shows_events_as_they_happen_and_resumes(system: System) -> None:
    ministry = system.notify.as_("ministry")

    async def listen(**params: str) -> str:
        reply = await system.notify.client.get(
            "/stream", params={"close_after": "4", **params}, headers=ministry
        )
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/event-stream")
        return reply.text

    listening = asyncio.create_task(listen(stages="declined"))
    await asyncio.sleep(0.5)
    candidate_id, _ = await walk(
        system.pipeline, EXAMPLES[2], await prepare_committee(system.pipeline)
    )
    events = _server_sent_events(await listening)
    assert [event["event"] for event in events] == [
        "jp.mhlw.accessprogram.evaluation.support.decided.v1"
    ]
    decided = json.loads(events[0]["data"])
    assert decided["subject"] == candidate_id
    assert decided["data"]["stage"]["current"] == "declined"

    # A dashboard that lost its connection resumes after the last id it saw.
    await system.published()
    everything = _server_sent_events(await listen(**{"close_after": "1"}))
    assert everything == []  # nothing new since the stream opened
    resumed = await system.notify.client.get(
        "/stream",
        params={"close_after": "1"},
        headers={**ministry, "Last-Event-ID": str(int(events[0]["id"]) - 1)},
    )
    replayed = _server_sent_events(resumed.text)
    assert replayed[0]["id"] == events[0]["id"]


async def test_quiet_webhooks_get_signed_heartbeats(system: System) -> None:
    async with running_receiver() as receiver:
        subscription = await system.notify.client.post(
            "/subscriptions",
            json={
                "endpoint": receiver.url(),
                "heartbeat_seconds": 1,
                "filters": {"stages": ["withdrawn"]},
            },
            headers=system.notify.as_("ministry"),
        )
        created = subscription.json()

        async def heartbeat() -> bool:
            return any(item.json.get("type") == "heartbeat" for item in receiver.received)

        await wait_until(heartbeat, timeout_s=10, what="a heartbeat")
        beat = next(item for item in receiver.received if item.json.get("type") == "heartbeat")
        assert Webhook(created["secret"]).verify(beat.body, beat.headers) == {
            "type": "heartbeat",
            "subscription_id": created["subscription_id"],
            "events_since_subscription_start": 0,
        }


async def test_a_digest_bundles_routine_events_but_urgent_ones_go_at_once(
    system: System,
) -> None:
    p = system.pipeline
    async with running_receiver() as receiver:
        digest = await system.notify.client.post(
            "/subscriptions",
            json={"endpoint": receiver.url("/digest"), "digest": True},
            headers=system.notify.as_("ministry"),
        )
        assert digest.json()["digest"] is True
        candidate_id, _ = await walk(p, EXAMPLES[0], await prepare_committee(p))
        target = (
            await p.followup.get(f"/support-targets/{candidate_id}", headers=p.partner)
        ).json()
        serious = await p.followup.post(
            f"/trials/{target['trial_ids'][0]}/adverse-events",
            json={
                "meddra_term": "Seizure",
                "seriousness": "serious",
                "seriousness_criteria": ["SeriousResultsInHospitalization"],
                "causality": "possible",
                "expected": False,
                "outcome": "recovering",
                "onset_on": "2027-10-01",
                "reported_on": "2027-10-02",
            },
            headers=p.partner,
        )
        assert serious.status_code == 201
        expected = await _events_about(system, candidate_id)

        def to_digest() -> list:
            return [
                item
                for item in receiver.received
                if item.headers.get("host")
                and item.json.get("type") in {"digest", "event-notification"}
                and item.json["subscription_id"] == digest.json()["subscription_id"]
            ]

        async def all_there() -> bool:
            numbers = set()
            for item in to_digest():
                if item.json["type"] == "digest":
                    numbers |= {event["event_number"] for event in item.json["events"]}
                else:
                    numbers.add(item.json["event_number"])
            return len(numbers) >= expected

        await wait_until(all_there, timeout_s=30, what="every event, bundled or urgent")
        urgent = [item for item in to_digest() if item.json["type"] == "event-notification"]
        assert [item.json["event"]["type"] for item in urgent] == [
            "jp.mhlw.accessprogram.followup.adverse-event.reported.v1"
        ]
        assert urgent[0].json["urgent"] is True
        bundles = [item for item in to_digest() if item.json["type"] == "digest"]
        assert bundles, "routine events came as digests"
        assert all(len(bundle.json["events"]) >= 1 for bundle in bundles)
        assert not any(
            event["event"]["urgent"] for bundle in bundles for event in bundle.json["events"]
        )


async def test_secret_rotation_overlaps_and_failed_deliveries_can_be_sent_again(
    system: System,
) -> None:
    ministry = system.notify.as_("ministry")
    async with running_receiver() as receiver:
        created = await _subscribe(system, receiver, stages=["shortlisted"])
        path = f"/subscriptions/{created['subscription_id']}"
        rotated = (
            await system.notify.client.post(
                f"{path}/secret-rotation", json={"overlap_hours": 1}, headers=ministry
            )
        ).json()
        receiver.answers = [500] * 7  # the attempt and its 6 retries fail: error
        await walk(system.pipeline, EXAMPLES[2], await prepare_committee(system.pipeline))
        await _until_received(receiver, 7)

        async def erred() -> bool:
            reply = await system.notify.client.get(path, headers=ministry)
            return reply.json()["status"] == "error"

        await wait_until(erred, what="the subscription to go to error")
        first = receiver.notifications()[0]
        for secret in (created["secret"], rotated["secret"]):  # both verify during the overlap
            Webhook(secret).verify(first.body, first.headers)

        [delivery] = (await system.notify.client.get(f"{path}/deliveries", headers=ministry)).json()
        assert (delivery["status"], len(delivery["attempts"])) == ("failed", 7)
        await system.notify.client.post(
            f"{path}/status", json={"status": "active"}, headers=ministry
        )
        again = await system.notify.client.post(
            f"/deliveries/{delivery['delivery_id']}/redelivery", headers=ministry
        )
        assert again.json()["status"] == "pending"
        await _until_received(receiver, 8)
        [delivery] = (await system.notify.client.get(f"{path}/deliveries", headers=ministry)).json()
        assert delivery["status"] == "delivered"
        assert receiver.notifications()[-1].headers["webhook-id"] == delivery["delivery_id"]


async def test_production_refuses_webhooks_without_https(
    new_database: Callable[[], Awaitable[str]],
    kafka_bootstrap: str,
    topic_prefix: str,
    identities: Identities,
) -> None:
    settings = service_settings(
        "notify",
        await new_database(),
        kafka_bootstrap,
        topic_prefix,
        identities,
        environment="production",
        webhook_allowed_hosts=[],
    )
    async with run_service(settings, identities) as notify, running_receiver() as receiver:
        reply = await notify.client.post(
            "/subscriptions", json={"endpoint": receiver.url()}, headers=notify.as_("ministry")
        )
        assert reply.status_code == 422
        assert reply.json()["errors"][0] == {
            "field": "endpoint",
            "in": "body",
            "rule": "webhook-url",
            "message": "must use https",
        }
        assert receiver.received == []  # refused before any connection was made
